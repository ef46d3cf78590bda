#include "eval/graders.h"

#include <gtest/gtest.h>

#include "eval/code_exec.h"
#include "util/error.h"

using namespace ds4::eval;

namespace {

Question mc(std::string answer, int n = 4) {
    Question q;
    q.id = "q";
    q.framework = "gpqa";
    q.grader = GraderKind::Choice;
    q.prompt = "?";
    q.answer = answer;
    for (int i = 0; i < n; i++) q.choices.push_back("c" + std::to_string(i));
    return q;
}

Question integer(std::string answer) {
    Question q;
    q.id = "q";
    q.framework = "aime";
    q.grader = GraderKind::Integer;
    q.prompt = "?";
    q.answer = answer;
    return q;
}

Question lines(std::string answer) {
    Question q = integer(answer);
    q.framework = "compsec";
    q.grader = GraderKind::Lines;
    return q;
}

}  // namespace

TEST(EvalGrader, VisibleTextAfterFirstThinkClose) {
    EXPECT_EQ(visible_text("abc</think>Answer: 5</think>x"), "Answer: 5</think>x");
    EXPECT_EQ(visible_text("no think"), "no think");
}

TEST(EvalGrader, NormalizeInteger) {
    EXPECT_EQ(normalize_integer("042"), "42");
    EXPECT_EQ(normalize_integer(" 1,000 "), "1000");
    EXPECT_EQ(normalize_integer("$7$"), "7");
    EXPECT_EQ(normalize_integer("12.0"), "12");
    EXPECT_EQ(normalize_integer("-0"), "0");
    EXPECT_EQ(normalize_integer("-15"), "-15");
    EXPECT_EQ(normalize_integer("000"), "0");
    EXPECT_EQ(normalize_integer("12.5"), "");
    EXPECT_EQ(normalize_integer("x"), "");
    EXPECT_EQ(normalize_integer(""), "");
}

TEST(EvalGrader, IntegerExtraction) {
    EXPECT_EQ(extract_integer("so the total is 17.\nAnswer: 204"), "204");
    EXPECT_EQ(extract_integer("The answer is $\\boxed{042}$."), "42");
    EXPECT_EQ(extract_integer("**Answer:** 1,000"), "1000");
    EXPECT_EQ(extract_integer("To answer this, note 3 cases.\nFinal: \\boxed{73}"), "73");  // last statement wins
    EXPECT_EQ(extract_integer("Answer: 12\nWait, I made an error. Answer: 13"), "13");
    EXPECT_EQ(extract_integer("we get 5, then 9"), "9");                                     // fallback: last integer
    EXPECT_EQ(extract_integer("Answer: \\boxed{\\frac{1}{2}}"), "1");                        // first number inside box
    EXPECT_EQ(extract_integer("Answer: 2.5 or 3"), "3");                                     // decimals are not integers
    EXPECT_EQ(extract_integer("no digits here"), "");
    EXPECT_EQ(extract_integer("Answer: -4"), "-4");
    EXPECT_EQ(extract_integer("range 3-5"), "5");  // '-' after a digit is not a sign
}

TEST(EvalGrader, IntegerGrade) {
    Grade g = grade(integer("070"), "thinking 12</think>The answer is 70.", false);
    EXPECT_TRUE(g.passed);
    EXPECT_EQ(g.answer, "70");
    EXPECT_EQ(g.reason, "");
    g = grade(integer("70"), "Answer: 71", false);
    EXPECT_FALSE(g.passed);
    EXPECT_EQ(g.reason, "wrong answer");
    g = grade(integer("70"), "I could not solve it.", false);
    EXPECT_EQ(g.reason, "no answer");
    g = grade(integer("70"), "still thinking about 3", true);
    EXPECT_EQ(g.reason, "truncated");
    // numbers inside the reasoning are ignored once </think> is there
    g = grade(integer("5"), "maybe 5</think>I am unsure.", false);
    EXPECT_EQ(g.reason, "no answer");
}

TEST(EvalGrader, ChoiceExtraction) {
    EXPECT_EQ(extract_choice("blah\nAnswer: C", 4), "C");
    EXPECT_EQ(extract_choice("Answer: (b)", 4), "B");
    EXPECT_EQ(extract_choice("**Answer: D**", 4), "D");
    EXPECT_EQ(extract_choice("The answer is \\boxed{B}.", 4), "B");
    EXPECT_EQ(extract_choice("The answer is $\\boxed{\\text{J}}$", 10), "J");
    EXPECT_EQ(extract_choice("Answer: E", 4), "");                       // out of range
    EXPECT_EQ(extract_choice("Answer: I think it is G", 10), "G");       // pronoun I skipped
    EXPECT_EQ(extract_choice("A first guess was B.\nAnswer: A", 4), "A");
    EXPECT_EQ(extract_choice("answer is a good question. Answer: C", 4), "C");
    EXPECT_EQ(extract_choice("Initially I said Answer: B but the Answer: D", 4), "D");  // last statement
    EXPECT_EQ(extract_choice("Option C is the best fit.", 4), "C");      // fallback: last standalone capital
    EXPECT_EQ(extract_choice("I think this is a hard one", 10), "");     // no label-like letter
    EXPECT_EQ(extract_choice("ABC DEF", 4), "");
    EXPECT_EQ(extract_choice("", 4), "");
}

TEST(EvalGrader, ChoiceGrade) {
    EXPECT_TRUE(grade(mc("B"), "hmm A?</think>\nAnswer: B", false).passed);
    Grade g = grade(mc("B"), "Answer: A", false);
    EXPECT_FALSE(g.passed);
    EXPECT_EQ(g.answer, "A");
    EXPECT_EQ(g.reason, "wrong answer");
    EXPECT_TRUE(grade(mc("j", 10), "Answer: J", false).passed);
}

