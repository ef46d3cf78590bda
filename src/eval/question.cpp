#include "eval/question.h"

#include <cctype>

#include "eval/graders.h"
#include "util/error.h"

namespace ds4::eval {

const char* const kSystemPrompt =
    "You are solving a hard benchmark question. Reason carefully. "
    "The final answer must follow the requested format exactly.";

const char* grader_name(GraderKind g) {
    switch (g) {
        case GraderKind::Integer: return "integer";
        case GraderKind::Choice: return "choice";
        case GraderKind::Lines: return "lines";
        case GraderKind::Code: return "code";
    }
    return "?";
}

GraderKind grader_for(std::string_view framework, std::string_view explicit_grader) {
    std::string_view g = explicit_grader.empty() ? framework : explicit_grader;
    if (g == "integer" || g == "aime") return GraderKind::Integer;
    if (g == "choice" || g == "letter" || g == "gpqa" || g == "supergpqa" || g == "mmlu-pro" || g == "mmlu_pro")
        return GraderKind::Choice;
    if (g == "lines" || g == "set" || g == "compsec") return GraderKind::Lines;
    if (g == "code" || g == "humaneval") return GraderKind::Code;
    if (explicit_grader.empty())
        fail("framework '%.*s' needs a \"grader\" (integer, choice, lines or code)", (int)g.size(), g.data());
    fail("unknown grader '%.*s' (integer, choice, lines or code)", (int)g.size(), g.data());
}

// The format requests are ds4's wording, so a model tuned on them sees the same text.
std::string user_prompt(const Question& q) {
    std::string b = q.prompt + "\n";
    switch (q.grader) {
        case GraderKind::Choice:
            b += "\nChoices:\n";
            for (size_t i = 0; i < q.choices.size(); i++) {
                b += (char)('A' + i);
                b += ". " + q.choices[i] + "\n";
            }
            b += "\nSolve the question. At the end, write exactly one final line in this format and "
                 "do not write anything after it:\nAnswer: <letter>";
            break;
        case GraderKind::Lines:
            b += "\nAt the end, write exactly one final line in this format and do not write anything "
                 "after it:\nAnswer: <line number or comma-separated line numbers>";
            break;
        case GraderKind::Integer:
            b += "\nSolve the problem. At the end, write exactly one final line in this format and do "
                 "not write anything after it:\nAnswer: <integer>";
            break;
        case GraderKind::Code:
            b = "Complete the following Python function. Reply with the complete function (including "
                "any imports it needs) in a single ```python code block.\n\n```python\n" + q.prompt;
            if (!q.prompt.empty() && q.prompt.back() != '\n') b += "\n";
            b += "```";
            break;
    }
    return b;
}

void validate(const Question& q) {
    auto bad = [&](const char* what) { fail("%s: %s", q.id.c_str(), what); };
    if (q.id.empty()) fail("question without id (prompt '%.40s')", q.prompt.c_str());
    if (q.prompt.empty()) bad("empty prompt");
    switch (q.grader) {
        case GraderKind::Choice:
            if (q.choices.size() < 2 || q.choices.size() > 10) bad("needs 2..10 choices");
            if (q.answer.size() != 1 || toupper((unsigned char)q.answer[0]) < 'A' ||
                toupper((unsigned char)q.answer[0]) >= 'A' + (int)q.choices.size())
                bad("answer is not one of the choice letters");
            break;
        case GraderKind::Integer:
            if (normalize_integer(q.answer).empty()) bad("answer is not an integer");
            break;
        case GraderKind::Lines:
            if (parse_line_set(q.answer).empty()) bad("answer is not a line spec like \"3,13-15\"");
            break;
        case GraderKind::Code:
            if (q.test.empty() || q.entry_point.empty()) bad("code question needs test and entry_point");
            break;
    }
}

}  // namespace ds4::eval
