#include "backend/backend.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/backend_testing.h"
#include "backend/thread_pool.h"
#include "model/moe.h"
#include "model/rope.h"
#include "model/torch_cpu.h"
#include "quant/float16.h"
#include "quant/lowp.h"
#include "quant/quants.h"

namespace ds4 {
namespace {

TEST(Backend, ThreadPoolCoversEveryIndexOnce) {
    ThreadPool pool(4);
    for (int64_t n : {0, 1, 7, 64, 1000}) {
        for (int64_t grain : {1, 3, 64}) {
            std::vector<std::atomic<int>> hits(size_t(std::max<int64_t>(n, 1)));
            pool.parallel_for(n, grain, [&](int64_t b, int64_t e, int t) {
                EXPECT_LT(t, pool.size());
                EXPECT_LE(e - b, grain);
                for (int64_t i = b; i < e; ++i) hits[i]++;
            });
            for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << n << " " << grain << " " << i;
        }
    }
}

using test::StoredMatrix;

// The vectorised, threaded round_bf16 (and the threaded fp8/fp4 row ops) match the scalar
// converters bit for bit: random values, ties, NaNs, infinities, subnormals, odd lengths.
TEST(Backend, RowRoundingOpsMatchScalarBitForBit) {
    auto be = make_cpu_backend(2);
    std::mt19937 rng(11);
    for (size_t n : {size_t(1), size_t(17), size_t(1000), size_t(70001)}) {
        std::vector<float> x(n);
        for (size_t i = 0; i < n; ++i) {
            uint32_t u = uint32_t(rng());
            if (i % 7 == 0) u = (u & 0xFFFF0000u) | 0x8000u;  // ties
            if (i % 11 == 0) u = (u & 0x807FFFFFu) | 0x7F800000u;  // inf / NaN
            std::memcpy(&x[i], &u, 4);
        }
        std::vector<float> ref(x), got(x);
        for (float& v : ref) v = bf16_to_fp32(fp32_to_bf16(v));
        be->round_bf16(got.data(), n);
        ASSERT_EQ(0, std::memcmp(ref.data(), got.data(), n * sizeof(float))) << n;
    }
    std::normal_distribution<float> nd(0, 3);
    const int rows = 37, n = 512;
    std::vector<float> x(size_t(rows) * n);
    for (size_t i = 0; i < x.size(); ++i) {
        const int blk = int(i / 64);
        x[i] = nd(rng) * std::ldexp(1.0f, blk % 40 - 20);  // every scale, subnormal grid included
        if (i % 13 == 0) x[i] = -0.0f;
        if (i % 29 == 0) x[i] = std::ldexp(float(int(rng() % 64) + 0.5f), int(rng() % 12) - 8);  // ties
    }
    x[5 * 64 + 3] = std::nanf("");
    x[7 * 64 + 9] = INFINITY;
    x[9 * 64 + 1] = -INFINITY;
    for (int i = 0; i < 64; ++i) x[11 * 64 + i] = 1e-30f * float(i);  // amax floor
    static const float kFp4Ties[] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f, 6.0f};  // ties, amax 6: s = 1
    for (int i = 0; i < 64; ++i) x[13 * 64 + i] = (i % 2 ? -1.f : 1.f) * kFp4Ties[i % 8] * (i < 32 ? 1.0f : 0.25f);
    std::vector<float> ref(x), got(x);
    for (int r = 0; r < rows; ++r) fp8_e4m3_block_roundtrip(ref.data() + size_t(r) * n, n, 64);
    be->fp8_rows(got.data(), rows, n, n);
    ASSERT_EQ(0, std::memcmp(ref.data(), got.data(), ref.size() * sizeof(float)));
    ref = x, got = x;
    for (int r = 0; r < rows; ++r) fp4_e2m1_block_roundtrip(ref.data() + size_t(r) * n, n, 32);
    be->fp4_rows(got.data(), rows, n);
    ASSERT_EQ(0, std::memcmp(ref.data(), got.data(), ref.size() * sizeof(float)));
}

TEST(Backend, MatmulInEveryStoredType) {
    auto be = make_cpu_backend(2);
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0, 1);
    const int64_t n = 512, rows = 37;
    const int T = 3;
    for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q2_K,
                       GgmlType::IQ2_XXS}) {
        StoredMatrix m(t, n, rows, rng);
        std::vector<float> x(size_t(T) * n), y(size_t(T) * rows, 0.0f);
        for (auto& v : x) v = nd(rng);
        // rows 5..5+20 only, into a strided output
        be->matmul(m.w, 5, 20, x.data(), n, T, y.data(), rows);
        for (int tok = 0; tok < T; ++tok)
            for (int r = 0; r < 20; ++r) {
                double ref = 0, mag = 0;
                for (int64_t i = 0; i < n; ++i) {
                    ref += double(m.deq[(5 + r) * n + i]) * x[tok * n + i];
                    mag += std::fabs(double(m.deq[(5 + r) * n + i]) * x[tok * n + i]);
                }
                // float weights keep f32 activations (tight); quantized ones quantize the
                // activation to Q8_0 / Q8_K (about 1% of the magnitude).
                const double tol = (t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16) ? 1e-5 : 2e-2;
                EXPECT_NEAR(y[tok * rows + r], ref, tol * mag) << type_name(uint32_t(t)) << " row " << r;
            }
        for (int r = 20; r < rows; ++r) EXPECT_EQ(y[r], 0.0f);  // only n_rows outputs written
    }
}

