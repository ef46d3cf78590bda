#include "model/indexer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "quant/float16.h"

namespace ds4 {
namespace {

TEST(Indexer, TopKTiesGoToTheLowerIndex) {
    const float score[8] = {1, 5, 3, 5, 3, 5, 0, 3};
    int32_t out[8], heap[8];
    ASSERT_EQ(indexer::top_k(score, 8, 4, out, heap), 4);
    const int32_t want[4] = {1, 3, 5, 2};  // three 5s by index, then the first 3
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], want[i]);
    ASSERT_EQ(indexer::top_k(score, 8, 5, out, heap), 5);
    EXPECT_EQ(out[4], 4);
    ASSERT_EQ(indexer::top_k(score, 3, 10, out, heap), 3);  // k > n: everything, best first
    EXPECT_EQ(out[0], 1);
    EXPECT_EQ(out[1], 2);
    EXPECT_EQ(out[2], 0);
}

TEST(Indexer, ScoresAreWeightedReluOfHeadDots) {
    // 2 heads, dim 2; key rows (1,0) and (0,1).
    const float q[4] = {2, -1, -3, 4}, w[2] = {0.5f, 2.0f}, keys[4] = {1, 0, 0, 1};
    float s[2];
    indexer::scores(q, w, keys, 2, 0, 2, 2, 2, false, s);
    EXPECT_FLOAT_EQ(s[0], 2 * 0.5f + 0 * 2.0f);       // head 1 dot -3 is cut by the ReLU
    EXPECT_FLOAT_EQ(s[1], 0 * 0.5f + 4 * 2.0f);
}

TEST(Indexer, VectorisedScoresMatchScalarBitForBit) {
    // Row counts around the 16-row pass and the 32-column torch tail, odd dims, head counts
    // not a multiple of 4, split row ranges, NaN/Inf/huge products, both numerics modes.
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    auto bf16v = [](float x) { return bf16_to_fp32(fp32_to_bf16(x)); };
    for (bool bf16 : {true, false})
        for (int n_heads : {1, 6, 13, 64})
            for (int dim : {1, 7, 40, 128})
                for (int64_t n_rows : {1, 3, 15, 16, 17, 31, 33, 64, 77}) {
                    std::vector<float> q(size_t(n_heads) * dim), w(static_cast<size_t>(n_heads)), keys(size_t(n_rows) * dim);
                    for (auto& x : q) x = bf16v(nd(rng));
                    for (auto& x : w) x = nd(rng) * 0.1f;
                    for (auto& x : keys) x = bf16v(nd(rng));
                    if (n_rows > 5) {
                        keys[size_t(2) * dim] = 3e38f;
                        keys[size_t(3) * dim] = INFINITY;
                        keys[size_t(4) * dim] = NAN;
                    }
                    std::vector<float> want(static_cast<size_t>(n_rows)), got(size_t(n_rows), -1.0f);
                    indexer::scores_reference(q.data(), w.data(), keys.data(), n_rows, n_heads, dim, bf16, want.data());
                    const int64_t mid = n_rows / 3;
                    indexer::scores(q.data(), w.data(), keys.data(), n_rows, 0, mid, n_heads, dim, bf16, got.data());
                    indexer::scores(q.data(), w.data(), keys.data(), n_rows, mid, n_rows, n_heads, dim, bf16, got.data());
                    for (int64_t c = 0; c < n_rows; ++c)
                        ASSERT_EQ(0, std::memcmp(&want[c], &got[c], 4))
                            << "bf16 " << bf16 << " heads " << n_heads << " dim " << dim << " rows " << n_rows
                            << " row " << c << ": " << want[c] << " vs " << got[c];
                }
}

}  // namespace
}  // namespace ds4