TEST(EvalGrader, LineSets) {
    EXPECT_EQ(parse_line_set("3,13-15"), (std::vector<int>{3, 13, 14, 15}));
    EXPECT_EQ(parse_line_set("15-13, 3"), (std::vector<int>{3, 13, 14, 15}));
    EXPECT_EQ(parse_line_set("20–22"), (std::vector<int>{20, 21, 22}));
    EXPECT_TRUE(parse_line_set("none").empty());
    EXPECT_EQ(parse_line_set("0-99999999").size(), 10001u);  // ranges are capped
    EXPECT_TRUE(lines_match("3,13-15", "13,14"));
    EXPECT_TRUE(lines_match("3,13-15", "3"));
    EXPECT_FALSE(lines_match("3,13-15", "3,16"));
    EXPECT_FALSE(lines_match("3", ""));
    EXPECT_TRUE(lines_match("0", "0"));
    EXPECT_TRUE(lines_match("5-6", "5"));
}

TEST(EvalGrader, LineExtractionAndGrade) {
    EXPECT_EQ(extract_lines("The bug is on line 9.\nAnswer: lines 13-15 and 20\nmore"), "13-15,20");
    EXPECT_EQ(extract_lines("Answer: 9, 15"), "9,15");
    EXPECT_EQ(extract_lines("Answer: line 20 – 22"), "20-22");
    EXPECT_EQ(extract_lines("Answer:\nthe overflow is at 17"), "17");  // answer line empty: integer fallback
    EXPECT_EQ(extract_lines("nothing"), "");
    EXPECT_TRUE(grade(lines("17-20"), "</think>Answer: 18", false).passed);
    Grade g = grade(lines("17-20"), "Answer: 16, 18", false);
    EXPECT_FALSE(g.passed);
    EXPECT_EQ(g.answer, "16,18");
    EXPECT_EQ(g.reason, "wrong answer");
    EXPECT_TRUE(grade(lines("0"), "Answer: 0 (safe)", false).passed);
}

TEST(EvalGrader, FrameworkMapping) {
    EXPECT_EQ(grader_for("aime"), GraderKind::Integer);
    EXPECT_EQ(grader_for("gpqa"), GraderKind::Choice);
    EXPECT_EQ(grader_for("mmlu-pro"), GraderKind::Choice);
    EXPECT_EQ(grader_for("supergpqa"), GraderKind::Choice);
    EXPECT_EQ(grader_for("compsec"), GraderKind::Lines);
    EXPECT_EQ(grader_for("humaneval"), GraderKind::Code);
    EXPECT_EQ(grader_for("custom", "lines"), GraderKind::Lines);
    EXPECT_THROW(grader_for("custom"), ds4::Error);
    EXPECT_THROW(grader_for("custom", "fuzzy"), ds4::Error);
}

TEST(EvalGrader, UserPromptFormat) {
    Question q = mc("A", 2);
    q.prompt = "Pick one.";
    EXPECT_EQ(user_prompt(q),
              "Pick one.\n\nChoices:\nA. c0\nB. c1\n\nSolve the question. At the end, write exactly one final "
              "line in this format and do not write anything after it:\nAnswer: <letter>");
    Question i = integer("3");
    i.prompt = "Q";
    EXPECT_EQ(user_prompt(i), "Q\n\nSolve the problem. At the end, write exactly one final line in this format "
                              "and do not write anything after it:\nAnswer: <integer>");
}

TEST(EvalCode, ExtractCode) {
    EXPECT_EQ(extract_code("Here:\n```python\ndef f(x):\n    return x\n```\nDone", "f"), "def f(x):\n    return x\n");
    // the block defining the entry point wins over a later usage example
    EXPECT_EQ(extract_code("```python\ndef f(x):\n    return 1\n```\n```python\nprint(f(2))\n```", "f"),
              "def f(x):\n    return 1\n");
    EXPECT_EQ(extract_code("```py\nx = 1\n", "f"), "x = 1\n");  // unterminated block
    EXPECT_EQ(extract_code("    return x + 1\n", "f"), "    return x + 1\n");  // raw continuation
    EXPECT_EQ(extract_code("  \n", "f"), "");
}

TEST(EvalCode, RunPassFailTimeout) {
    const std::string prompt = "import math\n\ndef add(a, b):\n    \"\"\"Add.\"\"\"\n";
    const std::string test = "def check(candidate):\n    assert candidate(2, 3) == 5\n";
    Question q;
    q.id = "HumanEval/x";
    q.framework = "humaneval";
    q.grader = GraderKind::Code;
    q.prompt = prompt;
    q.test = test;
    q.entry_point = "add";

    Grade g = grade(q, "</think>```python\ndef add(a, b):\n    return a + b\n```", false);
    EXPECT_TRUE(g.passed) << g.detail;
    g = grade(q, "    return a + b\n", false);  // body continuation
    EXPECT_TRUE(g.passed) << g.detail;
    g = grade(q, "```python\ndef add(a, b):\n    return a - b\n```", false);
    EXPECT_FALSE(g.passed);
    EXPECT_EQ(g.reason, "wrong answer");
    EXPECT_NE(g.detail.find("AssertionError"), std::string::npos) << g.detail;
    g = grade(q, "no code at all", false);
    EXPECT_FALSE(g.passed);

    CodeResult r = run_python("import time, subprocess\nsubprocess.Popen(['sleep', '30'])\ntime.sleep(30)\n", 0.5);
    EXPECT_TRUE(r.timed_out);
    EXPECT_FALSE(r.passed);

    // network access is cut when a network namespace is available
    r = run_python("import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('1.1.1.1', 80))\n", 10);
    if (r.no_network) {
        EXPECT_FALSE(r.passed);
    }
}
