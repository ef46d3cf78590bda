// Unit tests for the FP8 / FP4 / E8M0 formats and the act-quant emulations: decoding tables,
// round-to-nearest-even encoders checked against a brute-force search over the grids
// (including every tie), bit-exact ue8m0 scales, and the Walsh-Hadamard transform.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "quant/float16.h"
#include "quant/lowp.h"

namespace ds4 {
namespace {

// Brute force: the code whose value is nearest to v among the finite non-negative codes
// [0, max_code], ties to the even code; v is clamped to the largest value first.
int brute_nearest(float v, int max_code, float (*decode)(uint8_t)) {
    const double a = std::fabs((double)v);
    int best = 0;
    double best_d = INFINITY;
    for (int c = 0; c <= max_code; ++c) {
        const double d = std::fabs((double)decode((uint8_t)c) - a);
        if (d < best_d || (d == best_d && (c % 2 == 0))) {
            best_d = d;
            best = c;
        }
    }
    return best;
}

TEST(LowpE4M3, DecodeTable) {
    EXPECT_EQ(e4m3_to_f32(0x00), 0.0f);
    EXPECT_TRUE(std::signbit(e4m3_to_f32(0x80)));
    EXPECT_EQ(e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
    EXPECT_EQ(e4m3_to_f32(0x07), 7 * std::ldexp(1.0f, -9));
    EXPECT_EQ(e4m3_to_f32(0x08), std::ldexp(1.0f, -6));
    EXPECT_EQ(e4m3_to_f32(0x38), 1.0f);
    EXPECT_EQ(e4m3_to_f32(0x7E), 448.0f);
    EXPECT_EQ(e4m3_to_f32(0xFE), -448.0f);
    EXPECT_TRUE(std::isnan(e4m3_to_f32(0x7F)));
    EXPECT_TRUE(std::isnan(e4m3_to_f32(0xFF)));
    EXPECT_EQ(e4m3_to_f32_nan_as_zero(0x7F), 0.0f);
    EXPECT_EQ(e4m3_to_f32_nan_as_zero(0xC0), -2.0f);
    // strictly increasing over the positive codes; every code round-trips
    for (int c = 1; c <= 0x7E; ++c) EXPECT_LT(e4m3_to_f32((uint8_t)(c - 1)), e4m3_to_f32((uint8_t)c));
    for (int c = 0; c < 256; ++c) {
        if ((c & 0x7F) == 0x7F) continue;
        EXPECT_EQ(f32_to_e4m3(e4m3_to_f32((uint8_t)c)), c) << c;
    }
}

TEST(LowpE4M3, EncodeMatchesBruteForce) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> ex(-14.f, 10.f);
    std::uniform_real_distribution<float> u01(0.f, 1.f);
    int checked = 0;
    for (int i = 0; i < 200000; ++i) {
        float v = std::exp2(ex(rng)) * (u01(rng) < 0.5f ? -1.f : 1.f);
        const uint8_t got = f32_to_e4m3(v);
        const int want = brute_nearest(std::min(std::fabs(v), 448.0f), 0x7E, e4m3_to_f32);
        ASSERT_EQ(got & 0x7F, want) << v;
        ASSERT_EQ(got >> 7, std::signbit(v) ? 1 : 0);
        ++checked;
    }
    // every tie (midpoint of neighbouring codes) goes to the even code, plus neighbours
    for (int c = 0; c < 0x7E; ++c) {
        const float lo = e4m3_to_f32((uint8_t)c), hi = e4m3_to_f32((uint8_t)(c + 1));
        const float mid = (lo + hi) / 2;  // exact in float
        const int even = (c % 2 == 0) ? c : c + 1;
        EXPECT_EQ(f32_to_e4m3(mid), even) << "tie between codes " << c << " and " << c + 1;
        EXPECT_EQ(f32_to_e4m3(-mid), 0x80 | even);
        EXPECT_EQ(f32_to_e4m3(std::nextafter(mid, 0.f)), c);
        EXPECT_EQ(f32_to_e4m3(std::nextafter(mid, 1000.f)), c + 1);
        checked += 4;
    }
    // saturation and NaN
    EXPECT_EQ(f32_to_e4m3(449.f), 0x7E);
    EXPECT_EQ(f32_to_e4m3(1e30f), 0x7E);
    EXPECT_EQ(f32_to_e4m3(-INFINITY), 0xFE);
    EXPECT_EQ(f32_to_e4m3(NAN) & 0x7F, 0x7F);
    EXPECT_EQ(f32_to_e4m3(std::ldexp(1.f, -10)), 0x00);          // half of min subnormal: tie -> 0
    EXPECT_EQ(f32_to_e4m3(std::ldexp(1.5f, -10)), 0x01);
    std::printf("[ lowp ] e4m3 encoder: %d values checked against brute force\n", checked);
}

TEST(LowpE2M1, DecodeEncode) {
    const float vals[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
    for (int c = 0; c < 16; ++c) {
        const float v = e2m1_to_f32((uint8_t)c);
        EXPECT_EQ(std::fabs(v), vals[c & 7]);
        EXPECT_EQ(std::signbit(v), (c & 8) != 0);
        EXPECT_EQ(f32_to_e2m1(v), c);
    }
    // the tie table of MODEL-SPEC 6.4
    const std::pair<float, float> ties[] = {{0.25f, 0}, {0.75f, 1}, {1.25f, 1}, {1.75f, 2},
                                            {2.5f, 2},  {3.5f, 4},  {5.0f, 4}};
    for (auto [x, want] : ties) {
        EXPECT_EQ(e2m1_to_f32(f32_to_e2m1(x)), want) << x;
        EXPECT_EQ(e2m1_to_f32(f32_to_e2m1(-x)), -want) << -x;
    }
    EXPECT_EQ(f32_to_e2m1(100.f), 7);
    EXPECT_EQ(f32_to_e2m1(-7.f), 15);
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> d(-7.f, 7.f);
    for (int i = 0; i < 200000; ++i) {
        const float v = d(rng);
        const int want = brute_nearest(std::min(std::fabs(v), 6.0f), 7, e2m1_to_f32);
        ASSERT_EQ(f32_to_e2m1(v) & 7, want) << v;
    }
    const uint8_t packed[2] = {0x21, 0xF7};  // elements: 0.5, 1, 6, -6
    EXPECT_EQ(e2m1_packed_get(packed, 0), 0.5f);
    EXPECT_EQ(e2m1_packed_get(packed, 1), 1.0f);
    EXPECT_EQ(e2m1_packed_get(packed, 2), 6.0f);
    EXPECT_EQ(e2m1_packed_get(packed, 3), -6.0f);
}

TEST(LowpE8M0, Decode) {
    EXPECT_EQ(e8m0_to_f32(127), 1.0f);
    EXPECT_EQ(e8m0_to_f32(128), 2.0f);
    EXPECT_EQ(e8m0_to_f32(120), std::ldexp(1.0f, -7));
    EXPECT_EQ(e8m0_to_f32(1), std::ldexp(1.0f, -126));
    EXPECT_EQ(e8m0_to_f32(0), std::ldexp(1.0f, -127));
    EXPECT_EQ(e8m0_to_f32(254), std::ldexp(1.0f, 127));
    EXPECT_TRUE(std::isnan(e8m0_to_f32(255)));
}

TEST(LowpScale, Ue8m0IsBitExactCeilLog2) {
    EXPECT_EQ(ue8m0_round_scale(448.f, kE4M3MaxInv), 1.0f);  // 448 * fp32(1/448) rounds to 1
    EXPECT_EQ(ue8m0_round_scale(1e-4f, kE4M3MaxInv), std::ldexp(1.f, -22));
    EXPECT_EQ(ue8m0_round_scale(6.f, kE2M1MaxInv), 1.0f);
    EXPECT_EQ(ue8m0_round_scale(kFp4AmaxFloor, kE2M1MaxInv), std::ldexp(1.f, -126));  // 6*fp32(1/6) rounds to 1
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> ex(-13.f, 20.f);
    for (int i = 0; i < 100000; ++i) {
        const float amax = std::exp2(ex(rng));
        const float t = amax * kE4M3MaxInv;  // float32 product, as the official code
        const float want = std::ldexp(1.0f, (int)std::ceil(std::log2((double)t)));
        ASSERT_EQ(ue8m0_round_scale(amax, kE4M3MaxInv), want) << amax;
        const float s = ue8m0_round_scale(amax, kE4M3MaxInv);
        ASSERT_GE(s * 448.0f, t);  // no overflow of the scaled block max beyond 448*(1+ulp)
    }
}

// A block roundtrip result must be code(x/s) * s with code the brute-force nearest.
TEST(LowpFp8, BlockRoundtripLandsOnGrid) {
    std::mt19937 rng(5);
    std::normal_distribution<float> g(0.f, 1.f);
    int checked = 0;
    for (int trial = 0; trial < 300; ++trial) {
        const int block = (trial % 2) ? 64 : 128;
        const int n = block * 3;
        const float mag = std::exp2((float)(trial % 40) - 20.f);
        std::vector<float> x(n);
        for (float& v : x) v = g(rng) * mag;
        if (trial == 7) std::fill(x.begin(), x.begin() + block, 0.0f);  // amax floor
        std::vector<float> y = x;
        fp8_e4m3_block_roundtrip(y.data(), n, block);
        std::vector<float> yb(n);  // the official in-place form: bf16 write-back
        for (int i = 0; i < n; ++i) yb[i] = bf16_to_fp32(fp32_to_bf16(y[i]));
        for (int b = 0; b < n; b += block) {
            float amax = 0;
            for (int i = 0; i < block; ++i) amax = std::max(amax, std::fabs(x[b + i]));
            amax = std::max(amax, 1e-4f);
            const float s = std::ldexp(1.0f, (int)std::ceil(std::log2((double)(amax * (1.0f / 448.0f)))));
            for (int i = 0; i < block; ++i) {
                const float v = std::clamp(x[b + i] / s, -448.f, 448.f);
                const int c = brute_nearest(v, 0x7E, e4m3_to_f32);
                const float want = (std::signbit(v) ? -1.f : 1.f) * e4m3_to_f32((uint8_t)c) * s;
                ASSERT_EQ(f32_bits(y[b + i]), f32_bits(want)) << "trial " << trial << " i " << b + i;
                ASSERT_EQ(f32_bits(yb[b + i]), f32_bits(bf16_to_fp32(fp32_to_bf16(want))));
                ASSERT_EQ(yb[b + i], y[b + i]);  // bf16 write-back is exact
                ++checked;
            }
        }
    }
    std::printf("[ lowp ] fp8 block roundtrip: %d values checked\n", checked);
}

TEST(LowpFp4, BlockRoundtripLandsOnGrid) {
    std::mt19937 rng(9);
    std::normal_distribution<float> g(0.f, 1.f);
    int checked = 0;
    for (int trial = 0; trial < 500; ++trial) {
        const int n = 128;
        const float mag = std::exp2((float)(trial % 60) - 30.f);
        std::vector<float> x(n);
        for (float& v : x) v = g(rng) * mag;
        if (trial == 3) std::fill(x.begin(), x.begin() + 32, 0.0f);
        std::vector<float> y = x;
        fp4_e2m1_block_roundtrip(y.data(), n, 32);
        for (int b = 0; b < n; b += 32) {
            float amax = 0;
            for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b + i]));
            amax = std::max(amax, 6.0f * std::ldexp(1.0f, -126));
            const float s = std::ldexp(1.0f, (int)std::ceil(std::log2((double)(amax * (1.0f / 6.0f)))));
            for (int i = 0; i < 32; ++i) {
                const float v = std::clamp(x[b + i] / s, -6.f, 6.f);
                const int c = brute_nearest(v, 7, e2m1_to_f32);
                const float want = (std::signbit(v) ? -1.f : 1.f) * e2m1_to_f32((uint8_t)c) * s;
                ASSERT_EQ(f32_bits(y[b + i]), f32_bits(want)) << "trial " << trial << " i " << b + i;
                ASSERT_EQ(bf16_to_fp32(fp32_to_bf16(y[b + i])), y[b + i]);
                ++checked;
            }
        }
    }
    // exact ties on the grid of a block whose scale is 1 (amax = 6)
    float t[32] = {6.0f, 0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f, -5.0f};
    fp4_e2m1_block_roundtrip(t, 32, 32);
    const float want[9] = {6.0f, 0.0f, 1.0f, 1.0f, 2.0f, 2.0f, 4.0f, 4.0f, -4.0f};
    for (int i = 0; i < 9; ++i) EXPECT_EQ(t[i], want[i]) << i;
    std::printf("[ lowp ] fp4 block roundtrip: %d values checked\n", checked);
}

