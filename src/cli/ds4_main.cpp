// ./ds4: one-shot generation (-p), interactive chat (no -p), and the diagnostic entry points
// used by tests and outside checks (--prompt-tokens/--dump-logits, --tokenize/--detokenize).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "cli/chat_loop.h"
#include "cli/options.h"
#include "engine/session.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

using namespace ds4;

namespace {

std::string read_stdin() {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

int run_tokenize(const cli::Options& o) {
    auto f = gguf::File::open(o.model);
    Tokenizer tok = Tokenizer::from_gguf(*f);
    std::vector<int32_t> ids = tok.encode(read_stdin(), true);
    std::string line;
    for (size_t i = 0; i < ids.size(); i++) {
        if (i) line += ' ';
        line += std::to_string(ids[i]);
    }
    printf("%s\n", line.c_str());
    return 0;
}

int run_detokenize(const cli::Options& o) {
    auto f = gguf::File::open(o.model);
    Tokenizer tok = Tokenizer::from_gguf(*f);
    std::vector<int32_t> ids = cli::parse_token_list(read_stdin());
    for (int32_t id : ids)
        if (id < 0 || (size_t)id >= tok.n_vocab()) fail("token id %d is outside the vocabulary (%zu)", id, tok.n_vocab());
    std::string s = tok.decode(ids);
    fwrite(s.data(), 1, s.size(), stdout);
    return 0;
}

// Runs exact ids: positions < decode_from through batched prefill (chunks of --ubatch),
// the rest one token at a time through decode; writes [n_tokens][n_vocab] float32 logits.
int run_prompt_tokens(const cli::Options& o, Engine& eng) {
    const auto& ids = o.prompt_tokens;
    const int n = (int)ids.size();
    const int n_vocab = eng.summary().n_vocab;
    for (int32_t id : ids)
        if (id < 0 || id >= n_vocab) fail("--prompt-tokens: id %d is outside the vocabulary (%d)", id, n_vocab);
    int n_ctx = o.n_ctx;
    if (n > n_ctx) fail("%d prompt tokens do not fit in the context (%d); raise --ctx", n, n_ctx);
    auto s = eng.new_session(n_ctx, o.ubatch);
    const int split = o.decode_from < 0 ? n : std::min(o.decode_from, n);
    std::vector<float> logits((size_t)n * n_vocab);
    if (split > 0) s->prefill(ids.data(), split, logits.data());
    for (int p = split; p < n; p++) {
        const float* l = s->decode(ids[p]);
        std::copy(l, l + n_vocab, logits.begin() + (size_t)p * n_vocab);
    }
    if (!o.dump_logits.empty()) {
        FILE* fp = fopen(o.dump_logits.c_str(), "wb");
        if (!fp) fail("cannot write %s", o.dump_logits.c_str());
        size_t w = fwrite(logits.data(), sizeof(float), logits.size(), fp);
        if (fclose(fp) != 0 || w != logits.size()) fail("short write to %s", o.dump_logits.c_str());
    } else {
        // Without a dump file, print the argmax per position (handy for quick checks).
        for (int p = 0; p < n; p++) {
            const float* l = logits.data() + (size_t)p * n_vocab;
            int best = (int)(std::max_element(l, l + n_vocab) - l);
            printf("%d%c", best, p + 1 < n ? ' ' : '\n');
        }
    }
    return 0;
}

bool weights_fit_in_ram(const std::string& path) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return false;
    const double ram = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    return st.st_size > (64 << 20) && (double)st.st_size < 0.8 * ram;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        cli::Options o = cli::parse_options(argc, argv);
        if (o.help) {
            fputs(cli::usage().c_str(), stdout);
            return 0;
        }
        if (o.tokenize) return run_tokenize(o);
        if (o.detokenize) return run_detokenize(o);

        LoadOptions lo;
        lo.path = o.model;
        lo.n_threads = o.n_threads;
        lo.experts = o.experts;
        lo.numerics = o.numerics;
        lo.verbose = o.verbose || (!o.has_prompt_tokens && isatty(2));
        // On a terminal, read the weights in up front with a progress line, when they fit in
        // RAM: the first answer is then not stalled by page faults. A file larger than RAM
        // stays lazily mapped (pre-reading it would only evict itself).
        if (isatty(2) && !o.has_prompt_tokens && weights_fit_in_ram(o.model))
            lo.progress = [](uint64_t done, uint64_t total) {
                static int last = -1;
                int pct = total ? (int)(done * 100 / total) : 100;
                if (pct == last) return;
                last = pct;
                fprintf(stderr, "\rloading weights: %3d%% (%.1f / %.1f GiB)", pct, done / 1073741824.0,
                        total / 1073741824.0);
                if (done >= total) fputc('\n', stderr);
            };
        std::unique_ptr<Engine> eng = Engine::load(lo);
        if (o.has_prompt_tokens) return run_prompt_tokens(o, *eng);
        return cli::run_chat(o, *eng);
    } catch (const std::exception& e) {
        fflush(stdout);
        fprintf(stderr, "ds4: %s\n", e.what());
        return 1;
    }
}
