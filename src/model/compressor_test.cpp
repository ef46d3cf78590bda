#include "model/compressor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "model/torch_cpu.h"

namespace ds4 {
namespace {

struct Comp {
    std::vector<float> ape, kv, sc;
    CompressorArgs a;
    Comp(int ratio, int dim, bool overlap) {
        const int rows = compressor::state_rows(ratio, overlap), w = compressor::state_width(dim, overlap);
        ape.assign(size_t(ratio) * w, 0.0f);
        kv.resize(size_t(rows) * w);
        sc.resize(size_t(rows) * w);
        a = {ratio, dim, overlap, ape.data(), kv.data(), sc.data()};
        compressor::reset_state(a);
    }
};

TEST(Compressor, EmitsAtWindowEndsWithWindowStartPosition) {
    for (int ratio : {4, 128}) {
        Comp c(ratio, 2, ratio == 4);
        const int w = compressor::state_width(2, ratio == 4);
        std::vector<float> kv(w, 1.0f), sc(w, 0.0f), out(2);
        std::vector<int64_t> emitted;
        for (int64_t pos = 0; pos < 3 * ratio + 1; ++pos)
            if (compressor::push(c.a, kv.data(), sc.data(), pos, out.data())) emitted.push_back(pos);
        ASSERT_EQ(emitted.size(), 3u);
        for (int i = 0; i < 3; ++i) {
            EXPECT_EQ(emitted[i], int64_t(i + 1) * ratio - 1);
            EXPECT_EQ(compressor::row_position(emitted[i], ratio), int64_t(i) * ratio);
        }
    }
}

TEST(Compressor, Ratio128IsASoftmaxPoolPerChannel) {
    Comp c(128, 1, false);
    std::vector<float> out(1);
    double num = 0, den = 0;
    for (int pos = 0; pos < 128; ++pos) {
        const float kv = float(pos % 7), score = float(pos % 5) * 0.3f;
        c.ape[pos] = 0.01f * pos;  // APE row pos % 128 joins the score
        const bool e = compressor::push(c.a, &kv, &score, pos, out.data());
        EXPECT_EQ(e, pos == 127);
        const double s = score + 0.01 * pos;
        num += std::exp(s) * kv;
        den += std::exp(s);
    }
    EXPECT_NEAR(out[0], num / den, 1e-5);
}

TEST(Compressor, Ratio4OverlapsThePreviousWindowsFirstLane) {
    // dim 1, two lanes: column 0 = lane A (read by the next window), column 1 = lane B.
    Comp c(4, 1, true);
    float out = 0;
    // Window 0 (positions 0..3): lane B values 1, lane A values 100; equal scores.
    for (int pos = 0; pos < 4; ++pos) {
        const float kv[2] = {100, 1}, sc[2] = {0, 0};
        compressor::push(c.a, kv, sc, pos, &out);
    }
    EXPECT_FLOAT_EQ(out, 1.0f);  // first window: only its own lane B counts (lane A rows are -inf)
    // Window 1: lane B values 3 with equal scores -> mean of previous lane A (100) and own lane B (3).
    for (int pos = 4; pos < 8; ++pos) {
        const float kv[2] = {0, 3}, sc[2] = {0, 0};
        compressor::push(c.a, kv, sc, pos, &out);
    }
    EXPECT_NEAR(out, (4 * 100 + 4 * 3) / 8.0f, 1e-4);
}

// The scalar definition of one emitted channel (one channel at a time, exps recomputed): the
// reference for push's channel-vectorised pooling.
float reference_channel(const CompressorArgs& a, int j) {
    const int r = a.ratio, d = a.dim, w = compressor::state_width(d, a.overlap);
    const int n_cand = compressor::state_rows(r, a.overlap);
    auto col = [&](int c) { return (a.overlap && c >= r) ? d + j : j; };
    float mx = -INFINITY;
    for (int c = 0; c < n_cand; ++c) {
        const float s = a.state_sc[size_t(c) * w + col(c)];
        mx = s > mx ? s : mx;
    }
    if (mx == -INFINITY) return 0.0f;
    auto ex = [&](float v) { return a.exact ? tcpu::expf(v) : std::exp(v); };
    float den = 0;
    for (int c = 0; c < n_cand; ++c) den += ex(a.state_sc[size_t(c) * w + col(c)] - mx);
    auto term = [&](int64_t c) {
        return a.state_kv[size_t(c) * w + col(int(c))] * (ex(a.state_sc[size_t(c) * w + col(int(c))] - mx) / den);
    };
    if (a.exact) return tcpu::level_sum(n_cand, term);
    float acc = 0;
    for (int c = 0; c < n_cand; ++c) acc += term(c);
    return acc;
}

TEST(Compressor, VectorisedPoolMatchesScalarBitForBit) {
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0, 3);
    for (int ratio : {4, 128}) {
        for (int dim : {3, 16, 37, 128}) {
            for (bool exact : {false, true}) {
                Comp c(ratio, dim, ratio == 4);
                c.a.exact = exact;
                for (float& v : c.ape) v = nd(rng);
                const int w = compressor::state_width(dim, ratio == 4);
                std::vector<float> kv(w), sc(w), out(dim);
                for (int64_t pos = 0; pos < 3 * ratio; ++pos) {
                    for (int i = 0; i < w; ++i) kv[i] = nd(rng), sc[i] = nd(rng);
                    if (pos == 1) sc[0] = 200.0f;  // an exp argument far below -104
                    // The reference reads the state after this token's row is stored and before
                    // push moves the lanes: a copy taken now, with the row stored into it.
                    std::vector<float> skv = c.kv, ssc = c.sc;
                    CompressorArgs ra = c.a;
                    ra.state_kv = skv.data();
                    ra.state_sc = ssc.data();
                    if (!compressor::push(c.a, kv.data(), sc.data(), pos, out.data())) continue;
                    const int slot = int(pos % ratio), row = ratio == 4 ? ratio + slot : slot;
                    for (int i = 0; i < w; ++i) {
                        skv[size_t(row) * w + i] = kv[i];
                        ssc[size_t(row) * w + i] = sc[i] + c.ape[size_t(slot) * w + i];
                    }
                    for (int j = 0; j < dim; ++j) {
                        const float ref = reference_channel(ra, j);
                        ASSERT_EQ(std::memcmp(&out[j], &ref, 4), 0)
                            << ratio << " " << dim << " " << exact << " pos " << pos << " ch " << j;
                    }
                }
            }
        }
    }
}

}  // namespace
}  // namespace ds4
