#include "eval/loaders.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/test_paths.h"
#include "util/error.h"

using namespace ds4::eval;

TEST(EvalLoader, CsvQuotingAndNewlines) {
    auto rows = parse_csv("a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"line1\nline2\"\n\n1,,3");
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[1], (std::vector<std::string>{"x, y", "say \"hi\"", "line1\nline2"}));
    EXPECT_EQ(rows[2], (std::vector<std::string>{"1", "", "3"}));
    EXPECT_THROW(parse_csv("a,\"open\n"), ds4::Error);
}

TEST(EvalLoader, GpqaCsvShuffleIsFixed) {
    const std::string csv =
        "Record ID,Question,Correct Answer,Incorrect Answer 1,Incorrect Answer 2,Incorrect Answer 3\n"
        "rec1,\"What is 2+2?\nThink.\",4,3,5,\"22, maybe\"\n"
        "rec2,Color of sky?,blue,red,green,black\n";
    auto a = parse_gpqa_csv(csv, "t.csv");
    auto b = parse_gpqa_csv(csv, "t.csv");
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(a[0].id, "rec1");
    EXPECT_EQ(a[0].prompt, "What is 2+2?\nThink.");
    EXPECT_EQ(a[0].framework, "gpqa");
    ASSERT_EQ(a[0].choices.size(), 4u);
    EXPECT_EQ(a[0].choices[a[0].answer[0] - 'A'], "4");
    EXPECT_EQ(a[1].choices[a[1].answer[0] - 'A'], "blue");
    EXPECT_EQ(a[0].choices, b[0].choices);
    // the order depends on the question only, not on which rows are loaded
    auto only2 = parse_gpqa_csv(
        "Record ID,Question,Correct Answer,Incorrect Answer 1,Incorrect Answer 2,Incorrect Answer 3\n"
        "rec2,Color of sky?,blue,red,green,black\n",
        "t.csv");
    EXPECT_EQ(only2[0].choices, a[1].choices);
    std::vector<std::string> sorted = a[0].choices;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, (std::vector<std::string>{"22, maybe", "3", "4", "5"}));
    EXPECT_THROW(parse_gpqa_csv("Question,Correct Answer\nq,a\n", "bad.csv"), ds4::Error);
}

TEST(EvalLoader, NativeJsonl) {
    auto qs = parse_jsonl(
        "{\"id\":\"m1\",\"framework\":\"custom\",\"grader\":\"integer\",\"prompt\":\"1+1?\",\"answer\":2}\n"
        "\n"
        "{\"id\":\"c1\",\"framework\":\"gpqa\",\"prompt\":\"Pick\",\"answer\":\"B\",\"choices\":[\"x\",\"y\"]}\n"
        "{\"id\":\"l1\",\"framework\":\"compsec\",\"prompt\":\"Code\",\"answer\":\"3,13-15\"}\n",
        "set.jsonl");
    ASSERT_EQ(qs.size(), 3u);
    EXPECT_EQ(qs[0].answer, "2");
    EXPECT_EQ(qs[0].grader, GraderKind::Integer);
    EXPECT_EQ(qs[1].grader, GraderKind::Choice);
    EXPECT_EQ(qs[1].choices.size(), 2u);
    EXPECT_EQ(qs[2].grader, GraderKind::Lines);
    try {
        parse_jsonl("{\"id\":\"x\",\"framework\":\"custom\",\"prompt\":\"p\",\"answer\":1}\n", "s.jsonl");
        FAIL();
    } catch (const ds4::Error& e) {
        EXPECT_NE(std::string(e.what()).find("s.jsonl:1:"), std::string::npos) << e.what();
    }
    EXPECT_THROW(parse_jsonl("{\"id\":\"x\",\"framework\":\"gpqa\",\"prompt\":\"p\",\"answer\":\"C\",\"choices\":[\"a\",\"b\"]}",
                             "s"), ds4::Error);
    EXPECT_THROW(parse_jsonl("not json\n", "s"), ds4::Error);
    EXPECT_THROW(parse_jsonl("{\"foo\":1}\n", "s"), ds4::Error);
}

TEST(EvalLoader, AimeMmluSuperGpqaHumanEval) {
    auto aime = parse_jsonl("{\"problem\":\"Find n.\",\"answer\":\"033\",\"id\":\"2025-I-1\"}\n{\"problem\":\"p\",\"answer\":5}",
                            "aime.jsonl");
    ASSERT_EQ(aime.size(), 2u);
    EXPECT_EQ(aime[0].framework, "aime");
    EXPECT_EQ(aime[0].id, "2025-I-1");
    EXPECT_EQ(aime[1].id, "aime-2");
    auto mmlu = parse_jsonl(
        "{\"question_id\":70,\"question\":\"Q?\",\"options\":[\"a\",\"b\",\"c\"],\"answer\":\"C\",\"answer_index\":2}\n"
        "{\"question_id\":71,\"question\":\"Q2\",\"options\":[\"a\",\"b\"],\"answer_index\":1}\n",
        "mmlu.jsonl");
    EXPECT_EQ(mmlu[0].id, "mmlu-pro-70");
    EXPECT_EQ(mmlu[0].answer, "C");
    EXPECT_EQ(mmlu[1].answer, "B");
    auto sg = parse_jsonl("{\"uuid\":\"u1\",\"question\":\"Q\",\"options\":[\"a\",\"b\",\"c\"],\"answer_letter\":\"A\",\"answer\":\"a\"}",
                          "sg.jsonl");
    EXPECT_EQ(sg[0].framework, "supergpqa");
    EXPECT_EQ(sg[0].id, "u1");
    EXPECT_EQ(sg[0].answer, "A");
    auto he = parse_jsonl(
        "{\"task_id\":\"HumanEval/0\",\"prompt\":\"def f():\\n\",\"test\":\"def check(c): pass\",\"entry_point\":\"f\","
        "\"canonical_solution\":\"    return 1\\n\"}",
        "he.jsonl");
    EXPECT_EQ(he[0].grader, GraderKind::Code);
    EXPECT_EQ(he[0].entry_point, "f");
    // a forced format that does not fit the line is an error
    EXPECT_THROW(parse_jsonl("{\"problem\":\"p\",\"answer\":5}", "x", "humaneval"), ds4::Error);
}

TEST(EvalLoader, LoadSetSpecAndDuplicates) {
    std::string dir = ds4::test::tmp_dir();
    std::string p = dir + "/eval_dup.jsonl";
    std::ofstream(p) << "{\"problem\":\"p\",\"answer\":5,\"id\":\"a\"}\n{\"problem\":\"q\",\"answer\":6,\"id\":\"a\"}\n";
    EXPECT_THROW(load_set(p), ds4::Error);
    std::string p2 = dir + "/eval_aime.jsonl";
    std::ofstream(p2) << "{\"problem\":\"p\",\"answer\":5}\n";
    EXPECT_EQ(load_set("aime:" + p2).size(), 1u);
    EXPECT_THROW(load_set(dir + "/missing.jsonl"), ds4::Error);
}

TEST(EvalLoader, DefaultSetIsValid) {
    auto qs = load_set("eval/sets/default.jsonl");
    EXPECT_GE(qs.size(), 30u);
    int lines = 0, choice = 0, integer = 0;
    for (const Question& q : qs) {
        lines += q.grader == GraderKind::Lines;
        choice += q.grader == GraderKind::Choice;
        integer += q.grader == GraderKind::Integer;
    }
    EXPECT_GT(lines, 0);
    EXPECT_GT(choice, 0);
    EXPECT_GT(integer, 0);
}
