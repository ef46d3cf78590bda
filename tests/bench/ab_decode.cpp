// A/B of decode settings on a noisy machine: one process, one model, and the setting switched
// between decoded tokens (token g runs with value g % count), so both sides see the same
// bandwidth drift; prints the median ms/token per value. The setting is an environment variable
// that the code under test reads at call time (add such a getenv temporarily; "-" unsets it).
//
//   g++ -O2 -std=c++20 -march=native -I. -Isrc tests/bench/ab_decode.cpp build/libds4.a -o build/ab_decode -pthread
//   ./build/ab_decode build/bench-q4.gguf 120 MY_KNOB - 1 2
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/session.h"

using namespace ds4;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: ab_decode MODEL TOKENS VAR VALUE1 [VALUE2 ...]\n");
        return 1;
    }
    LoadOptions lo;
    lo.path = argv[1];
    lo.n_threads = 0;
    lo.verbose = false;
    const int n = std::max(1, atoi(argv[2]));
    const char* var = argv[3];
    const std::vector<std::string> vals(argv + 4, argv + argc);
    auto eng = Engine::load(lo);
    const int nv = eng->summary().n_vocab;
    std::vector<int32_t> prompt(512);
    uint64_t x = 0x9E3779B97F4A7C15ull;  // ds4-bench's prompt stream
    for (auto& id : prompt) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        id = int32_t(16 + x % uint64_t(nv - 16));
    }
    auto s = eng->new_session(int(prompt.size()) + n + 8, 512);
    s->prefill(prompt.data(), int(prompt.size()));
    const float* l = s->logits();
    std::vector<std::vector<double>> ms(vals.size());
    for (int g = 0; g < n; ++g) {
        const int tok = int(std::max_element(l, l + nv) - l);
        const size_t i = size_t(g) % vals.size();
        if (vals[i] == "-") unsetenv(var);
        else setenv(var, vals[i].c_str(), 1);
        const auto t0 = Clock::now();
        l = s->decode(tok);
        ms[i].push_back(std::chrono::duration<double>(Clock::now() - t0).count() * 1e3);
    }
    for (size_t i = 0; i < vals.size(); ++i) {
        std::sort(ms[i].begin(), ms[i].end());
        printf("%s=%s: median %.2f ms/token over %zu tokens\n", var, vals[i].c_str(), ms[i][ms[i].size() / 2],
               ms[i].size());
    }
    return 0;
}
