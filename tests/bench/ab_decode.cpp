// A/B of decode settings on a noisy machine: one process, and the variants interleaved token by
// token (token g runs variant g % count), so all see the same bandwidth drift; prints the
// median ms/token per variant.
//   - an environment variable that the code under test reads at call time (add such a getenv
//     temporarily; "-" unsets it): one engine, the variable switched between tokens;
//   - `--vs MODEL_B`: two engines, one per file (e.g. two copies of a model cached differently:
//     tests/bench/warm_page_cache.py vs cat, docs/ENGINE-PROFILE.md round 6), decoding in turn;
//     also prints how much of the mappings is PMD-mapped (2 MiB pages).
//
//   g++ -O2 -std=c++20 -march=native -I. -Isrc tests/bench/ab_decode.cpp build/libds4.a -o build/ab_decode -pthread
//   ./build/ab_decode build/bench-q4.gguf 120 MY_KNOB - 1 2
//   ./build/ab_decode build/bench-q4.gguf 100 --vs /tmp/bench-q4-copy.gguf
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/session.h"

using namespace ds4;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: ab_decode MODEL TOKENS VAR VALUE1 [VALUE2 ...]\n"
                        "       ab_decode MODEL TOKENS --vs MODEL_B\n");
        return 1;
    }
    const int n = std::max(1, atoi(argv[2]));
    const bool files = std::string(argv[3]) == "--vs";
    const char* var = argv[3];
    const std::vector<std::string> vals = files ? std::vector<std::string>{argv[1], argv[4]}
                                                : std::vector<std::string>(argv + 4, argv + argc);
    std::vector<std::unique_ptr<Engine>> eng;
    for (size_t v = 0; v < (files ? vals.size() : 1); ++v) {
        LoadOptions lo;
        lo.path = files ? vals[v] : argv[1];
        lo.n_threads = 0;
        lo.verbose = false;
        eng.push_back(Engine::load(lo));
    }
    const int nv = eng[0]->summary().n_vocab;
    std::vector<int32_t> prompt(512);
    uint64_t x = 0x9E3779B97F4A7C15ull;  // ds4-bench's prompt stream
    for (auto& id : prompt) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        id = int32_t(16 + x % uint64_t(nv - 16));
    }
    std::vector<std::unique_ptr<Session>> s;
    std::vector<const float*> l;
    for (auto& e : eng) {
        s.push_back(e->new_session(int(prompt.size()) + n + 8, 512));
        s.back()->prefill(prompt.data(), int(prompt.size()));
        l.push_back(s.back()->logits());
    }
    std::vector<std::vector<double>> ms(vals.size());
    for (int g = 0; g < n; ++g) {
        const size_t i = size_t(g) % vals.size(), e = files ? i : 0;
        const int tok = int(std::max_element(l[e], l[e] + nv) - l[e]);
        if (!files) {
            if (vals[i] == "-") unsetenv(var);
            else setenv(var, vals[i].c_str(), 1);
        }
        const auto t0 = Clock::now();
        l[e] = s[e]->decode(tok);
        ms[i].push_back(std::chrono::duration<double>(Clock::now() - t0).count() * 1e3);
    }
    for (size_t i = 0; i < vals.size(); ++i) {
        std::sort(ms[i].begin(), ms[i].end());
        printf("%s%s%s: median %.2f ms/token over %zu tokens\n", files ? "" : var, files ? "" : "=", vals[i].c_str(),
               ms[i][ms[i].size() / 2], ms[i].size());
    }
    if (FILE* f = files ? fopen("/proc/self/smaps_rollup", "r") : nullptr) {  // both mappings together
        char line[256];
        while (fgets(line, sizeof line, f))
            if (strstr(line, "FilePmdMapped")) fputs(line, stdout);
        fclose(f);
    }
    return 0;
}