TEST(LowpFp8, QuantizeBlockCodes) {
    float x[4] = {448.0f, -1.0f, 0.0f, 3.0f};
    uint8_t c[4];
    const float s = fp8_e4m3_quantize_block(x, 4, c);
    EXPECT_EQ(s, 1.0f);
    EXPECT_EQ(c[0], 0x7E);
    EXPECT_EQ(c[1], 0xB8);
    EXPECT_EQ(c[2], 0x00);
    EXPECT_EQ(e4m3_to_f32(c[3]), 3.0f);
}

TEST(LowpHadamard, MatchesSylvesterMatrix) {
    std::mt19937 rng(1);
    std::normal_distribution<float> g(0.f, 1.f);
    for (int n : {1, 2, 8, 64, 128, 256}) {
        std::vector<float> x(n);
        for (float& v : x) v = g(rng);
        std::vector<float> y = x;
        const float scale = 1.0f / std::sqrt((float)n);
        hadamard_inplace(y.data(), n, scale);
        for (int i = 0; i < n; ++i) {
            double s = 0, sa = 0;
            for (int j = 0; j < n; ++j) {
                const double h = (__builtin_popcount((unsigned)(i & j)) & 1) ? -1.0 : 1.0;
                s += h * x[j];
                sa += std::fabs(x[j]);
            }
            EXPECT_NEAR(y[i], s * scale, 1e-6 * sa) << "n=" << n << " i=" << i;
        }
        hadamard_inplace(y.data(), n, scale);  // orthonormal + symmetric: involution
        for (int i = 0; i < n; ++i) EXPECT_NEAR(y[i], x[i], 1e-5f);
    }
    // exact small case: H2 (x) H2 in Sylvester order
    float v[4] = {1, 2, 3, 4};
    hadamard_inplace(v, 4, 1.0f);
    EXPECT_EQ(v[0], 10.f);
    EXPECT_EQ(v[1], -2.f);
    EXPECT_EQ(v[2], -4.f);
    EXPECT_EQ(v[3], 0.f);
    EXPECT_EQ(0.08838834764831845f, 1.0f / std::sqrt(128.0f));
}

}  // namespace
}  // namespace ds4
