// ds4-eval answer extraction and grading.
//
// All graders read the visible answer: the text after the first `</think>`, or the whole
// output when there is none. Among several answer statements the LAST clear one wins
// ("Answer: X" / "the answer is X" / \boxed{X}), because models often restate or correct
// themselves; only when there is no statement do we fall back to the last bare
// letter/integer in the text, as ds4 does.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "eval/question.h"

namespace ds4::eval {

struct Grade {
    bool passed = false;
    std::string answer;   // extracted answer ("" = none found)
    std::string reason;   // "" when passed, else "no answer" | "wrong answer" | "truncated"
    std::string detail;   // extra context (code: test output tail / timeout)
};

std::string_view visible_text(std::string_view generated);

// "042" -> "42", "1,000" -> "1000", "-0" -> "0", " 7 " -> "7"; "" when s is not one integer.
std::string normalize_integer(std::string_view s);

// Extractors return "" when nothing usable is found.
std::string extract_integer(std::string_view visible);
std::string extract_choice(std::string_view visible, int n_choices);
std::string extract_lines(std::string_view visible);   // normalised spec: "9,13-15"

// Sorted, de-duplicated members of a spec like "3,13-15" (values 0..100000; ranges may be
// written a-b, a–b or reversed). Empty when the spec holds no number.
std::vector<int> parse_line_set(std::string_view spec);
// Every predicted value is in the expected set, and at least one is predicted.
bool lines_match(std::string_view expected, std::string_view got);

// Extracted answer for q's grader (not for Code).
std::string extract_answer(const Question& q, std::string_view generated);

// Grades a generation. `truncated`: generation stopped at its token limit (no EOS), which
// becomes the failure reason. Code questions run their tests in a sandboxed python3.
Grade grade(const Question& q, std::string_view generated, bool truncated, double code_timeout_s = 10.0);

}  // namespace ds4::eval
