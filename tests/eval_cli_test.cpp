// ./ds4-eval used as a user would: --help, --grade on stdin, and a short run on the tiny model.
#include <gtest/gtest.h>

#include "test_util.h"
#include "util/json.h"

using namespace ds4::test;

TEST(EvalCli, HelpAndBadFlags) {
    RunResult r = run("./ds4-eval --help");
    ASSERT_EQ(r.code, 0) << r.err;
    for (const char* f : {"-m", "--set", "--only", "--framework", "--limit", "--tokens", "--think", "--nothink",
                          "--think-max", "--temp", "--seed", "-t", "--ctx", "--trace", "--json", "--resume", "--plain",
                          "--grade", "--expected"})
        EXPECT_NE(r.out.find(f), std::string::npos) << f;
    r = run("./ds4-eval --bogus");
    EXPECT_NE(r.code, 0);
    EXPECT_EQ(r.err.rfind("ds4-eval: ", 0), 0u) << r.err;
}

TEST(EvalCli, GradeStdin) {
    RunResult r = run("./ds4-eval --grade aime --expected 42", "hmm 41</think>The answer is \\boxed{042}.");
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("answer: 42"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("PASSED"), std::string::npos);
    r = run("./ds4-eval --grade gpqa --expected C", "Answer: B");
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("FAILED (wrong answer)"), std::string::npos) << r.out;
    r = run("./ds4-eval --grade compsec --expected 3,13-15", "Answer: lines 13-14");
    EXPECT_NE(r.out.find("PASSED"), std::string::npos) << r.out;
}

TEST(EvalCli, TinyModelRunWritesJsonAndResumes) {
    std::string model = tiny_model();
    ASSERT_FALSE(model.empty()) << "make-synthetic failed";
    std::string json = tmp_dir() + "/eval_cli.json";
    std::remove(json.c_str());
    std::string base = "./ds4-eval -m " + model + " --plain --tokens 24 --temp 0 --seed 1 --json " + json;
    RunResult r = run(base + " --limit 2 --think");
    EXPECT_EQ(r.code, 1) << r.err;  // random weights fail the questions
    EXPECT_NE(r.out.find("overall"), std::string::npos) << r.out;
    ds4::json::Value doc = ds4::json::parse(slurp(json));
    ASSERT_EQ(doc.find("results")->arr.size(), 2u);
    EXPECT_EQ(doc.find("summary")->find("total")->integer, 2);
    // --resume skips the two graded ids and runs the next one
    r = run(base + " --limit 1 --nothink --resume " + json);
    EXPECT_NE(r.out.find("[resumed]"), std::string::npos) << r.out;
    doc = ds4::json::parse(slurp(json));
    EXPECT_EQ(doc.find("results")->arr.size(), 3u);
    // a context beyond the model's trained length is refused
    r = run("./ds4-eval -m " + model + " --plain --limit 1 --tokens 900000");
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.err.find("context"), std::string::npos) << r.err;
}
