// Tests of the SIMD CPU kernels against the scalar references of quant/quants.h, for every
// ISA level this machine supports (each level's functions are called explicitly, not only the
// dispatched best).
//   dots / gemm: |simd - ref| <= 1e-5 * max(|ref|, sum_i |w_i a_i|)
//   activation quantizers and converters: byte-identical.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/kernels_internal.h"

namespace ds4 {
namespace {

constexpr CpuIsa kSimdLevels[] = {CpuIsa::AVX2, CpuIsa::AVX512};
constexpr GgmlType kTypes[] = {GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q2_K, GgmlType::IQ2_XXS,
                               GgmlType::F16,  GgmlType::BF16, GgmlType::F32};

std::string tname(GgmlType t) { return type_name(static_cast<uint32_t>(t)); }

void put_half(uint8_t* p, float v) {
    const uint16_t h = fp32_to_fp16(v);
    std::memcpy(p, &h, 2);
}

// Random weight rows: raw random bytes (every bit pattern of the quant fields is valid) with
// finite block scales; float types from random values.
std::vector<uint8_t> random_weights(GgmlType t, int64_t rows, int64_t n, std::mt19937& rng) {
    const size_t rs = size_t(row_size(t, n));
    std::vector<uint8_t> w(rs * rows);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> u(-1.f, 1.f), pos(0.01f, 1.f);
    if (t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16) {
        std::vector<float> x(size_t(n) * rows);
        for (float& v : x) v = u(rng);
        quantize_rows(t, x.data(), w.data(), rows, n, nullptr);
        return w;
    }
    for (uint8_t& b : w) b = uint8_t(byte(rng));
    const int64_t bs = type_traits(t).type_size, nb = int64_t(w.size()) / bs;
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t* b = w.data() + i * bs;
        switch (t) {
            case GgmlType::Q8_0: put_half(b, u(rng) * 0.05f); break;
            case GgmlType::Q4_K: put_half(b, pos(rng) * 0.02f); put_half(b + 2, pos(rng) * 0.02f); break;
            case GgmlType::Q2_K: put_half(b + 80, pos(rng) * 0.1f); put_half(b + 82, pos(rng) * 0.05f); break;
            case GgmlType::IQ2_XXS: put_half(b, u(rng) * 0.1f); break;
            default: break;
        }
    }
    return w;
}

// Activation rows from random floats through the reference quantizer (as the engine does).
// Some rows are extreme (+-amax everywhere) to hit the largest integer products.
std::vector<uint8_t> random_act(GgmlType t, int64_t rows, int64_t n, std::mt19937& rng) {
    const GgmlType at = vec_dot_type(t);
    std::vector<float> x(size_t(n) * rows);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::uniform_int_distribution<int> coin(0, 1);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < n; ++i)
            x[r * n + i] = (r % 3 == 2 && at != GgmlType::F32) ? (coin(rng) ? 3.f : -3.f) : nd(rng);
    std::vector<uint8_t> a(size_t(row_size(at, n)) * rows);
    quantize_rows(at, x.data(), a.data(), rows, n, nullptr);
    return a;
}

// ref[r * tok + c] = vec_dot_ref(weight row r, activation row c) for rows x tok.
std::vector<float> reference_dots(GgmlType t, const std::vector<uint8_t>& w, const std::vector<uint8_t>& a, int rows,
                                  int tok, int64_t n) {
    const size_t wr = size_t(row_size(t, n)), ar = size_t(row_size(vec_dot_type(t), n));
    std::vector<float> ref(size_t(rows) * tok);
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < tok; ++c) ref[r * tok + c] = vec_dot_ref(t, w.data() + r * wr, a.data() + c * ar, n);
    return ref;
}

double sum_abs_products(GgmlType t, const uint8_t* w, const uint8_t* a, int64_t n) {
    std::vector<float> wf(n), af(n);
    dequantize_row(t, w, wf.data(), n);
    dequantize_row(vec_dot_type(t), a, af.data(), n);
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += std::fabs(double(wf[i]) * af[i]);
    return s;
}

std::vector<int64_t> sizes_for(GgmlType t) {
    const int64_t bs = type_traits(t).block_size;
    if (bs == 1) return {1, 7, 16, 31, 33, 64, 100, 257, 4096};
    return {bs, 2 * bs, 3 * bs, 16 * bs, 4096 / bs * bs};
}