// matmul_groups (one job for G groups sharing a weight) equals the G separate matmul calls
// bit for bit: quantized and float weights, exact (-2 = bf16 pair order) and plain, decode and
// prefill token counts.
TEST(Backend, GroupedMatmulMatchesPerGroupCallsBitForBit) {
    auto be = make_cpu_backend(2);
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0, 1);
    const int G = 4;
    const int64_t n = 256, rows = 40;
    for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::BF16, GgmlType::F32})
        for (int exact_block : {0, -2})
            for (int T : {1, 3, 9}) {
                StoredMatrix m(t, n, G * rows, rng);
                std::vector<float> x(size_t(T) * G * n), want(size_t(T) * G * rows), got(want.size());
                for (auto& v : x) v = bf16_to_fp32(fp32_to_bf16(nd(rng)));
                for (int g = 0; g < G; ++g)
                    be->matmul(m.w, g * rows, rows, x.data() + g * n, G * n, T, want.data() + g * rows, G * rows,
                               ActQuant::None, exact_block);
                be->matmul_groups(m.w, G, rows, x.data(), T, got.data(), G * rows, exact_block);
                ASSERT_EQ(0, std::memcmp(want.data(), got.data(), sizeof(float) * want.size()))
                    << type_name(uint32_t(t)) << " exact " << exact_block << " T " << T;
            }
}

