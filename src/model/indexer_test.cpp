#include "model/indexer.h"

#include <gtest/gtest.h>

#include <vector>

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
    indexer::scores(q, w, keys, 2, 2, 2, false, s);
    EXPECT_FLOAT_EQ(s[0], 2 * 0.5f + 0 * 2.0f);       // head 1 dot -3 is cut by the ReLU
    EXPECT_FLOAT_EQ(s[1], 0 * 0.5f + 4 * 2.0f);
}

}  // namespace
}  // namespace ds4