struct ErrStat {
    double max_rel = 0;
};

void expect_close(float got, float ref, double sumabs, const std::string& what, ErrStat* st) {
    const double scale = std::max<double>(std::fabs(ref), sumabs);
    const double err = std::fabs(double(got) - double(ref));
    const double rel = scale > 0 ? err / scale : err;
    if (rel > st->max_rel) st->max_rel = rel;
    EXPECT_LE(rel, 1e-5) << what << " got " << got << " ref " << ref << " sumabs " << sumabs;
}

TEST(KernelCpu, LevelsAndNames) {
    EXPECT_TRUE(cpu_isa_supported(CpuIsa::Scalar));
    for (CpuIsa isa : kSimdLevels) std::printf("[ kernel ] %s: %s\n", cpu_isa_name(isa), cpu_isa_supported(isa) ? "yes" : "no");
    std::printf("[ kernel ] avx512bf16: %s, active: %s\n", cpu_has_avx512_bf16() ? "yes" : "no",
                cpu_isa_name(kernels_cpu_isa()));
    if (cpu_isa_supported(CpuIsa::AVX512)) {
        EXPECT_TRUE(cpu_isa_supported(CpuIsa::AVX2));
    }
    for (GgmlType t : kTypes) {
        EXPECT_EQ(kernel_vec_dot(CpuIsa::Scalar, t), vec_dot_ref_fn(t)) << tname(t);
        for (CpuIsa isa : kSimdLevels) {
            if (cpu_isa_supported(isa)) {
                EXPECT_NE(kernel_vec_dot(isa, t), nullptr) << tname(t);
            }
        }
    }
}

TEST(KernelDot, MatchesReferenceEveryLevel) {
    std::mt19937 rng(1234);
    for (GgmlType t : kTypes) {
        double worst[kCpuIsaCount + 1] = {};
        for (int64_t n : sizes_for(t)) {
            const int rows = 6;
            const auto w = random_weights(t, rows, n, rng);
            const auto a = random_act(t, rows, n, rng);
            const size_t wr = size_t(row_size(t, n)), ar = size_t(row_size(vec_dot_type(t), n));
            for (CpuIsa isa : kSimdLevels) {
                if (!cpu_isa_supported(isa)) continue;
                std::vector<VecDotFn> fns = {kernel_vec_dot(isa, t)};
                VecDotFn alt_dot = nullptr;
                GemmFn alt_gemm = nullptr;
                if (isa == CpuIsa::AVX512 && kcpu::avx512_fallback(t, &alt_dot, &alt_gemm)) fns.push_back(alt_dot);
                for (VecDotFn f : fns) {
                    ASSERT_NE(f, nullptr);
                    ErrStat st;
                    for (int r = 0; r < rows; ++r) {
                        const uint8_t* wp = w.data() + r * wr;
                        const uint8_t* ap = a.data() + r * ar;
                        const float ref = vec_dot_ref(t, wp, ap, n);
                        expect_close(f(wp, ap, n), ref, sum_abs_products(t, wp, ap, n),
                                     std::string(cpu_isa_name(isa)) + " " + tname(t) + " n=" + std::to_string(n), &st);
                    }
                    double& wv = worst[f == kernel_vec_dot(isa, t) ? int(isa) : kCpuIsaCount];
                    wv = std::max(wv, st.max_rel);
                }
            }
        }
        std::printf("[ kernel ] %-8s max rel err: avx2 %.2e  avx512 %.2e", tname(t).c_str(), worst[1], worst[2]);
        if (t == GgmlType::BF16 || t == GgmlType::IQ2_XXS) std::printf("  avx512 fallback variant %.2e", worst[3]);
        std::printf("\n");
    }
}

