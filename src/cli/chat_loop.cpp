#include "cli/chat_loop.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "chat/chat.h"
#include "gguf/gguf.h"
#include "sample/sampler.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/mmap_file.h"

namespace ds4::cli {

namespace {

std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted = true; }

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

chat::ThinkMode to_chat(ThinkMode m) {
    switch (m) {
        case ThinkMode::Think: return chat::ThinkMode::High;
        case ThinkMode::NoThink: return chat::ThinkMode::None;
        case ThinkMode::ThinkMax: return chat::ThinkMode::Max;
    }
    return chat::ThinkMode::High;
}

// Streams generated tokens to stdout: thinking dimmed on a terminal, marked with
// <think>...</think> otherwise; never splits a UTF-8 character.
class Printer {
public:
    Printer(bool color, bool thinking) : color_(color), in_think_(thinking) {
        if (in_think_) open_think();
    }
    void token(const std::string& bytes, bool is_think_close) {
        if (is_think_close) {
            emit(utf8_.flush());
            if (in_think_) close_think();
            in_think_ = false;
            return;
        }
        emit(utf8_.push(bytes));
    }
    void finish() {
        emit(utf8_.flush());
        if (in_think_) close_think();
        in_think_ = false;
        fputc('\n', stdout);
        fflush(stdout);
    }

private:
    void emit(const std::string& s) {
        if (s.empty()) return;
        fwrite(s.data(), 1, s.size(), stdout);
        fflush(stdout);
    }
    void open_think() { emit(color_ ? "\x1b[2m" : "<think>\n"); }
    void close_think() { emit(color_ ? "\x1b[0m\n" : "\n</think>\n\n"); }
    bool color_;
    bool in_think_;
    Utf8Streamer utf8_;
};

struct ChatState {
    const Options& o;
    Engine& eng;
    Tokenizer tok;
    std::unique_ptr<Session> sess;
    sample::Sampler sampler;
    ThinkMode think;
    int n_ctx;
    int32_t eos, think_close;
    bool tty_out;
    bool color;

    ChatState(const Options& opt, Engine& e)
        : o(opt), eng(e), tok(Tokenizer::from_gguf(e.file())), sampler(make_params(opt)), think(opt.think),
          n_ctx(opt.n_ctx) {
        eos = tok.eos();
        think_close = tok.find_token(chat::kThinkClose);
        tty_out = isatty(1);
        color = tty_out && opt.color;
        sess = eng.new_session(n_ctx, opt.ubatch);
    }

    static sample::SamplerParams make_params(const Options& o) {
        sample::SamplerParams p;
        p.temp = o.temp;
        p.top_k = o.top_k;
        p.top_p = o.top_p;
        p.min_p = o.min_p;
        p.seed = o.has_seed ? o.seed : (uint64_t)std::chrono::system_clock::now().time_since_epoch().count();
        return p;
    }

    chat::ThinkMode effective_think() {
        chat::ThinkMode req = to_chat(think);
        if (chat::think_max_downgraded(req, n_ctx))
            fprintf(stderr, "ds4: warning: --think-max needs --ctx >= %lld for its full effect; using --think\n",
                    (long long)chat::kThinkMaxMinContext);
        return chat::think_mode_for_context(req, n_ctx);
    }

