// The generation loop and think cutoff, driven by a scripted fake session and vocabulary
// (no model needed).
#include "eval/runner.h"

#include <gtest/gtest.h>

#include "eval/options.h"
#include "eval/report.h"
#include "util/error.h"

using namespace ds4;
using namespace ds4::eval;

namespace {

// id: 0 EOS, 1 "</think>", 2 "a", 3 "\nAnswer: 7", 4 "b"
const std::vector<std::string> kVocab = {"<｜end▁of▁sentence｜>", "</think>", "a", "\nAnswer: 7", "b"};

struct FakeText : TokenText {
    std::vector<int32_t> encode(std::string_view s) const override {
        std::vector<int32_t> out;
        for (size_t i = 0; i < s.size();) {
            int best = -1;
            for (size_t t = 0; t < kVocab.size(); t++)
                if (s.compare(i, kVocab[t].size(), kVocab[t]) == 0 && (best < 0 || kVocab[t].size() > kVocab[best].size()))
                    best = (int)t;
            out.push_back(best < 0 ? 2 : best);  // unknown bytes: any id will do for counting
            i += best < 0 ? 1 : kVocab[best].size();
        }
        return out;
    }
    std::string token_bytes(int32_t id) const override { return kVocab.at(id); }
    int32_t eos() const override { return 0; }
};

// Logits at generation step k come from `script(k)`: a preferred token order, best first.
struct ScriptSession : Session {
    std::function<std::vector<int32_t>(int)> script;
    int ctx = 4096, past = 0, step = 0;
    std::vector<float> cur;
    std::vector<int32_t> fed;

    void set_logits() {
        std::vector<int32_t> order = script(step);
        cur.assign(kVocab.size(), -100.0f);
        for (size_t i = 0; i < order.size(); i++) cur[order[i]] = 10.0f - (float)i;
    }
    void prefill(const int32_t*, int n, float*) override {
        if (past + n > ctx) fail("context overflow");
        past += n;
        set_logits();
    }
    const float* decode(int32_t t) override {
        if (past + 1 > ctx) fail("context overflow");
        fed.push_back(t);
        past++;
        step++;
        set_logits();
        return cur.data();
    }
    const float* logits() const override { return cur.data(); }
    int n_past() const override { return past; }
    int n_ctx() const override { return ctx; }
    int n_vocab() const override { return (int)kVocab.size(); }
    void reset() override { past = step = 0; fed.clear(); }
    size_t kv_bytes() const override { return 0; }
    std::vector<uint8_t> save_state() const override { return {}; }
    void load_state(const std::vector<uint8_t>&) override {}
};

GenResult gen(ScriptSession& s, GenOptions o, const TokenSink& sink = nullptr) {
    FakeText tok;
    sample::SamplerParams sp;
    sp.temp = 0;
    sample::Sampler sampler(sp);
    s.reset();
    int32_t bos = 2;
    s.prefill(&bos, 1, nullptr);
    return generate(s, s.logits(), tok, sampler, o, sink);
}

}  // namespace

TEST(EvalRunner, NaturalCloseAndEos) {
    ScriptSession s;
    s.script = [](int k) -> std::vector<int32_t> {
        if (k < 2) return {2, 1};
        if (k == 2) return {1};
        if (k == 3) return {3};
        return {0};
    };
    GenOptions o;
    o.limit = 100;
    o.soft_budget = 10;
    o.hard_budget = 5;
    std::string streamed;
    int think_bytes = 0;
    GenResult r = gen(s, o, [&](std::string_view b, bool in_think) {
        streamed += b;
        think_bytes += in_think ? (int)b.size() : 0;
        return true;
    });
    EXPECT_EQ(r.text, "aa</think>\nAnswer: 7");
    EXPECT_EQ(streamed, r.text);
    EXPECT_EQ(think_bytes, 2);
    EXPECT_TRUE(r.hit_eos);
    EXPECT_FALSE(r.truncated());
    EXPECT_EQ(r.close, ThinkClose::Natural);
    EXPECT_EQ(r.close_index, 2);
    EXPECT_EQ(r.gen_tokens, 4);
}

