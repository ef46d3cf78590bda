#include "model/hc.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

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
    float state[2] = {1, 10}, y[1] = {100}, post[2] = {0.5f, 0.25f}, comb[4] = {0.9f, 0.1f, 0.2f, 0.8f}, tmp[2];
    hc::post_token(state, y, post, comb, n, dim, tmp);
    EXPECT_FLOAT_EQ(state[0], 50 + 0.9f * 1 + 0.2f * 10);
    EXPECT_FLOAT_EQ(state[1], 25 + 0.1f * 1 + 0.8f * 10);
}

}  // namespace
}  // namespace ds4
