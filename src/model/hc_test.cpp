#include "model/hc.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "model/torch_cpu.h"
#include "quant/float16.h"

namespace ds4 {
namespace {

TEST(Sinkhorn, ColumnsSumToOneAndRowsNearlySo) {
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0, 1);
    for (int trial = 0; trial < 50; ++trial) {
        const int n = 4;
        float mix[24], base[24], scale[3] = {0.7f, 1.3f, 0.9f};
        for (int i = 0; i < 24; ++i) mix[i] = nd(rng), base[i] = nd(rng);
        float pre[4], post[4], comb[16];
        hc::split_sinkhorn(mix, scale, base, n, 20, 1e-6f, pre, post, comb);
        for (int b = 0; b < n; ++b) {
            float col = 0, row = 0;
            for (int a = 0; a < n; ++a) col += comb[a * n + b], row += comb[b * n + a];
            EXPECT_NEAR(col, 1.0f, 1e-5f);   // the iteration ends with a column normalisation
            EXPECT_NEAR(row, 1.0f, 1e-2f);   // rows converge (20 iterations)
        }
        for (int h = 0; h < n; ++h) {
            EXPECT_GT(pre[h], 0.0f);
            EXPECT_LE(pre[h], 1.0f + 1e-6f);
            EXPECT_GE(post[h], 0.0f);
            EXPECT_LE(post[h], 2.0f);
        }
    }
}

TEST(Sinkhorn, OneIterationIsSoftmaxThenColumnNormalise) {
    const int n = 2;
    float mix[8] = {0, 0, 0, 0, 1, 2, 3, 4}, base[8] = {}, scale[3] = {1, 1, 1};
    float pre[2], post[2], comb[4];
    hc::split_sinkhorn(mix, scale, base, n, 1, 0.0f, pre, post, comb);
    // softmax rows: [e^1, e^2]/s1, [e^3, e^4]/s2 -> both rows equal [1/(1+e), e/(1+e)]
    EXPECT_NEAR(comb[0], 0.5f, 1e-6f);  // column 0 = (a, a) normalised
    EXPECT_NEAR(comb[1], 0.5f, 1e-6f);
    EXPECT_NEAR(pre[0], 0.5f, 1e-6f);
    EXPECT_NEAR(post[1], 1.0f, 1e-6f);
}

TEST(Sinkhorn, PostUsesSourceMajorComb) {
    // state[dst] = post[dst]*y + sum_src comb[src*n+dst] * state[src]
    const int n = 2, dim = 1;
    float state[2] = {1, 10}, y[1] = {100}, post[2] = {0.5f, 0.25f}, comb[4] = {0.9f, 0.1f, 0.2f, 0.8f};
    hc::post_token(state, y, post, comb, n, dim);
    EXPECT_FLOAT_EQ(state[0], 50 + 0.9f * 1 + 0.2f * 10);
    EXPECT_FLOAT_EQ(state[1], 25 + 0.1f * 1 + 0.8f * 10);
}

uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

// The vectorised stream mixes against the scalar definitions (each sum from 0, in stream
// order): random data, widths with and without a tail of < 16 columns, n = 4 (unrolled) and
// other stream counts; the exact rsqrt against torch's cascade sum of the stored squares.
TEST(Hc, VectorisedMixesMatchScalarBitForBit) {
    std::mt19937 rng(9);
    std::normal_distribution<float> nd(0, 1);
    for (int n : {1, 3, 4, 5}) {
        for (int dim : {1, 15, 16, 37, 512}) {
            std::vector<float> state(size_t(n) * dim), y(dim), w(n), post(n), comb(size_t(n) * n);
            for (auto* v : {&state, &y, &w, &post, &comb})
                for (float& f : *v) f = nd(rng);
            std::vector<float> x(dim), ref(dim);
            hc::weighted_streams(w.data(), state.data(), n, dim, x.data());
            for (int d = 0; d < dim; ++d) {
                float s = 0;
                for (int h = 0; h < n; ++h) s += w[h] * state[size_t(h) * dim + d];
                ASSERT_EQ(bits(x[d]), bits(s)) << n << " " << dim << " " << d;
            }
            std::vector<float> out = state, out_bf16 = state;
            hc::post_token(out.data(), y.data(), post.data(), comb.data(), n, dim);
            hc::post_token(out_bf16.data(), y.data(), post.data(), comb.data(), n, dim, true);
            for (int dst = 0; dst < n; ++dst)
                for (int d = 0; d < dim; ++d) {
                    float s = 0;
                    for (int src = 0; src < n; ++src) s += comb[src * n + dst] * state[size_t(src) * dim + d];
                    const float ref = post[dst] * y[d] + s;
                    ASSERT_EQ(bits(out[size_t(dst) * dim + d]), bits(ref)) << n << " " << dim;
                    ASSERT_EQ(bits(out_bf16[size_t(dst) * dim + d]), bits(bf16_to_fp32(fp32_to_bf16(ref))));
                }
            std::vector<float> sq(state.size());
            for (size_t i = 0; i < sq.size(); ++i) sq[i] = state[i] * state[i];
            const float ref_r = 1.0f / std::sqrt(tcpu::sum(sq.data(), int64_t(sq.size())) / float(sq.size()) + 1e-6f);
            ASSERT_EQ(bits(hc::rsqrt_mean_square(state.data(), int64_t(state.size()), 1e-6f, true)), bits(ref_r));
        }
    }
}

// The 4-stream Sinkhorn (one vector, shuffled sums) against the scalar definition: row
// softmax + eps, then column / (row, column) normalisations, each sum from 0 in index order.
TEST(Hc, VectorisedSinkhornMatchesScalarBitForBit) {
    std::mt19937 rng(21);
    std::normal_distribution<float> nd(0, 2);
    const int n = 4;
    for (bool exact : {false, true})
        for (int iters : {1, 2, 20}) {
            float mix[24], base[24], scale[3] = {0.7f, 1.3f, 0.9f}, pre[4], post[4], comb[16];
            for (int i = 0; i < 24; ++i) mix[i] = nd(rng), base[i] = nd(rng);
            hc::split_sinkhorn(mix, scale, base, n, iters, 1e-6f, pre, post, comb, hc::Exact{exact, 0, 1});
            float m[16];
            for (int a = 0; a < n; ++a) {
                float mx = -INFINITY, s = 0;
                for (int b = 0; b < n; ++b) {
                    m[a * n + b] = mix[8 + a * n + b] * scale[2] + base[8 + a * n + b];
                    mx = m[a * n + b] > mx ? m[a * n + b] : mx;
                }
                for (int b = 0; b < n; ++b) {
                    const float z = m[a * n + b] - mx;
                    s += (m[a * n + b] = exact ? tcpu::expf(z) : std::exp(z));
                }
                const float inv = 1.0f / s;
                for (int b = 0; b < n; ++b) m[a * n + b] = (exact ? m[a * n + b] * inv : m[a * n + b] / s) + 1e-6f;
            }
            auto norm = [&](bool cols) {
                for (int i = 0; i < n; ++i) {
                    float s = 0;
                    for (int k = 0; k < n; ++k) s += cols ? m[k * n + i] : m[i * n + k];
                    for (int k = 0; k < n; ++k) (cols ? m[k * n + i] : m[i * n + k]) /= (s + 1e-6f);
                }
            };
            norm(true);
            for (int it = 1; it < iters; ++it) norm(false), norm(true);
            for (int i = 0; i < 16; ++i) ASSERT_EQ(bits(comb[i]), bits(m[i])) << exact << " " << iters << " " << i;
        }
}

}  // namespace
}  // namespace ds4