    // Prefills `text` (already rendered), then samples up to n_predict tokens, streaming them.
    // Throws Error when the new turn does not fit in the context.
    void turn(const std::string& text, bool thinking) {
        std::vector<int32_t> ids = tok.encode(text, true);
        if (sess->n_past() + (int)ids.size() >= n_ctx)
            fail("context overflow: %d tokens in use + %zu new > --ctx %d (use /reset or a larger --ctx)",
                 sess->n_past(), ids.size(), n_ctx);
        auto t0 = Clock::now();
        sess->prefill(ids.data(), (int)ids.size());
        double t_prefill = seconds_since(t0);

        g_interrupted = false;
        struct sigaction sa {}, old {};
        sa.sa_handler = on_sigint;
        sigaction(SIGINT, &sa, &old);

        Printer pr(color, thinking);
        int n_gen = 0;
        int limit = o.n_predict < 0 ? n_ctx : o.n_predict;
        auto t1 = Clock::now();
        const float* logits = sess->logits();
        bool stopped = false, overflow = false;
        while (n_gen < limit) {
            if (g_interrupted) {
                stopped = true;
                break;
            }
            int32_t t = sampler.sample(logits, (size_t)sess->n_vocab());
            sampler.accept(t);
            n_gen++;
            if (t == eos) break;
            pr.token(tok.token_bytes(t), t == think_close);
            if (sess->n_past() + 1 >= n_ctx) {
                overflow = true;
                break;
            }
            logits = sess->decode(t);
        }
        pr.finish();
        sigaction(SIGINT, &old, nullptr);
        double t_gen = seconds_since(t1);
        if (stopped) fprintf(stderr, "[stopped]\n");
        if (overflow) fprintf(stderr, "ds4: context full (%d tokens); /reset or raise --ctx\n", n_ctx);
        fprintf(stderr, "prompt: %zu tokens, %.2f t/s | generated: %d tokens, %.2f t/s\n", ids.size(),
                t_prefill > 0 ? ids.size() / t_prefill : 0.0, n_gen, t_gen > 0 ? n_gen / t_gen : 0.0);
    }
};

const char* kHelp =
    "commands:\n"
    "  /help           this text\n"
    "  /think          thinking mode (reasoning, then the answer)\n"
    "  /nothink        answer directly\n"
    "  /think-max      maximum reasoning effort\n"
    "  /ctx N          new context of N tokens (clears the conversation)\n"
    "  /read FILE      send the contents of FILE as your message\n"
    "  /reset          forget the conversation\n"
    "  /quit           exit (also Ctrl+D)\n"
    "Ctrl+C stops the current answer.\n";

}  // namespace

int run_chat(const Options& o, Engine& eng) {
    ChatState st(o, eng);
    if (o.has_prompt) {
        chat::ThinkMode m = st.effective_think();
        std::string text = chat::render_single(o.system, o.prompt, m);
        st.turn(text, m != chat::ThinkMode::None);
        return 0;
    }

    // Interactive: the KV state is kept between turns and only the new turn is prefilled.
    // Earlier turns therefore stay in the context as they were generated (reasoning
    // included), unlike a re-rendered history; /reset starts over.
    bool interactive = isatty(0);
    if (interactive)
        fprintf(stderr, "ds4 chat — %s, ctx %d. /help for commands, Ctrl+D to quit.\n", eng.summary().name.c_str(),
                st.n_ctx);
    bool first = true;
    std::string line;
    while (true) {
        if (interactive) {
            fputs(st.color ? "\x1b[1m> \x1b[0m" : "> ", stdout);
            fflush(stdout);
        }
        if (!std::getline(std::cin, line)) break;
        if (line.empty()) continue;
        std::string msg = line;
        if (line[0] == '/') {
            std::string cmd = line.substr(0, line.find(' '));
            std::string arg = line.size() > cmd.size() ? line.substr(cmd.size() + 1) : "";
            if (cmd == "/quit" || cmd == "/exit") break;
            if (cmd == "/help") { fputs(kHelp, stdout); continue; }
            if (cmd == "/think") { st.think = ThinkMode::Think; fputs("thinking on\n", stdout); continue; }
            if (cmd == "/nothink") { st.think = ThinkMode::NoThink; fputs("thinking off\n", stdout); continue; }
            if (cmd == "/think-max") { st.think = ThinkMode::ThinkMax; fputs("think-max on\n", stdout); continue; }
            if (cmd == "/reset") { st.sess->reset(); first = true; fputs("conversation cleared\n", stdout); continue; }
            if (cmd == "/ctx") {
                int n = atoi(arg.c_str());
                if (n < 16) { fputs("usage: /ctx N (N >= 16)\n", stdout); continue; }
                st.n_ctx = n;
                st.sess = eng.new_session(n, o.ubatch);
                first = true;
                printf("new context of %d tokens (conversation cleared)\n", n);
                continue;
            }
            if (cmd == "/read") {
                try {
                    msg = read_text_file(arg);
                } catch (const Error& e) {
                    printf("%s\n", e.what());
                    continue;
                }
            } else {
                printf("unknown command %s (/help)\n", cmd.c_str());
                continue;
            }
        }
        chat::ThinkMode m = st.effective_think();
        std::string text;
        if (first) {
            text = chat::render_single(o.system, msg, m);
        } else {
            text = chat::render_followup(msg, m);  // close the previous answer, then the new turn
        }
        try {
            st.turn(text, m != chat::ThinkMode::None);
            first = false;
        } catch (const Error& e) {
            fprintf(stderr, "ds4: %s\n", e.what());
        }
    }
    return 0;
}

}  // namespace ds4::cli
