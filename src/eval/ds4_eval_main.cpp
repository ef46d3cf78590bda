// ds4-eval: runs question sets through the model and grades the answers.
// See GGUF-TOOLS-PEERS section 5 for the behaviour this follows (prompt, think cutoff,
// grading, report) and `ds4-eval --help` for the flags.
#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <set>

#include "eval/loaders.h"
#include "eval/options.h"
#include "eval/report.h"
#include "eval/runner.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

using namespace ds4;
using namespace ds4::eval;

namespace {

std::atomic<bool> g_interrupted{false};
termios g_saved_termios;
volatile sig_atomic_t g_raw_keys = 0;

// First Ctrl+C: finish up and print the report for what is done. A second one kills, after
// giving the terminal its echo back (tcsetattr is async-signal-safe).
void on_sigint(int sig) {
    if (!g_interrupted.exchange(true)) return;
    if (g_raw_keys) tcsetattr(0, TCSANOW, &g_saved_termios);
    signal(sig, SIG_DFL);
    raise(sig);
}

// Keys without Enter/echo while the live view runs ('q' stops); restored on every exit path.
class RawKeys {
public:
    void enable() {
        if (!isatty(0) || tcgetattr(0, &g_saved_termios) != 0) return;
        termios t = g_saved_termios;
        t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        t.c_cc[VMIN] = 0;
        t.c_cc[VTIME] = 0;
        g_raw_keys = tcsetattr(0, TCSANOW, &t) == 0;
    }
    ~RawKeys() {
        if (g_raw_keys) tcsetattr(0, TCSANOW, &g_saved_termios);
        g_raw_keys = 0;
    }
    bool quit_pressed() {
        if (!g_raw_keys) return false;
        pollfd p = {0, POLLIN, 0};
        char c;
        while (poll(&p, 1, 0) > 0 && read(0, &c, 1) == 1)
            if (c == 'q' || c == 'Q') return true;
        return false;
    }
};

struct TokenizerText : TokenText {
    explicit TokenizerText(const Tokenizer& t) : tok(t) {}
    std::vector<int32_t> encode(std::string_view s) const override { return tok.encode(s, true); }
    std::string token_bytes(int32_t id) const override { return tok.token_bytes(id); }
    int32_t eos() const override { return tok.eos(); }
    const Tokenizer& tok;
};

int grade_stdin(const EvalOptions& o) {
    Question q;
    q.id = "stdin";
    q.framework = o.grade_framework;
    q.grader = grader_for(o.grade_framework, o.grade_framework);
    if (q.grader == GraderKind::Code) fail("--grade: code questions need a set with tests (use --set)");
    q.answer = o.expected;
    if (q.grader == GraderKind::Choice) q.choices.assign(10, "");  // letters A..J
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    Grade g = grade(q, text, false);
    printf("answer: %s\nexpected: %s\n%s\n", g.answer.empty() ? "?" : g.answer.c_str(), o.expected.c_str(),
           g.passed ? "PASSED" : ("FAILED (" + g.reason + ")").c_str());
    return 0;
}

std::vector<Question> select_questions(const EvalOptions& o, const std::set<std::string>& done) {
    std::vector<Question> all;
    std::set<std::string> ids;
    for (const std::string& s : o.sets)
        for (Question& q : load_set(s)) {
            if (!ids.insert(q.id).second) fail("%s: id '%s' appears in more than one set", s.c_str(), q.id.c_str());
            all.push_back(std::move(q));
        }
    std::set<std::string> only(o.only.begin(), o.only.end());
    for (const std::string& id : only)
        if (!ids.count(id)) fail("--only: no question with id '%s'", id.c_str());
    std::vector<Question> out;
    for (Question& q : all) {
        if (!only.empty() && !only.count(q.id)) continue;
        if (!o.framework.empty() && q.framework != o.framework) continue;
        if (done.count(q.id)) continue;
        if (o.limit > 0 && (int)out.size() >= o.limit) break;
        out.push_back(std::move(q));
    }
    return out;
}

std::string fmt_g(double v) { return strfmt("%g", v); }

int run(const EvalOptions& o) {
    const bool tty = !o.plain && isatty(1);
    std::vector<CaseResult> results;
    std::set<std::string> done;
    if (!o.resume.empty()) {
        results = load_resume(o.resume);
        for (const CaseResult& c : results) done.insert(c.id);
    }
    std::vector<Question> qs = select_questions(o, done);
    if (qs.empty() && results.empty()) fail("no questions selected");
    fprintf(stderr, "ds4-eval: %zu questions%s\n", qs.size(),
            done.empty() ? "" : strfmt(" (%zu already graded in %s)", done.size(), o.resume.c_str()).c_str());

    LoadOptions lo;
    lo.path = o.model;
    lo.n_threads = o.threads;
    std::unique_ptr<Engine> engine = Engine::load(lo);
    const Tokenizer tokenizer = Tokenizer::from_gguf(engine->file());
    const TokenizerText tok(tokenizer);
    const int64_t model_ctx = engine->summary().n_ctx_train;

    // Context: the largest rendered prompt + the budget. Think-Max below 384K falls back to
    // High (the prefix changes prompt sizes), so it is decided before sizing.
    chat::ThinkMode think = o.think;
    auto max_prompt = [&](chat::ThinkMode m) {
        size_t mx = 0;
        for (const Question& q : qs) mx = std::max(mx, tok.encode(render_prompt(q, m)).size());
        return (int64_t)mx;
    };
    int64_t ctx = o.ctx > 0 ? o.ctx : max_prompt(think) + o.tokens;
    if (chat::think_max_downgraded(think, ctx)) {
        fprintf(stderr, "ds4-eval: warning: --think-max needs a context of at least %lld tokens (have %lld); "
                        "using --think\n", (long long)chat::kThinkMaxMinContext, (long long)ctx);
        think = chat::ThinkMode::High;
        if (o.ctx <= 0) ctx = max_prompt(think) + o.tokens;
    }
    if (model_ctx > 0 && ctx > model_ctx)
        fail("context %lld exceeds the model's context length %lld (lower --tokens or --ctx)", (long long)ctx,
             (long long)model_ctx);
    if (ctx > 1000000) fail("context %lld is over 1,000,000 tokens", (long long)ctx);

    RunConfig cfg;
    cfg.think = think;
    cfg.tokens = o.tokens;
    cfg.sampling.temp = o.temp;
    cfg.sampling.top_p = o.top_p;
    cfg.sampling.min_p = o.min_p;
    cfg.sampling.top_k = o.top_k;
    cfg.sampling.seed = o.has_seed ? o.seed
                                   : (uint64_t)std::chrono::system_clock::now().time_since_epoch().count() ^
                                         ((uint64_t)getpid() << 32);
    cfg.soft_budget = o.soft_budget;
    cfg.hard_budget = o.hard_budget;
    cfg.close_rank = o.close_rank;
    cfg.code_timeout_s = o.code_timeout;

    std::map<std::string, std::string> meta = {
        {"model", o.model}, {"think", chat::think_mode_name(think)}, {"ctx", std::to_string(ctx)},
        {"max_tokens", std::to_string(o.tokens)}, {"temp", fmt_g(o.temp)}, {"top_p", fmt_g(o.top_p)},
        {"min_p", fmt_g(o.min_p)}, {"top_k", std::to_string(o.top_k)}, {"seed", std::to_string(cfg.sampling.seed)},
        {"questions", std::to_string(qs.size())}, {"soft_budget", std::to_string(o.soft_budget)},
        {"hard_budget", std::to_string(o.hard_budget)}, {"close_rank", std::to_string(o.close_rank)}};
    Trace trace(o.trace);
    trace.header(meta);

    std::unique_ptr<Session> session = engine->new_session((int)ctx);
    signal(SIGINT, on_sigint);
    RawKeys keys;
    if (tty) keys.enable();
    const char* dim = tty ? "\x1b[2m" : "";
    const char* reset = tty ? "\x1b[0m" : "";
    const auto t0 = std::chrono::steady_clock::now();
    bool quit = false;
    for (size_t i = 0; i < qs.size() && !quit && !g_interrupted; i++) {
        const Question& q = qs[i];
        Tally score;
        tally_by_framework(results, &score);
        printf("%s[%zu/%zu] %s/%s%s", tty ? "\x1b[1m" : "", i + 1, qs.size(), q.framework.c_str(), q.id.c_str(),
               reset);
        if (tty) printf("  score %d/%d  (q: stop)", score.passed, score.total);
        printf("\n");
        fflush(stdout);

        Utf8Streamer utf8;
        bool was_think = think != chat::ThinkMode::None;
        if (was_think) printf("%s", dim);
        auto sink = [&](std::string_view bytes, bool in_think) {
            if (was_think && !in_think) printf("%s", reset);
            was_think = in_think;
            fputs(utf8.push(bytes).c_str(), stdout);
            fflush(stdout);
            if (tty && keys.quit_pressed()) quit = true;
            return !quit && !g_interrupted;
        };
        CaseResult c = run_case(*session, tok, q, cfg, sink);
        printf("%s%s\n", utf8.flush().c_str(), reset);
        printf("%s (%.1fs, %d prompt + %d generated tokens)\n\n", verdict(c).c_str(), c.seconds, c.prompt_tokens,
               c.gen_tokens);
        fflush(stdout);
        trace.write_case((int)(i + 1), (int)qs.size(), q, render_prompt(q, think), c);
        results.push_back(std::move(c));
        if (!o.json.empty()) write_results_json(o.json, results, meta);  // after each case: crash-safe resume
    }
    const double runtime = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    print_report(stdout, results, runtime, tty);
    trace.summary(results);
    if (!o.json.empty()) write_results_json(o.json, results, meta);
    Tally all;
    tally_by_framework(results, &all);
    return all.passed == all.total ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        EvalOptions o = parse_eval_options(argc, argv);
        if (o.help) {
            fputs(eval_usage().c_str(), stdout);
            return 0;
        }
        if (!o.grade_framework.empty()) return grade_stdin(o);
        return run(o);
    } catch (const std::exception& e) {
        fprintf(stderr, "ds4-eval: %s\n", e.what());
        return 1;
    }
}