TEST(EvalRunner, HardCloseForcedAtBudget) {
    ScriptSession s;
    s.script = [](int) -> std::vector<int32_t> { return {2, 4, 3, 0, 1}; };  // </think> ranked last
    GenOptions o;
    o.limit = 10;
    o.soft_budget = 6;
    o.hard_budget = 4;
    GenResult r = gen(s, o);
    EXPECT_EQ(r.close, ThinkClose::Hard);
    EXPECT_EQ(r.close_index, 6);
    EXPECT_EQ(r.close_remaining, 4);
    EXPECT_EQ(r.text, "aaaaaa</think>aaa");
    EXPECT_TRUE(r.truncated());
    EXPECT_EQ(r.gen_tokens, 10);
    EXPECT_EQ((int)s.fed.size(), 9);  // no decode after the last token
}

TEST(EvalRunner, SoftCloseWhenRankedHigh) {
    ScriptSession s;
    s.script = [](int) -> std::vector<int32_t> { return {2, 4, 1, 3, 0}; };  // </think> rank 3
    GenOptions o;
    o.limit = 10;
    o.soft_budget = 6;
    o.hard_budget = 2;
    GenResult r = gen(s, o);
    EXPECT_EQ(r.close, ThinkClose::Soft);
    EXPECT_EQ(r.close_rank, 3);
    EXPECT_EQ(r.close_index, 4);
    o.close_rank = 2;  // now rank 3 is not good enough: the hard limit closes instead
    r = gen(s, o);
    EXPECT_EQ(r.close, ThinkClose::Hard);
    EXPECT_EQ(r.close_index, 8);
    // no cutoff at all without thinking
    o.thinking = false;
    r = gen(s, o);
    EXPECT_EQ(r.close, ThinkClose::None);
    EXPECT_EQ(r.text, "aaaaaaaaaa");
}

TEST(EvalRunner, StopFromSink) {
    ScriptSession s;
    s.script = [](int) -> std::vector<int32_t> { return {2}; };
    GenOptions o;
    int n = 0;
    GenResult r = gen(s, o, [&](std::string_view, bool) { return ++n < 3; });
    EXPECT_TRUE(r.stopped);
    EXPECT_FALSE(r.truncated());
    EXPECT_EQ(r.gen_tokens, 3);
}

TEST(EvalRunner, RunCaseGradesAndSkips) {
    FakeText tok;
    Question q;
    q.id = "t1";
    q.framework = "aime";
    q.grader = GraderKind::Integer;
    q.prompt = "What is 3+4?";
    q.answer = "7";
    ScriptSession s;
    s.script = [](int k) -> std::vector<int32_t> {
        if (k == 0) return {2};
        if (k == 1) return {1};
        if (k == 2) return {3};
        return {0};
    };
    RunConfig cfg;
    cfg.sampling.temp = 0;
    CaseResult c = run_case(s, tok, q, cfg, nullptr);
    EXPECT_EQ(c.status, "PASSED") << c.output;
    EXPECT_EQ(c.grade.answer, "7");
    EXPECT_EQ(c.gen_tokens, 3);
    EXPECT_EQ(c.prompt_tokens, (int)tok.encode(render_prompt(q, chat::ThinkMode::High)).size());
    EXPECT_EQ(c.close, ThinkClose::Natural);

    q.answer = "8";
    c = run_case(s, tok, q, cfg, nullptr);
    EXPECT_EQ(c.status, "FAILED");
    EXPECT_EQ(c.grade.reason, "wrong answer");

    s.ctx = 5;  // the prompt cannot fit
    c = run_case(s, tok, q, cfg, nullptr);
    EXPECT_EQ(c.status, "SKIPPED");

    // generation is limited by the context left after the prompt
    s.ctx = c.prompt_tokens + 2;
    s.script = [](int) -> std::vector<int32_t> { return {2}; };
    c = run_case(s, tok, q, cfg, nullptr);
    EXPECT_EQ(c.gen_tokens, 2);
    EXPECT_EQ(c.grade.reason, "truncated");
}