// matmuls (a batch of independent products as one job) equals the separate matmul calls bit
// for bit: mixed types, exact orders and activation conversions, calls sharing an input (one
// converted copy) and not, row offsets, strided outputs, decode and prefill token counts.
TEST(Backend, BatchedMatmulsMatchSeparateCallsBitForBit) {
    auto be = make_cpu_backend(2);
    std::mt19937 rng(9);
    std::normal_distribution<float> nd(0, 1);
    const int64_t n = 512;
    struct Spec {
        GgmlType t;
        int64_t rows, row0, n_rows;
        int input;  // which of the two inputs
        ActQuant aq;
        int exact_block;
    };
    const Spec specs[] = {
        {GgmlType::Q8_0, 300, 0, 300, 0, ActQuant::Fp8Block128, 128},
        {GgmlType::Q8_0, 64, 8, 40, 0, ActQuant::Fp8Block128, 128},   // shares call 0's conversion
        {GgmlType::Q4_K, 100, 0, 100, 0, ActQuant::None, 0},
        {GgmlType::F16, 70, 0, 70, 0, ActQuant::None, -1},            // sequential order
        {GgmlType::F32, 24, 0, 24, 0, ActQuant::None, -1},
        {GgmlType::BF16, 20, 0, 20, 1, ActQuant::None, -2},           // bf16 pair order
        {GgmlType::Q8_0, 50, 0, 50, 1, ActQuant::None, 0},
        {GgmlType::IQ2_XXS, 33, 0, 33, 1, ActQuant::None, 0},
    };
    constexpr int N = int(sizeof(specs) / sizeof(specs[0]));
    std::vector<StoredMatrix> ms;
    for (const Spec& sp : specs) ms.emplace_back(sp.t, n, sp.rows, rng);
    for (int T : {1, 2, 3, 5}) {
        std::vector<float> x[2];
        for (auto& v : x) {
            v.resize(size_t(T) * (n + 16));
            for (auto& f : v) f = bf16_to_fp32(fp32_to_bf16(nd(rng)));
        }
        std::vector<std::vector<float>> want(N), got(N);
        std::vector<MatmulCall> calls(N);
        for (int i = 0; i < N; ++i) {
            const Spec& sp = specs[i];
            const int64_t ldy = sp.n_rows + 3;
            want[i].assign(size_t(T) * ldy, -1.0f);
            got[i] = want[i];
            be->matmul(ms[i].w, sp.row0, sp.n_rows, x[sp.input].data(), n + 16, T, want[i].data(), ldy, sp.aq,
                       sp.exact_block);
            calls[i] = {&ms[i].w, sp.row0, sp.n_rows, x[sp.input].data(), n + 16, got[i].data(), ldy, sp.aq,
                        sp.exact_block};
        }
        be->matmuls(calls.data(), N, T);
        for (int i = 0; i < N; ++i)
            ASSERT_EQ(0, std::memcmp(want[i].data(), got[i].data(), sizeof(float) * want[i].size()))
                << "call " << i << " (" << type_name(uint32_t(specs[i].t)) << ") T " << T;
    }
}

TEST(Backend, Fp8KvEmulationLandsOnTheGrid) {
    auto be = make_cpu_backend(1);
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0, 2);
    const int D = 192, nope = 128;  // two FP8 blocks of 64, then 64 rotary dims
    std::vector<float> x(D), y;
    for (auto& v : x) v = nd(rng);
    x[3] = 1000;  // one large value sets block 0's scale
    y = x;
    be->fp8_rows(y.data(), 1, D, nope);
    for (int b = 0; b < nope / 64; ++b) {
        float amax = 0;
        for (int i = 0; i < 64; ++i) amax = std::max(amax, std::fabs(x[b * 64 + i]));
        const float s = ue8m0_round_scale(std::max(amax, 1e-4f), kE4M3MaxInv);
        EXPECT_EQ(std::log2(s), std::ceil(std::log2(std::max(amax, 1e-4f) / 448.0f)));
        for (int i = 0; i < 64; ++i) {
            const float q = y[b * 64 + i] / s;
            EXPECT_EQ(e4m3_to_f32(f32_to_e4m3(q)), q) << "not an E4M3 value: " << q;
            EXPECT_LE(std::fabs(y[b * 64 + i] - x[b * 64 + i]), s * 16) << i;  // within one step at 448
        }
    }
    for (int i = nope; i < D; ++i) EXPECT_EQ(y[i], x[i]);  // rotary dims untouched
}

TEST(Backend, HadamardIsOrthonormalAndFp4OnTheGrid) {
    auto be = make_cpu_backend(1);
    std::vector<float> x(128), y;
    for (int i = 0; i < 128; ++i) x[i] = std::sin(0.37f * i) * 3;
    y = x;
    be->hadamard_rows(y.data(), 1, 128);
    double nx = 0, ny = 0;
    for (int i = 0; i < 128; ++i) nx += x[i] * x[i], ny += y[i] * y[i];
    EXPECT_NEAR(ny, nx, 1e-4 * nx);
    be->hadamard_rows(y.data(), 1, 128);  // H is its own inverse
    for (int i = 0; i < 128; ++i) EXPECT_NEAR(y[i], x[i], 1e-5);
    be->fp4_rows(y.data(), 1, 128);
    for (int b = 0; b < 4; ++b) {
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
        const float s = ue8m0_round_scale(amax, kE2M1MaxInv);
        for (int i = 0; i < 32; ++i) EXPECT_EQ(e2m1_to_f32(f32_to_e2m1(y[b * 32 + i] / s)), y[b * 32 + i] / s);
    }
}

