// ./ds4 used as a user would: flags, errors, one-shot generation, piped chat, diagnostics.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "test_util.h"

using namespace ds4::test;

namespace {

std::string model_or_skip() {
    std::string m = tiny_model();
    return m;
}

bool one_line(const std::string& s) {
    size_t nl = s.find('\n');
    return !s.empty() && (nl == std::string::npos || nl == s.size() - 1);
}

std::vector<float> read_f32(const std::string& path) {
    std::string b = slurp(path);
    std::vector<float> v(b.size() / 4);
    memcpy(v.data(), b.data(), v.size() * 4);
    return v;
}

}  // namespace

TEST(Cli, HelpListsEveryFlag) {
    RunResult r = run("./ds4 --help");
    ASSERT_EQ(r.code, 0);
    for (const char* f : {"-m", "-p", "-n", "-c", "-t", "--temp", "--top-p", "--top-k", "--min-p", "--seed", "--think",
                          "--nothink", "--think-max", "--experts", "--system", "--tokenize", "--detokenize",
                          "--prompt-tokens", "--dump-logits", "--decode-from", "--ubatch", "--numerics"})
        EXPECT_NE(r.out.find(f), std::string::npos) << f;
}

TEST(Cli, BadFlagsAndMissingModelGiveOneLineErrors) {
    RunResult r = run("./ds4 --bogus");
    EXPECT_NE(r.code, 0);
    EXPECT_TRUE(one_line(r.err)) << r.err;
    EXPECT_NE(r.err.find("--bogus"), std::string::npos);

    r = run("./ds4 -m build/test-tmp/does-not-exist.gguf -p hi");
    EXPECT_NE(r.code, 0);
    EXPECT_TRUE(one_line(r.err)) << r.err;
    EXPECT_NE(r.err.find("does-not-exist.gguf"), std::string::npos);

    r = run("./ds4 -p hi --temp abc");
    EXPECT_NE(r.code, 0);
    EXPECT_TRUE(one_line(r.err)) << r.err;
}

TEST(Cli, TruncatedModelIsRejected) {
    std::string m = model_or_skip();
    ASSERT_FALSE(m.empty()) << "make-synthetic failed";
    std::string bad = tmp_dir() + "/truncated.gguf";
    ASSERT_EQ(run("head -c 5000 " + m + " > " + bad).code, 0);
    RunResult r = run("./ds4 -m " + bad + " -p hi -n 4");
    EXPECT_NE(r.code, 0);
    EXPECT_LT(r.code, 128) << "crashed: " << r.err;
    EXPECT_TRUE(one_line(r.err)) << r.err;
}