// gemm/gemv tiles (all row/token remainders) against the reference dot; padding untouched.
TEST(KernelGemm, TilesMatchReferenceEveryLevel) {
    std::mt19937 rng(99);
    for (GgmlType t : kTypes) {
        const int64_t bs = type_traits(t).block_size;
        for (int64_t n : {bs == 1 ? int64_t(37) : bs, bs == 1 ? int64_t(512) : 4 * bs}) {
            const int max_rows = 11, max_tok = 9;
            const auto w = random_weights(t, max_rows, n, rng);
            const auto a = random_act(t, max_tok, n, rng);
            const size_t wr = size_t(row_size(t, n)), ar = size_t(row_size(vec_dot_type(t), n));
            const std::vector<float> ref = reference_dots(t, w, a, max_rows, max_tok, n);
            std::vector<std::pair<std::string, GemmFn>> fns;
            for (CpuIsa isa : kSimdLevels) {
                if (!cpu_isa_supported(isa)) continue;
                fns.emplace_back(cpu_isa_name(isa), kernel_gemm(isa, t));
                VecDotFn alt_dot = nullptr;
                GemmFn alt_gemm = nullptr;
                if (isa == CpuIsa::AVX512 && kcpu::avx512_fallback(t, &alt_dot, &alt_gemm))
                    fns.emplace_back("avx512-fallback", alt_gemm);
            }
            for (const auto& [isa_name, g] : fns) {
                ASSERT_NE(g, nullptr);
                for (int rows : {1, 2, 3, 4, 5, 7, 8, 11}) {
                    for (int tok : {1, 2, 3, 4, 5, 8, 9}) {
                        const int64_t ldy = rows + 3;
                        std::vector<float> y(size_t(ldy) * tok, -7.f);
                        g(w.data(), wr, rows, a.data(), ar, tok, n, y.data(), ldy);
                        ErrStat st;
                        for (int c = 0; c < tok; ++c) {
                            for (int r = 0; r < rows; ++r) {
                                const std::string what = isa_name + " " + tname(t) + " n=" +
                                                         std::to_string(n) + " rows=" + std::to_string(rows) +
                                                         " tok=" + std::to_string(tok) + " r=" + std::to_string(r) +
                                                         " c=" + std::to_string(c);
                                expect_close(y[c * ldy + r], ref[r * max_tok + c],
                                             sum_abs_products(t, w.data() + r * wr, a.data() + c * ar, n), what, &st);
                            }
                            for (int64_t r = rows; r < ldy; ++r) EXPECT_EQ(y[c * ldy + r], -7.f);
                        }
                    }
                }
            }
        }
    }
}

// Batch invariance: every tile shape computes a given output with the GEMV's instruction
// sequence, so any (rows, tokens) call agrees bit for bit with one-token calls. The quantized
// types (the engine's float weights go through gemm_f32act, which has its own tests).
TEST(KernelGemm, TilesBitIdenticalToGemvEveryLevel) {
    std::mt19937 rng(5);
    for (GgmlType t : kTypes) {
        if (t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16) continue;
        const int64_t bs = type_traits(t).block_size;
        const int64_t n = bs == 1 ? int64_t(512) : 4 * bs;
        const int rows = 11, tok = 9;
        const auto w = random_weights(t, rows, n, rng);
        const auto a = random_act(t, tok, n, rng);
        const size_t wr = size_t(row_size(t, n)), ar = size_t(row_size(vec_dot_type(t), n));
        for (CpuIsa isa : kSimdLevels) {
            if (!cpu_isa_supported(isa)) continue;
            const GemmFn g = kernel_gemm(isa, t);
            ASSERT_NE(g, nullptr);
            std::vector<float> one(size_t(rows) * tok), all(size_t(rows) * tok);
            for (int c = 0; c < tok; ++c) g(w.data(), wr, rows, a.data() + c * ar, ar, 1, n, one.data() + c * rows, rows);
            for (int r0 : {0, 1}) {
                g(w.data() + r0 * wr, wr, rows - r0, a.data(), ar, tok, n, all.data() + r0, rows);
                for (int c = 0; c < tok; ++c)
                    for (int r = r0; r < rows; ++r)
                        ASSERT_EQ(0, std::memcmp(&one[c * rows + r], &all[c * rows + r], 4))
                            << cpu_isa_name(isa) << " " << tname(t) << " r=" << r << " c=" << c;
            }
        }
    }
}

// Kernels that reproduce the scalar reference vec_dot_*_ref bit for bit (same integer sums,
// same f32 operation sequence per output): GEMV and panel GEMM, every row/token remainder
// around the 16-row panels and the token tiles. {level, type} pairs listed here are exact.
struct ExactKernel {
    CpuIsa isa;
    GgmlType type;
};
constexpr ExactKernel kExactKernels[] = {
    {CpuIsa::Scalar, GgmlType::Q8_0},  // (the reference itself: keeps the list non-empty)
    {CpuIsa::AVX2, GgmlType::Q8_0},
    {CpuIsa::AVX2, GgmlType::Q4_K},
    {CpuIsa::AVX512, GgmlType::Q8_0},
    {CpuIsa::AVX512, GgmlType::Q4_K},
    {CpuIsa::AVX512, GgmlType::IQ2_XXS},
    {CpuIsa::AVX512, GgmlType::Q2_K},
};

