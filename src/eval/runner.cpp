#include "eval/runner.h"

#include <algorithm>
#include <chrono>

#include "util/error.h"

namespace ds4::eval {

const char* think_close_name(ThinkClose c) {
    switch (c) {
        case ThinkClose::None: return "none";
        case ThinkClose::Natural: return "natural";
        case ThinkClose::Soft: return "soft_forced";
        case ThinkClose::Hard: return "hard_forced";
    }
    return "?";
}

GenResult generate(Session& s, const float* logits, const TokenText& tok, sample::Sampler& sampler,
                   const GenOptions& o, const TokenSink& on_token) {
    GenResult r;
    const std::vector<int32_t> close_seq = tok.encode(chat::kThinkClose);
    const int n_vocab = s.n_vocab();
    const int32_t eos = tok.eos();
    bool in_think = o.thinking;
    std::vector<int32_t> forced;  // pending tokens of a forced `</think>`

    while (r.gen_tokens < o.limit) {
        const int remaining = o.limit - r.gen_tokens;
        int32_t t;
        if (!forced.empty()) {
            t = forced.front();
            forced.erase(forced.begin());
        } else if (in_think && remaining <= o.hard_budget && !close_seq.empty()) {
            forced.assign(close_seq.begin() + 1, close_seq.end());
            t = close_seq[0];
            r.close = ThinkClose::Hard;
            r.close_remaining = remaining;
        } else {
            int rank = 0;
            if (in_think && remaining <= o.soft_budget && close_seq.size() == 1)
                rank = sample::token_rank(logits, (size_t)n_vocab, close_seq[0]);
            if (rank > 0 && rank <= o.close_rank) {
                t = close_seq[0];
                r.close = ThinkClose::Soft;
                r.close_rank = rank;
                r.close_remaining = remaining;
            } else {
                t = sampler.sample(logits, (size_t)n_vocab);
            }
        }
        if (t == eos) {
            r.hit_eos = true;
            break;
        }
        sampler.accept(t);
        r.gen_tokens++;
        const size_t before = r.text.size();
        const std::string bytes = tok.token_bytes(t);
        r.text += bytes;
        if (in_think) {
            // The close may arrive as one special token or spelled over several tokens.
            size_t from = before >= chat::kThinkClose.size() ? before - chat::kThinkClose.size() + 1 : 0;
            if (r.text.find(chat::kThinkClose, from) != std::string::npos) {
                in_think = false;
                if (r.close == ThinkClose::None) {
                    r.close = ThinkClose::Natural;
                    r.close_remaining = remaining;
                }
                if (r.close_index < 0) r.close_index = r.gen_tokens - 1;
            }
        }
        if (on_token && !on_token(bytes, in_think)) {
            r.stopped = true;
            break;
        }
        if (r.gen_tokens < o.limit) logits = s.decode(t);
    }
    return r;
}

std::string render_prompt(const Question& q, chat::ThinkMode think) {
    return chat::render_single(kSystemPrompt, user_prompt(q), think);
}

CaseResult run_case(Session& s, const TokenText& tok, const Question& q, const RunConfig& cfg,
                    const TokenSink& on_token) {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    CaseResult c;
    c.id = q.id;
    c.framework = q.framework;
    c.expected = q.grader == GraderKind::Code ? "tests" : q.answer;
    const std::vector<int32_t> prompt = tok.encode(render_prompt(q, cfg.think));
    c.prompt_tokens = (int)prompt.size();
    const int room = s.n_ctx() - c.prompt_tokens;
    if (room <= 0) {
        c.status = "SKIPPED";
        c.grade.reason = "prompt does not fit the context";
        return c;
    }
    s.reset();
    s.prefill(prompt.data(), (int)prompt.size());

    sample::SamplerParams sp = cfg.sampling;
    sp.seed = cfg.sampling.seed ^ stable_hash(q.id);
    sample::Sampler sampler(sp);
    GenOptions go;
    go.limit = std::min(cfg.tokens, room);
    go.thinking = cfg.think != chat::ThinkMode::None;
    go.soft_budget = cfg.soft_budget;
    go.hard_budget = cfg.hard_budget;
    go.close_rank = cfg.close_rank;
    GenResult g = generate(s, s.logits(), tok, sampler, go, on_token);

    c.output = std::move(g.text);
    c.gen_tokens = g.gen_tokens;
    c.close = g.close;
    c.close_index = g.close_index;
    c.close_remaining = g.close_remaining;
    c.close_rank = g.close_rank;
    if (g.stopped) {
        c.status = "STOPPED";
    } else {
        c.grade = grade(q, c.output, g.truncated(), cfg.code_timeout_s);
        c.status = c.grade.passed ? "PASSED" : "FAILED";
    }
    c.seconds = std::chrono::duration<double>(clock::now() - t0).count();
    return c;
}

}  // namespace ds4::eval
