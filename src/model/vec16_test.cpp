#include "model/vec16.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

namespace ds4 {
namespace {

uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

// Random floats of every kind: normal values at many scales, ties for bf16, zeros of both
// signs, subnormals, infinities and NaNs.
std::vector<float> hostile(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0, 1);
    std::vector<float> x(n);
    for (size_t i = 0; i < n; ++i) {
        x[i] = nd(rng) * std::ldexp(1.0f, int(rng() % 40) - 20);
        uint32_t u = bits(x[i]);
        if (i % 7 == 3) u = (u & 0xFFFF0000u) | 0x8000u;            // bf16 tie
        if (i % 53 == 5) u = (u & 0x80000000u) | (rng() & 0x7FFFFFu);  // subnormal or zero
        if (i % 61 == 7) u = (u & 0x807FFFFFu) | 0x7F800000u;        // inf or NaN
        std::memcpy(&x[i], &u, 4);
    }
    return x;
}

TEST(Vec16, ExpMatchesScalarSleefBitForBit) {
    std::vector<float> x = hostile(4096, 1);
    std::mt19937 rng(2);
    for (size_t i = 0; i < x.size(); i += 3) x[i] = std::uniform_real_distribution<float>(-110, 105)(rng);
    for (float edge : {-104.0f, -103.99f, -104.01f, 100.0f, 100.01f, 99.99f, 0.0f, -0.0f, 88.7f, -87.3f})
        x.push_back(edge);
    x.resize((x.size() + 15) / 16 * 16, 1.0f);
    for (size_t i = 0; i < x.size(); i += 16) {
        float y[16];
        vec::store(y, vec::expf(vec::load(&x[i])));
        for (int l = 0; l < 16; ++l) ASSERT_EQ(bits(y[l]), bits(tcpu::expf(x[i + l]))) << x[i + l];
    }
}

TEST(Vec16, RoundBf16MatchesScalarBitForBit) {
    std::vector<float> x = hostile(1000 + 13, 3);
    std::vector<float> y = x;
    vec::round_bf16_span(y.data(), y.size());
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(bits(y[i]), bits(bf16_to_fp32(fp32_to_bf16(x[i])))) << i;
}

TEST(Vec16, LevelSumMatchesScalarPerLane) {
    std::vector<float> x = hostile(16 * 5000, 4);
    for (float& v : x)
        if (!std::isfinite(v)) v = 1.0f;
    for (int64_t size : {0, 1, 15, 16, 17, 255, 256, 257, 4096, 4999}) {
        const vec::v16 s = vec::level_sum<vec::v16>(size, [&](int64_t i) { return vec::load(&x[size_t(i) * 16]); });
        for (int l = 0; l < 16; ++l)
            ASSERT_EQ(bits(s[l]), bits(tcpu::level_sum(size, [&](int64_t i) { return x[size_t(i) * 16 + l]; })))
                << size << " lane " << l;
    }
}

// vec::sum of f(x) is tcpu::sum of the stored f(x), for every length (the tails of tcpu::sum
// included) and the transforms the ops use.
TEST(Vec16, SumMatchesTorchCascadeSumBitForBit) {
    std::vector<float> x = hostile(70001, 5);
    for (float& v : x)
        if (!std::isfinite(v)) v = -2.5f;
    auto square = [](vec::v16 v) { return v * v; };
    auto bf16_square = [](vec::v16 v) { return vec::round_bf16(v * v); };
    std::vector<int64_t> sizes;
    for (int64_t n = 0; n <= 140; ++n) sizes.push_back(n);
    for (int64_t n : {255, 256, 257, 511, 512, 513, 1024, 4095, 4096, 4097, 16384, 16389, 70001}) sizes.push_back(n);
    for (int64_t n : sizes) {
        for (size_t off : {size_t(0), size_t(3)}) {
            const float* p = x.data() + off;
            std::vector<float> sq(static_cast<size_t>(n)), bsq(static_cast<size_t>(n));
            for (int64_t i = 0; i < n; ++i) {
                sq[i] = p[i] * p[i];
                bsq[i] = bf16_to_fp32(fp32_to_bf16(p[i] * p[i]));
            }
            ASSERT_EQ(bits(vec::sum(p, n, [](vec::v16 v) { return v; })), bits(tcpu::sum(p, n))) << n;
            ASSERT_EQ(bits(vec::sum(p, n, square)), bits(tcpu::sum(sq.data(), n))) << n;
            ASSERT_EQ(bits(vec::sum(p, n, bf16_square)), bits(tcpu::sum(bsq.data(), n))) << n;
        }
    }
}

}  // namespace
}  // namespace ds4