TEST(KernelGemm, ExactKernelsBitIdenticalToReference) {
    std::mt19937 rng(2024);
    for (const ExactKernel& k : kExactKernels) {
        if (!cpu_isa_supported(k.isa)) continue;
        const GgmlType t = k.type;
        const GemmFn g = kernel_gemm(k.isa, t);
        ASSERT_NE(g, nullptr);
        const int64_t bs = type_traits(t).block_size;
        for (int64_t n : {bs, 2 * bs, (4096 / bs) * bs}) {
            const int max_rows = 40, max_tok = 35;
            const auto w = random_weights(t, max_rows, n, rng);
            const auto a = random_act(t, max_tok, n, rng);
            const size_t wr = size_t(row_size(t, n)), ar = size_t(row_size(vec_dot_type(t), n));
            const std::vector<float> ref = reference_dots(t, w, a, max_rows, max_tok, n);
            for (int rows : {1, 2, 5, 15, 16, 17, 31, 32, 33, 40}) {
                for (int tok : {1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 33, 35}) {
                    const int64_t ldy = rows + 5;
                    std::vector<float> y(size_t(ldy) * tok, -7.f);
                    g(w.data(), wr, rows, a.data(), ar, tok, n, y.data(), ldy);
                    for (int c = 0; c < tok; ++c) {
                        for (int r = 0; r < rows; ++r)
                            ASSERT_EQ(0, std::memcmp(&y[c * ldy + r], &ref[r * max_tok + c], 4))
                                << cpu_isa_name(k.isa) << " " << tname(t) << " n=" << n << " rows=" << rows
                                << " tok=" << tok << " r=" << r << " c=" << c << ": " << y[c * ldy + r]
                                << " vs ref " << ref[r * max_tok + c];
                        for (int64_t r = rows; r < ldy; ++r) ASSERT_EQ(y[c * ldy + r], -7.f);
                    }
                }
            }
        }
    }
}

// Decode-sized calls (1..5 tokens) over many rows: the kernels' multi-row GEMV paths only
// start when the rows are far enough apart in memory (e.g. Q4_K's 4 spaced row streams need
// >= 60 rows at n = 4096), which the 40-row test above never reaches.
TEST(KernelGemm, ExactKernelsTallDecodeCalls) {
    std::mt19937 rng(77);
    for (const ExactKernel& k : kExactKernels) {
        if (!cpu_isa_supported(k.isa)) continue;
        const GgmlType t = k.type;
        const GemmFn g = kernel_gemm(k.isa, t);
        const int64_t bs = type_traits(t).block_size;
        for (auto [n, rows] : {std::pair<int64_t, int>{(4096 / bs) * bs, 130}, {(4096 / bs) * bs, 257},
                               {bs == 32 ? 256 : bs, 1000}}) {
            const int max_tok = 5;
            const auto w = random_weights(t, rows, n, rng);
            const auto a = random_act(t, max_tok, n, rng);
            const size_t wr = size_t(row_size(t, n)), ar = size_t(row_size(vec_dot_type(t), n));
            const std::vector<float> ref = reference_dots(t, w, a, rows, max_tok, n);
            for (int tok = 1; tok <= max_tok; ++tok)
                for (int r0 : {0, 3}) {  // also a start that is not 4-row aligned
                    std::vector<float> y(size_t(rows) * tok, -7.f);
                    g(w.data() + r0 * wr, wr, rows - r0, a.data(), ar, tok, n, y.data(), rows);
                    for (int c = 0; c < tok; ++c)
                        for (int r = r0; r < rows; ++r)
                            ASSERT_EQ(0, std::memcmp(&y[c * rows + r - r0], &ref[r * max_tok + c], 4))
                                << cpu_isa_name(k.isa) << " " << tname(t) << " n=" << n << " rows=" << rows
                                << " tok=" << tok << " r0=" << r0 << " r=" << r << " c=" << c;
                }
        }
    }
}

