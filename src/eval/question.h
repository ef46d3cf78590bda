// ds4-eval question model and the prompt built from it.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ds4::eval {

// How an answer is extracted and checked (see graders.h).
enum class GraderKind {
    Integer,  // one integer (AIME): "Answer: 42", \boxed{042}, "1,000"
    Choice,   // one option letter A..(A+n-1) (GPQA, SuperGPQA, MMLU-Pro)
    Lines,    // integer set / ranges (COMPSEC line numbers): every predicted value in the key
    Code,     // Python completion run against unit tests (HumanEval)
};

struct Question {
    std::string id;
    std::string framework;             // aime, gpqa, supergpqa, mmlu-pro, compsec, humaneval, or custom
    std::string prompt;                // the question text, without the answer-format instruction
    std::string answer;                // integer, letter, or line spec "3,13-15"; unused for code
    std::vector<std::string> choices;  // multiple choice only (at most 10: A..J)
    GraderKind grader = GraderKind::Integer;
    std::string test, entry_point;     // code only: test source defining check(), function name
};

const char* grader_name(GraderKind g);
// Grader of a framework; `explicit_grader` (integer|choice|lines|code, or a framework name)
// wins when non-empty. Throws Error for an unknown framework without an explicit grader.
GraderKind grader_for(std::string_view framework, std::string_view explicit_grader = {});

// ds4-eval's system prompt (verbatim from ds4 so scores stay comparable).
extern const char* const kSystemPrompt;

// User turn: the question, the lettered choices, and the one-line answer format request.
std::string user_prompt(const Question& q);

// Checks the fields a grader needs (choices present and answer a valid letter, integer
// answer parses, ...); throws Error("<id>: <problem>").
void validate(const Question& q);

// FNV-1a: a platform-independent hash for per-question seeds (choice shuffles, sampling),
// so a question behaves the same whichever subset of a set is run.
inline uint64_t stable_hash(std::string_view s) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

}  // namespace ds4::eval
