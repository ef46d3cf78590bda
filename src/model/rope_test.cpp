#include "model/rope.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace ds4 {
namespace {

rope::YarnParams flash_yarn() {
    rope::YarnParams y;
    y.factor = 16;
    y.orig_ctx = 65536;
    y.beta_fast = 32;
    y.beta_slow = 1;
    return y;
}

TEST(Rope, YarnCorrectionRangeForFlash) {
    int lo, hi;
    rope::yarn_corr_range(64, 160000.0f, flash_yarn(), &lo, &hi);
    EXPECT_EQ(lo, 15);
    EXPECT_EQ(hi, 25);
    rope::yarn_corr_range(64, 10000.0f, flash_yarn(), &lo, &hi);
    EXPECT_EQ(lo, 20);  // corr(32) = 20.1, corr(1) = 32.1 for base 10000
    EXPECT_EQ(hi, 33);
}

TEST(Rope, PlainAndYarnFrequencies) {
    const std::vector<float> plain = rope::inv_freqs(64, 10000.0f, rope::YarnParams{});
    ASSERT_EQ(plain.size(), 32u);
    for (int i = 0; i < 32; ++i) EXPECT_NEAR(plain[i], std::pow(10000.0, -2.0 * i / 64), 1e-6 * plain[i]);
    const std::vector<float> base = rope::inv_freqs(64, 160000.0f, rope::YarnParams{});
    const std::vector<float> yarn = rope::inv_freqs(64, 160000.0f, flash_yarn());
    for (int i = 0; i <= 15; ++i) EXPECT_FLOAT_EQ(yarn[i], base[i]);           // extrapolated
    for (int i = 25; i < 32; ++i) EXPECT_FLOAT_EQ(yarn[i], base[i] / 16.0f);   // interpolated
    for (int i = 16; i < 25; ++i) {
        EXPECT_LT(yarn[i], base[i]);
        EXPECT_GT(yarn[i], base[i] / 16.0f);
    }
}

TEST(Rope, AdjacentPairsAndExactInverse) {
    std::vector<float> f = rope::inv_freqs(8, 10000.0f, rope::YarnParams{});
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8];
    std::copy(x, x + 8, y);
    rope::rotate_pairs(y, 4, f.data(), 5, false);
    // pair 0 rotates by 5 rad (theta_0 = 1): (1, 2) -> (cos5 - 2 sin5, sin5 + 2 cos5)
    EXPECT_NEAR(y[0], std::cos(5.0f) - 2 * std::sin(5.0f), 1e-5);
    EXPECT_NEAR(y[1], std::sin(5.0f) + 2 * std::cos(5.0f), 1e-5);
    for (int i = 0; i < 4; ++i)  // rotation keeps each pair's norm
        EXPECT_NEAR(std::hypot(y[2 * i], y[2 * i + 1]), std::hypot(x[2 * i], x[2 * i + 1]), 1e-5);
    rope::rotate_pairs(y, 4, f.data(), 5, true);
    for (int i = 0; i < 8; ++i) EXPECT_NEAR(y[i], x[i], 1e-5);
    float z[8];
    std::copy(x, x + 8, z);
    rope::rotate_pairs(z, 4, f.data(), 0, false);  // position 0 is the identity
    for (int i = 0; i < 8; ++i) EXPECT_EQ(z[i], x[i]);
}

// The vectorised rotation against the scalar formula (angle = float(pos) * theta_i in fp32,
// x0*c - x1*s and x0*s + x1*c): random data, pair counts with and without a scalar tail and
// beyond one factor table, both directions, bit for bit.
TEST(Rope, VectorisedRotationMatchesScalarBitForBit) {
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0, 4);
    for (int n_pairs : {1, 5, 8, 13, 32, 33, 70}) {
        const std::vector<float> f = rope::inv_freqs(2 * n_pairs, 160000.0f, flash_yarn());
        for (int64_t pos : {int64_t(0), int64_t(7), int64_t(1234567)}) {
            for (bool inverse : {false, true}) {
                std::vector<float> x(2 * n_pairs);
                for (float& v : x) v = nd(rng);
                std::vector<float> y = x;
                rope::rotate_pairs(y.data(), n_pairs, f.data(), pos, inverse);
                for (int i = 0; i < n_pairs; ++i) {
                    const float ang = float(pos) * f[i];
                    const float c = std::cos(ang), sn = inverse ? -std::sin(ang) : std::sin(ang);
                    const float r0 = x[2 * i] * c - x[2 * i + 1] * sn, r1 = x[2 * i] * sn + x[2 * i + 1] * c;
                    ASSERT_EQ(std::memcmp(&y[2 * i], &r0, 4), 0) << n_pairs << " " << pos << " " << i;
                    ASSERT_EQ(std::memcmp(&y[2 * i + 1], &r1, 4), 0) << n_pairs << " " << pos << " " << i;
                }
            }
        }
    }
}

}  // namespace
}  // namespace ds4
