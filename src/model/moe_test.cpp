#include "model/moe.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ds4 {
namespace {

TEST(Moe, RoutingWeightsUseUnbiasedScoresRenormalised) {
    const float logits[5] = {0.5f, -1.0f, 2.0f, 0.0f, 1.0f};
    const float bias[5] = {0, 10, 0, 0, 0};  // pushes expert 1 into the selection only
    float p[5], w[2];
    int32_t sel[2];
    moe::route_token(logits, bias, nullptr, 5, 2, 1.5f, p, sel, w);
    EXPECT_EQ(sel[0], 1);
    EXPECT_EQ(sel[1], 2);
    const float p1 = std::sqrt(std::log1p(std::exp(-1.0f))), p2 = std::sqrt(std::log1p(std::exp(2.0f)));
    EXPECT_NEAR(w[0], p1 / (p1 + p2) * 1.5f, 1e-6);
    EXPECT_NEAR(w[1], p2 / (p1 + p2) * 1.5f, 1e-6);
    EXPECT_NEAR(w[0] + w[1], 1.5f, 1e-6);
}

TEST(Moe, HashRoutingTakesTheTableRowAndIgnoresBias) {
    const float logits[4] = {3, 2, 1, 0}, bias[4] = {0, 0, 0, 100};
    const int32_t row[3] = {2, 0, 3};
    float p[4], w[2];
    int32_t sel[2];
    moe::route_token(logits, bias, row, 4, 2, 1.0f, p, sel, w);  // k = 2: first two columns
    EXPECT_EQ(sel[0], 2);
    EXPECT_EQ(sel[1], 0);
    EXPECT_NEAR(w[0] + w[1], 1.0f, 1e-6);
    EXPECT_GT(w[1], w[0]);
}

TEST(Moe, TopKTiesGoToTheLowerExpert) {
    const float logits[4] = {1, 1, 1, 1};
    float p[4], w[2];
    int32_t sel[2];
    moe::route_token(logits, nullptr, nullptr, 4, 2, 1.0f, p, sel, w);
    EXPECT_EQ(sel[0], 0);
    EXPECT_EQ(sel[1], 1);
}

TEST(Moe, SwigluClampIsAsymmetric) {
    EXPECT_FLOAT_EQ(moe::swiglu(20, 1, 10), moe::silu(10));         // gate clamped from above
    EXPECT_FLOAT_EQ(moe::swiglu(-20, 1, 10), moe::silu(-20));       // ... but not from below
    EXPECT_FLOAT_EQ(moe::swiglu(1, 20, 10), moe::silu(1) * 10);     // up clamped to [-c, c]
    EXPECT_FLOAT_EQ(moe::swiglu(1, -20, 10), moe::silu(1) * -10);
    EXPECT_FLOAT_EQ(moe::swiglu(20, 20, 0), moe::silu(20) * 20);    // c = 0: no clamp
    EXPECT_NEAR(moe::sqrt_softplus(30), std::sqrt(30.0f), 1e-6);    // softplus threshold 20
}

}  // namespace
}  // namespace ds4