TEST(Cli, OneShotStreamsTextAndStats) {
    std::string m = model_or_skip();
    ASSERT_FALSE(m.empty());
    RunResult r = run("./ds4 -m " + m + " -p Hello -n 32 --seed 3 -c 512");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_FALSE(r.out.empty());
    EXPECT_EQ(r.out.find("\x1b["), std::string::npos) << "escape codes on a pipe";
    EXPECT_NE(r.err.find("prompt:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("t/s"), std::string::npos) << r.err;
    // Same seed, same text.
    RunResult r2 = run("./ds4 -m " + m + " -p Hello -n 32 --seed 3 -c 512");
    EXPECT_EQ(r.out, r2.out);
    RunResult g = run("./ds4 -m " + m + " -p Hello -n 8 --temp 0 --nothink -c 512");
    EXPECT_EQ(g.code, 0) << g.err;
}

TEST(Cli, ContextOverflowIsAnError) {
    std::string m = model_or_skip();
    ASSERT_FALSE(m.empty());
    RunResult r = run("./ds4 -m " + m + " -c 8 -p 'a rather long prompt that cannot fit in eight tokens at all'");
    EXPECT_NE(r.code, 0);
    EXPECT_LT(r.code, 128);
    EXPECT_NE(r.err.find("context"), std::string::npos) << r.err;
}

TEST(Cli, InteractiveChatThroughAPipe) {
    std::string m = model_or_skip();
    ASSERT_FALSE(m.empty());
    RunResult r = run("./ds4 -m " + m + " -n 8 -c 1024 --seed 1",
                      "Hello\n/help\n/nothink\nAnd again\n/reset\nThird\n/quit\n");
    ASSERT_EQ(r.code, 0) << r.err;
    size_t turns = 0;
    for (size_t p = 0; (p = r.err.find("prompt:", p)) != std::string::npos; p++) turns++;
    EXPECT_EQ(turns, 3u) << r.err;
    EXPECT_NE(r.out.find("/think"), std::string::npos);  // the /help text
    // EOF without /quit exits cleanly too.
    RunResult e = run("./ds4 -m " + m + " -n 4 -c 256", "Hi\n");
    EXPECT_EQ(e.code, 0) << e.err;
}

TEST(Cli, DumpLogitsSamePrefillAndDecode) {
    std::string m = model_or_skip();
    ASSERT_FALSE(m.empty());
    std::string ids = "0,17,200,33,5,99,150,7,8,9,300,301,302,303,42";
    std::string a = tmp_dir() + "/logits_a.f32", b = tmp_dir() + "/logits_b.f32";
    // fp32 numerics: prefill, chunked prefill and decode compute the same graph. (Official
    // numerics reproduce the reference's batch-size-dependent roundings, so they differ.)
    ASSERT_EQ(run("./ds4 -m " + m + " --numerics fp32 --prompt-tokens " + ids + " --dump-logits " + a).code, 0);
    RunResult rb = run("./ds4 -m " + m + " --numerics fp32 --prompt-tokens " + ids + " --dump-logits " + b +
                       " --decode-from 5 --ubatch 2");
    ASSERT_EQ(rb.code, 0) << rb.err;
    std::vector<float> la = read_f32(a), lb = read_f32(b);
    ASSERT_EQ(la.size(), lb.size());
    ASSERT_EQ(la.size() % 15, 0u);
    double num = 0, den = 0;
    for (size_t i = 0; i < la.size(); i++) {
        ASSERT_TRUE(std::isfinite(la[i]));
        num += (la[i] - lb[i]) * (la[i] - lb[i]);
        den += la[i] * la[i];
    }
    EXPECT_LT(std::sqrt(num / den), 1e-4);
    RunResult bad = run("./ds4 -m " + m + " --prompt-tokens 0,999999 --dump-logits " + a);
    EXPECT_NE(bad.code, 0);
    EXPECT_TRUE(one_line(bad.err)) << bad.err;
}

TEST(Cli, TokenizeDetokenizeRoundTrip) {
    std::string m = model_or_skip();
    ASSERT_FALSE(m.empty());
    std::string text = "Hello world! 123456 <think>x</think>";
    RunResult t = run("./ds4 -m " + m + " --tokenize", text);
    ASSERT_EQ(t.code, 0) << t.err;
    ASSERT_FALSE(t.out.empty());
    RunResult d = run("./ds4 -m " + m + " --detokenize", t.out);
    ASSERT_EQ(d.code, 0) << d.err;
    EXPECT_EQ(d.out, text);
}

TEST(Cli, BenchCsvAndPairedRoofline) {
    std::string m = model_or_skip();
    ASSERT_FALSE(m.empty()) << "make-synthetic failed";
    RunResult r = run("./ds4-bench -m " + m + " -t 2 --ctx-start 16 --ctx-max 40 --step-incr 16 --gen-tokens 4 --roofline");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("ctx_tokens,prefill_tokens,prefill_tps,gen_tokens,gen_tps,kvcache_bytes\n16,16,"),
              std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\n32,16,"), std::string::npos) << r.out;  // frontiers 16, 32, 40
    EXPECT_NE(r.out.find("\n40,8,"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("roofline pairs: 8 x"), std::string::npos) << r.out;  // at least 8 pairs
    unsigned long long bpt = 0;
    double bw = 0, frac = 0;
    const size_t at = r.out.find("\nroofline: ");
    ASSERT_NE(at, std::string::npos) << r.out;
    ASSERT_EQ(sscanf(r.out.c_str() + at, "\nroofline: bytes_per_token=%llu bandwidth_gbs=%lf achieved_fraction=%lf", &bpt,
                     &bw, &frac), 3) << r.out;
    EXPECT_GT(bpt, 0u);
    EXPECT_LT(bpt, (unsigned long long)slurp(m).size());  // routed experts: only K of them per token
    EXPECT_GT(bw, 0.0);
    EXPECT_GT(frac, 0.0);
    EXPECT_LT(frac, 100.0);

    r = run("./ds4-bench -m " + m + " --ctx-start 64 --ctx-max 32");
    EXPECT_NE(r.code, 0);
    EXPECT_TRUE(one_line(r.err)) << r.err;
    r = run("./ds4-bench --gen-tokens 0");
    EXPECT_NE(r.code, 0);
    EXPECT_TRUE(one_line(r.err)) << r.err;
}