// The vectorised decode ops against their scalar definitions: swiglu (moe::swiglu per element,
// both silu paths, with and without the clamp), the bf16 q norm (bf16 input rounding, squares
// and cascade sum; rows on both sides of torch's 32-row vector chunk) and rope_tail's bf16
// output (rotate_pairs, then every dim rounded).
TEST(Backend, SmallDecodeOpsMatchScalarBitForBit) {
    auto be = make_cpu_backend(2);
    std::mt19937 rng(17);
    std::normal_distribution<float> nd(0, 4);
    {
        const size_t n = 2048 + 7;
        std::vector<float> g(n), u(n);
        for (size_t i = 0; i < n; ++i) g[i] = nd(rng), u[i] = nd(rng);
        g[3] = 120.0f, g[4] = -120.0f, g[5] = std::nanf(""), g[6] = INFINITY, u[7] = -INFINITY;
        for (bool exact : {false, true})
            for (float clamp : {0.0f, 7.0f}) {
                std::vector<float> got = g;
                be->swiglu(got.data(), u.data(), n, clamp, exact);
                for (size_t i = 0; i < n; ++i) {
                    const float ref = moe::swiglu(g[i], u[i], clamp, exact);
                    ASSERT_EQ(0, std::memcmp(&got[i], &ref, 4)) << i << " " << exact << " " << clamp;
                }
            }
    }
    for (int n : {72, 512}) {
        const int rows = 37;
        std::vector<float> x(size_t(rows) * n);
        for (float& v : x) v = nd(rng);
        std::vector<float> ref = x, got = x, sq(n);
        for (int r = 0; r < rows; ++r) {
            float* xr = ref.data() + size_t(r) * n;
            auto bf = [](float v) { return bf16_to_fp32(fp32_to_bf16(v)); };
            for (int i = 0; i < n; ++i) xr[i] = bf(xr[i]), sq[i] = bf(xr[i] * xr[i]);
            const float v = bf(bf(tcpu::sum(sq.data(), n) / float(n)) + 1e-6f);
            const float rs = r < rows / 32 * 32 ? bf(1.0f / std::sqrt(v)) : bf(1.0f / bf(std::sqrt(v)));
            for (int i = 0; i < n; ++i) xr[i] = bf(xr[i] * rs);
        }
        be->rms_norm_bf16(got.data(), rows, n, 1e-6f);
        ASSERT_EQ(0, std::memcmp(ref.data(), got.data(), ref.size() * sizeof(float))) << n;
    }
    {
        const int T = 3, H = 5, Dh = 40, n_pairs = 13;
        const std::vector<float> f = rope::inv_freqs(2 * n_pairs, 10000.0f, rope::YarnParams{});
        std::vector<float> x(size_t(T) * H * Dh);
        for (float& v : x) v = bf16_to_fp32(fp32_to_bf16(nd(rng)));
        for (bool bf16 : {false, true}) {
            std::vector<float> ref = x, got = x;
            for (int t = 0; t < T; ++t)
                for (int h = 0; h < H; ++h)
                    rope::rotate_pairs(ref.data() + (size_t(t) * H + h) * Dh + Dh - 2 * n_pairs, n_pairs, f.data(),
                                       100 + 3 * t, true);
            if (bf16)
                for (float& v : ref) v = bf16_to_fp32(fp32_to_bf16(v));
            be->rope_tail(got.data(), T, H, Dh, 100, 3, f.data(), n_pairs, true, bf16);
            ASSERT_EQ(0, std::memcmp(ref.data(), got.data(), ref.size() * sizeof(float))) << bf16;
        }
    }
}

}  // namespace
}  // namespace ds4