TEST(EvalReport, JsonResumeAndSummary) {
    std::vector<CaseResult> rs(3);
    rs[0].id = "a";
    rs[0].framework = "aime";
    rs[0].status = "PASSED";
    rs[0].grade.answer = "7";
    rs[1].id = "b";
    rs[1].framework = "gpqa";
    rs[1].status = "FAILED";
    rs[1].grade.reason = "no answer";
    rs[2].id = "c";
    rs[2].framework = "gpqa";
    rs[2].status = "STOPPED";
    Tally all;
    auto fw = tally_by_framework(rs, &all);
    EXPECT_EQ(all.passed, 1);
    EXPECT_EQ(all.total, 2);
    ASSERT_EQ(fw.size(), 2u);
    EXPECT_EQ(fw[1].first, "gpqa");
    EXPECT_EQ(fw[1].second.total, 1);

    std::string path = "build/test-tmp/eval_results.json";
    system("mkdir -p build/test-tmp");
    write_results_json(path, rs, {{"model", "x.gguf"}});
    auto back = load_resume(path);
    ASSERT_EQ(back.size(), 2u);  // STOPPED is not carried over
    EXPECT_EQ(back[0].id, "a");
    EXPECT_TRUE(back[0].resumed);
    EXPECT_EQ(back[0].status, "PASSED");
    EXPECT_EQ(back[1].grade.reason, "no answer");
    EXPECT_NE(results_json(rs, {}).find("\"summary\":{\"passed\":1,\"total\":2,\"rate\":0.5,"), std::string::npos);
    EXPECT_EQ(verdict(rs[1]), "FAILED (no answer) got ? expected ");
}

TEST(EvalOptions, ParseFlags) {
    const char* argv[] = {"ds4-eval", "--set", "a.jsonl", "--set", "gpqa:b.csv", "--only", "x,y", "--nothink",
                          "--tokens", "2000", "--temp", "0.6", "--seed", "42", "--json", "out.json", "--plain"};
    EvalOptions o = parse_eval_options(17, argv);
    EXPECT_EQ(o.sets, (std::vector<std::string>{"a.jsonl", "gpqa:b.csv"}));
    EXPECT_EQ(o.only, (std::vector<std::string>{"x", "y"}));
    EXPECT_EQ(o.think, chat::ThinkMode::None);
    EXPECT_EQ(o.tokens, 2000);
    EXPECT_FLOAT_EQ(o.temp, 0.6f);
    EXPECT_TRUE(o.has_seed);
    EXPECT_EQ(o.seed, 42u);
    EXPECT_TRUE(o.plain);
    const char* d[] = {"ds4-eval"};
    EvalOptions def = parse_eval_options(1, d);
    EXPECT_EQ(def.sets, (std::vector<std::string>{"eval/sets/default.jsonl"}));
    EXPECT_EQ(def.model, "ds4flash.gguf");
    EXPECT_EQ(def.tokens, 16000);
    EXPECT_EQ(def.think, chat::ThinkMode::High);
    const char* small[] = {"ds4-eval", "--tokens", "64"};
    EvalOptions sm = parse_eval_options(3, small);
    EXPECT_LT(sm.hard_budget, 64);
    EXPECT_LE(sm.hard_budget, sm.soft_budget);
    const char* bad1[] = {"ds4-eval", "--tokens"};
    EXPECT_THROW(parse_eval_options(2, bad1), Error);
    const char* bad2[] = {"ds4-eval", "--bogus"};
    EXPECT_THROW(parse_eval_options(2, bad2), Error);
    const char* bad3[] = {"ds4-eval", "--grade", "aime"};
    EXPECT_THROW(parse_eval_options(3, bad3), Error);
    const char* bad4[] = {"ds4-eval", "--tokens", "100", "--hard-limit-reply-budget", "200"};
    EXPECT_THROW(parse_eval_options(5, bad4), Error);
}
