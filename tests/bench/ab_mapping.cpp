// A/B of two GGUF files (or two copies of one, cached differently) in one process: one engine
// per file, decoded tokens alternating between them, so both see the same bandwidth drift;
// prints the median ms/token of each and how much of the mappings is PMD-mapped (2 MiB pages).
// Used for the 2 MiB-page measurement of docs/ENGINE-PROFILE.md round 6: copy a model, warm one
// copy with tests/bench/warm_page_cache.py (2 MiB folios) and the other with cat (4 KiB).
//
//   g++ -O2 -std=c++20 -march=native -I. -Isrc tests/bench/ab_mapping.cpp build/libds4.a -o build/ab_mapping -pthread
//   ./build/ab_mapping build/bench-q4.gguf /tmp/bench-q4-copy.gguf 100
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/session.h"

using namespace ds4;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: ab_mapping MODEL_A MODEL_B TOKENS\n");
        return 1;
    }
    const int n = std::max(1, atoi(argv[3]));
    std::unique_ptr<Engine> eng[2];
    std::unique_ptr<Session> s[2];
    const float* l[2];
    for (int v = 0; v < 2; ++v) {
        LoadOptions lo;
        lo.path = argv[1 + v];
        lo.n_threads = 2;
        lo.verbose = false;
        eng[v] = Engine::load(lo);
    }
    const int nv = eng[0]->summary().n_vocab;
    std::vector<int32_t> prompt(512);
    uint64_t x = 0x9E3779B97F4A7C15ull;  // ds4-bench's prompt stream
    for (auto& id : prompt) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        id = int32_t(16 + x % uint64_t(nv - 16));
    }
    for (int v = 0; v < 2; ++v) {
        s[v] = eng[v]->new_session(int(prompt.size()) + n + 8, 512);
        s[v]->prefill(prompt.data(), int(prompt.size()));
        l[v] = s[v]->logits();
    }
    std::vector<double> ms[2];
    for (int g = 0; g < 2 * n; ++g) {
        const int v = g % 2;
        const int tok = int(std::max_element(l[v], l[v] + nv) - l[v]);
        const auto t0 = Clock::now();
        l[v] = s[v]->decode(tok);
        ms[v].push_back(std::chrono::duration<double>(Clock::now() - t0).count() * 1e3);
    }
    for (int v = 0; v < 2; ++v) {
        std::sort(ms[v].begin(), ms[v].end());
        printf("%s: median %.2f ms/token (p25 %.2f, p75 %.2f) over %d tokens\n", argv[1 + v], ms[v][ms[v].size() / 2],
               ms[v][ms[v].size() / 4], ms[v][3 * ms[v].size() / 4], n);
    }
    if (FILE* f = fopen("/proc/self/smaps_rollup", "r")) {  // both mappings together
        char line[256];
        while (fgets(line, sizeof line, f))
            if (strstr(line, "FilePmdMapped")) fputs(line, stdout);
        fclose(f);
    }
    return 0;
}
