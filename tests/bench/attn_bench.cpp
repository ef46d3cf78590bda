// Standalone timing of the exact-order decode attention (attention::attend, bf16 && exact):
// 64 heads x 512 dims, one thread, best of several runs; also checks the result against the
// scalar reference. Not part of the build (tests/bench is not compiled); build by hand:
//   g++ -O2 -std=c++20 -march=native -ffp-contract=off -I. -Isrc tests/bench/attn_bench.cpp
//     src/model/attention.cpp -o build-attn/attn_bench
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "model/attention.h"

using namespace ds4;

int main(int argc, char** argv) {
    const int H = 64, D = 512, reps = argc > 1 ? std::atoi(argv[1]) : 200;
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (int n_comp : {0, 128, 256}) {
        const int n_win = 128, n_rows = n_win + n_comp;
        std::vector<float> data(size_t(n_rows) * D), q(size_t(H) * D), sinks(H), out(q.size()), ref(q.size());
        for (float& x : data) x = nd(rng);
        for (float& x : q) x = nd(rng);
        for (float& x : sinks) x = nd(rng);
        std::vector<const float*> rows(n_rows);
        for (int j = 0; j < n_rows; ++j) rows[j] = data.data() + size_t(j) * D;
        attention::RowSet rs{rows.data(), n_rows, n_win, 128, 128 + n_comp};
        std::vector<float> scratch(std::max(64, n_rows));
        const float scale = 1.0f / std::sqrt(float(D));
        double best = 1e9;
        for (int r = 0; r < reps; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            attention::attend(q.data(), rs, sinks.data(), 0, H, D, scale, true, scratch.data(), out.data(), true);
            const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            best = std::min(best, ms);
        }
        attention::attend_reference(q.data(), rs, sinks.data(), 0, H, D, scale, scratch.data(), ref.data());
        const bool same = std::memcmp(out.data(), ref.data(), out.size() * sizeof(float)) == 0;
        std::printf("rows %3d: %.4f ms  (%s)\n", n_rows, best, same ? "bit-identical" : "MISMATCH");
    }
}