TEST(KernelGemm, DispatchedGemvAndInit) {
    std::mt19937 rng(5);
    kernels_cpu_init();
    std::vector<std::thread> th;
    for (int i = 0; i < 4; ++i) th.emplace_back([] { kernels_cpu_init(); });
    for (auto& x : th) x.join();
    for (GgmlType t : kTypes) {
        if (kernels_cpu_isa() != CpuIsa::Scalar) {
            EXPECT_EQ(vec_dot_fn(t), kernel_vec_dot(kernels_cpu_isa(), t)) << tname(t);
        }
        const int64_t n = type_traits(t).block_size == 1 ? 300 : 2 * type_traits(t).block_size;
        const int rows = 7;
        const auto w = random_weights(t, rows, n, rng);
        const auto a = random_act(t, 1, n, rng);
        const size_t wr = size_t(row_size(t, n));
        std::vector<float> y(rows);
        gemv(t, w.data(), wr, rows, a.data(), n, y.data());
        ErrStat st;
        for (int r = 0; r < rows; ++r)
            expect_close(y[r], vec_dot_ref(t, w.data() + r * wr, a.data(), n),
                         sum_abs_products(t, w.data() + r * wr, a.data(), n), "gemv " + tname(t), &st);
    }
    EXPECT_THROW(gemv(GgmlType::Q8_K, nullptr, 0, 1, nullptr, 256, nullptr), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------
// Activation quantizers: byte-identical
// ---------------------------------------------------------------------------------------

std::vector<float> tricky_floats(int64_t n, std::mt19937& rng, bool finite_only) {
    std::vector<float> x(n);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::uniform_int_distribution<int> kind(0, 11), small(-126, 126);
    const int64_t nblk = n / 32;
    for (int64_t b = 0; b < nblk; ++b) {
        float* p = x.data() + b * 32;
        const int k = kind(rng);
        for (int i = 0; i < 32; ++i) p[i] = nd(rng);
        switch (k) {
            case 0: for (int i = 0; i < 32; ++i) p[i] = 0.f; break;
            case 1: for (int i = 0; i < 32; ++i) p[i] = float(small(rng)) + 0.5f; p[3] = 127.f; break;  // ties
            case 2: for (int i = 0; i < 32; ++i) p[i] = (i % 2 ? -1.f : 1.f) * 2.f; break;           // +-amax
            case 3: for (int i = 0; i < 32; ++i) p[i] *= 1e-39f; break;                              // subnormal
            case 4: for (int i = 0; i < 32; ++i) p[i] *= 1e-37f; break;                              // iscale overflow
            case 5: for (int i = 0; i < 32; ++i) p[i] *= 1e30f; break;
            case 6: p[5] = -0.f; p[7] = 4.f; p[9] = -4.f; break;
            case 7:
                if (!finite_only) p[1] = std::numeric_limits<float>::quiet_NaN();
                break;
            case 8:
                if (!finite_only) p[2] = std::numeric_limits<float>::infinity();
                break;
            case 9:
                if (!finite_only)
                    for (int i = 0; i < 32; ++i) p[i] = std::numeric_limits<float>::quiet_NaN();
                break;
            case 10: for (int i = 0; i < 32; ++i) p[i] = float(small(rng)) * 0.5f; break;
            default: break;
        }
    }
    return x;
}

TEST(KernelQuant, Q8KAndQ80ByteIdenticalEveryLevel) {
    std::mt19937 rng(42);
    for (GgmlType at : {GgmlType::Q8_K, GgmlType::Q8_0}) {
        for (int64_t n : {int64_t(256), int64_t(512), int64_t(4096), int64_t(16384)}) {
            for (int rep = 0; rep < 8; ++rep) {
                // Q8_0 rounds with roundf: identical for finite inputs (non-finite is UB in C++).
                const auto x = tricky_floats(n, rng, at == GgmlType::Q8_0);
                const size_t bytes = size_t(row_size(at, n));
                std::vector<uint8_t> ref(bytes), got(bytes);
                quantize_row(at, x.data(), ref.data(), n, nullptr);
                for (CpuIsa isa : kSimdLevels) {
                    if (!cpu_isa_supported(isa)) continue;
                    const QuantizeRowFn f = kernel_quantize_row(isa, at);
                    ASSERT_NE(f, nullptr);
                    std::fill(got.begin(), got.end(), 0xCD);
                    f(x.data(), got.data(), n);
                    ASSERT_EQ(std::memcmp(ref.data(), got.data(), bytes), 0)
                        << cpu_isa_name(isa) << " " << tname(at) << " n=" << n << " rep=" << rep;
                }
                std::fill(got.begin(), got.end(), 0xCD);
                quantize_act_row(at, x.data(), got.data(), n);
                ASSERT_EQ(std::memcmp(ref.data(), got.data(), bytes), 0) << "dispatched " << tname(at);
            }
        }
    }
    EXPECT_THROW(quantize_act_row(GgmlType::Q8_K, nullptr, nullptr, 100), std::invalid_argument);
    EXPECT_THROW(quantize_act_row(GgmlType::Q4_K, nullptr, nullptr, 256), std::invalid_argument);
}

TEST(KernelConvert, BitIdenticalEveryLevel) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<uint32_t> bits;
    std::vector<float> x;
    for (int i = 0; i < 200000; ++i) x.push_back(f32_from_bits(bits(rng)));  // every class, NaN payloads
    std::normal_distribution<float> nd(0.f, 1.f);
    for (int i = 0; i < 50000; ++i) x.push_back(nd(rng) * std::ldexp(1.f, int(bits(rng) % 60) - 30));
    for (float v : {0.f, -0.f, 65504.f, 65519.99f, 65520.f, -65520.f, 5.96e-8f, 2.98e-8f, 2.9802322e-8f, 1e-45f,
                    -1e-40f, 3.4e38f, std::numeric_limits<float>::infinity()})
        x.push_back(v);
    for (uint32_t u = 0x33000000u; u < 0x33000000u + 4096; ++u) x.push_back(f32_from_bits(u));  // f16 subnormal edge
    for (uint32_t u = 0x477FE000u; u < 0x477FE000u + 8192; ++u) x.push_back(f32_from_bits(u));  // f16 overflow edge
    const int64_t n = int64_t(x.size());
    std::vector<uint16_t> ref16(n), ref_bf(n), got(n);
    fp32_to_fp16_row(x.data(), ref16.data(), n);
    fp32_to_bf16_row(x.data(), ref_bf.data(), n);
    std::vector<uint16_t> all(65536);
    for (int i = 0; i < 65536; ++i) all[i] = uint16_t(i);
    std::vector<float> wide_ref(65536), wide_got(65536);
    for (CpuIsa isa : kSimdLevels) {
        if (!cpu_isa_supported(isa)) continue;
        for (int64_t len : {n, n - 1, int64_t(13), int64_t(1)}) {  // tails
            std::fill(got.begin(), got.end(), 0xABCD);
            kernel_fp32_to_fp16(isa)(x.data(), got.data(), len);
            EXPECT_EQ(std::memcmp(got.data(), ref16.data(), len * 2), 0) << cpu_isa_name(isa) << " f16 len=" << len;
            if (len < n) {
                EXPECT_EQ(got[len], 0xABCD);
            }
            std::fill(got.begin(), got.end(), 0xABCD);
            kernel_fp32_to_bf16(isa)(x.data(), got.data(), len);
            EXPECT_EQ(std::memcmp(got.data(), ref_bf.data(), len * 2), 0) << cpu_isa_name(isa) << " bf16 len=" << len;
            if (len < n) {
                EXPECT_EQ(got[len], 0xABCD);
            }
        }
        for (int64_t len : {int64_t(65536), int64_t(65533)}) {
            fp16_to_fp32_row(all.data(), wide_ref.data(), len);
            kernel_fp16_to_fp32(isa)(all.data(), wide_got.data(), len);
            EXPECT_EQ(std::memcmp(wide_ref.data(), wide_got.data(), len * 4), 0) << cpu_isa_name(isa) << " f16->f32";
            bf16_to_fp32_row(all.data(), wide_ref.data(), len);
            kernel_bf16_to_fp32(isa)(all.data(), wide_got.data(), len);
            EXPECT_EQ(std::memcmp(wide_ref.data(), wide_got.data(), len * 4), 0) << cpu_isa_name(isa) << " bf16->f32";
        }
    }
    fp32_to_fp16_row_fast(x.data(), got.data(), n);
    EXPECT_EQ(std::memcmp(got.data(), ref16.data(), n * 2), 0);
    std::vector<uint8_t> q(n * 2);
    quantize_act_row(GgmlType::BF16, x.data(), q.data(), n);
    EXPECT_EQ(std::memcmp(q.data(), ref_bf.data(), n * 2), 0);
}

}  // namespace
}  // namespace ds4
