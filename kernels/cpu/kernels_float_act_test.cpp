// Float-weight GEMMs with f32 activations (kernels_float_act.cpp):
//   gemm_f32act: close to a double reference and batch-invariant (each token's outputs are the
//                same bits whether computed alone or in any batch);
//   gemm_f32act_seq: bit-identical to the official-numerics emulation (tcpu::dot per K block,
//                tcpu::dot_bf16 for block -2) on widened weights, on every kernel path (plain,
//                skewed and buffered rows for strides that alias in L1, tails, K blocks, any
//                row count and row range), also through CpuBackend::matmul's thread split.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend/backend_testing.h"
#include "kernels/cpu/kernels.h"
#include "model/torch_cpu.h"
#include "quant/quants.h"

namespace ds4 {
namespace {

struct Case {
    GgmlType t;
    int64_t rows, n, tok;
};

std::vector<uint8_t> weights(GgmlType t, int64_t rows, int64_t n, std::mt19937& rng, std::vector<float>* wf) {
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> x(size_t(rows * n));
    for (float& v : x) v = nd(rng);
    std::vector<uint8_t> w(size_t(row_size(t, n) * rows));
    quantize_rows(t, x.data(), w.data(), rows, n, nullptr);
    wf->resize(x.size());
    for (int64_t r = 0; r < rows; ++r) dequantize_row(t, w.data() + r * row_size(t, n), wf->data() + r * n, n);
    return w;
}

const Case kCases[] = {{GgmlType::F32, 37, 100, 9},  {GgmlType::F16, 33, 4096, 6}, {GgmlType::BF16, 16, 1024, 5},
                       {GgmlType::F16, 5, 261, 13},  {GgmlType::F32, 64, 128, 1},  {GgmlType::BF16, 70, 4101, 3}};

TEST(KernelFloatAct, CloseToDoubleAndBatchInvariant) {
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (const Case& c : kCases) {
        std::vector<float> wf;
        const std::vector<uint8_t> w = weights(c.t, c.rows, c.n, rng, &wf);
        const int64_t lda = c.n + 3;  // strided activations
        std::vector<float> a(size_t(c.tok * lda));
        for (float& v : a) v = nd(rng);
        const size_t ws = size_t(row_size(c.t, c.n));
        std::vector<float> y(size_t(c.tok * c.rows)), y1(size_t(c.rows));
        gemm_f32act(c.t, w.data(), ws, c.rows, a.data(), lda, c.tok, c.n, y.data(), c.rows);
        for (int64_t t = 0; t < c.tok; ++t) {
            gemm_f32act(c.t, w.data(), ws, c.rows, a.data() + t * lda, lda, 1, c.n, y1.data(), c.rows);
            ASSERT_EQ(0, std::memcmp(y1.data(), y.data() + t * c.rows, y1.size() * 4)) << type_name(uint32_t(c.t)) << " tok " << t;
            for (int64_t r = 0; r < c.rows; ++r) {
                double ref = 0, mag = 0;
                for (int64_t i = 0; i < c.n; ++i) {
                    ref += double(wf[r * c.n + i]) * a[t * lda + i];
                    mag += std::fabs(double(wf[r * c.n + i]) * a[t * lda + i]);
                }
                ASSERT_NEAR(y[t * c.rows + r], ref, 1e-5 * mag + 1e-6);
            }
        }
        // Row sub-ranges give the same bits as well.
        std::vector<float> ys(size_t(c.tok * c.rows));
        for (int64_t r0 = 0; r0 < c.rows; r0 += 7)
            gemm_f32act(c.t, w.data() + r0 * ws, ws, std::min<int64_t>(7, c.rows - r0), a.data(), lda, c.tok, c.n,
                        ys.data() + r0, c.rows);
        ASSERT_EQ(0, std::memcmp(ys.data(), y.data(), y.size() * 4));
    }
}

TEST(KernelFloatAct, SequentialOrderIsBitExact) {
    std::mt19937 rng(11);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (const Case& c : kCases) {
        std::vector<float> wf;
        const std::vector<uint8_t> w = weights(c.t, c.rows, c.n, rng, &wf);
        const int64_t lda = c.n + 1;
        std::vector<float> a(size_t(c.tok * lda));
        for (float& v : a) v = nd(rng) * std::ldexp(1.f, int(rng() % 20) - 10);
        const size_t ws = size_t(row_size(c.t, c.n));
        for (int block : {-1, -2, 128, 32, 48, 4096}) {
            std::vector<float> y(size_t(c.tok * c.rows));
            gemm_f32act_seq(c.t, w.data(), ws, c.rows, a.data(), lda, c.tok, c.n, y.data(), c.rows, block);
            const int64_t kb = block > 0 ? block : c.n;
            for (int64_t t = 0; t < c.tok; ++t)
                for (int64_t r = 0; r < c.rows; ++r) {
                    const float* wr = wf.data() + r * c.n;
                    const float* x = a.data() + t * lda;
                    float ref;
                    if (block == -2) {
                        ref = tcpu::dot_bf16(x, wr, c.n);
                    } else {
                        ref = tcpu::dot(wr, x, std::min(kb, c.n));
                        for (int64_t k = kb; k < c.n; k += kb) ref += tcpu::dot(wr + k, x + k, std::min(kb, c.n - k));
                    }
                    const float got = y[t * c.rows + r];
                    ASSERT_EQ(0, std::memcmp(&got, &ref, 4))
                        << type_name(uint32_t(c.t)) << " n " << c.n << " block " << block << " row " << r << " tok " << t
                        << ": " << got << " vs " << ref;
                }
        }
    }
}

// The reference of SequentialOrderIsBitExact for one output.
float seq_reference(const float* wr, const float* x, int64_t n, int block) {
    if (block == -2) return tcpu::dot_bf16(x, wr, n);
    const int64_t kb = block > 0 ? block : n;
    float ref = tcpu::dot(wr, x, std::min(kb, n));
    for (int64_t k = kb; k < n; k += kb) ref += tcpu::dot(wr + k, x + k, std::min(kb, n - k));
    return ref;
}

// Every path of the AVX-512 kernel: row strides that put the 16 rows of a group into one L1 set
// (4096, 8192 bytes: rows 8-15 skewed a line ahead for < 4 tokens, lines copied through a
// buffer for 4 tokens when rows are 16-byte aligned), unaligned and line-misaligned bases,
// row counts below / not a multiple of 16, columns not a multiple of the chunk (8 or 16), odd
// n with the pair order, K blocks of 8 and 48 (the halves of a skewed group end them apart),
// 1-5 tokens (4 at a time, then the rest), tiny and large magnitudes.
TEST(KernelFloatAct, SequentialOrderAllPaths) {
    std::mt19937 rng(13);
    std::normal_distribution<float> nd(0.f, 1.f);
    int checked = 0;
    for (GgmlType t : {GgmlType::F16, GgmlType::BF16, GgmlType::F32})
        for (int64_t n : {1, 9, 100, 1021, 2045, 2048})
            for (int64_t rows : {1, 5, 17, 33})
                for (size_t ws : {size_t(0), size_t(2112), size_t(4096), size_t(8192)}) {
                    const size_t rb = size_t(row_size(t, n));
                    if (ws == 0) ws = rb;
                    if (rb > ws) continue;
                    std::vector<float> wf(size_t(rows * n)), x(static_cast<size_t>(n));
                    std::vector<uint8_t> w0(ws * rows);
                    for (int64_t r = 0; r < rows; ++r) {
                        for (float& v : x) v = nd(rng) * (rng() % 8 == 0 ? 1e-6f : 1.f);  // some F16 subnormals
                        quantize_rows(t, x.data(), w0.data() + r * ws, 1, n, nullptr);
                        dequantize_row(t, w0.data() + r * ws, wf.data() + r * n, n);
                    }
                    for (int64_t tok : {1, 3, 4, 5}) {
                        const int64_t lda = n + 3, ldy = rows + 1;
                        std::vector<float> a(size_t(tok * lda));
                        for (float& v : a) v = nd(rng) * std::ldexp(1.f, int(rng() % 20) - 10);
                        for (int block : {-1, -2, 8, 48}) {
                            std::vector<float> ref(size_t(tok * rows));
                            for (int64_t k = 0; k < tok; ++k)
                                for (int64_t r = 0; r < rows; ++r)
                                    ref[k * rows + r] = seq_reference(wf.data() + r * n, a.data() + k * lda, n, block);
                            for (size_t off : {size_t(0), size_t(2), size_t(32)}) {
                                std::vector<uint8_t> buf(ws * rows + 128);
                                uint8_t* w = buf.data() + ((64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64) + off;
                                std::memcpy(w, w0.data(), w0.size());
                                std::vector<float> y(size_t(tok * ldy), -1.f);
                                gemm_f32act_seq(t, w, ws, rows, a.data(), lda, tok, n, y.data(), ldy, block);
                                for (int64_t k = 0; k < tok; ++k)
                                    for (int64_t r = 0; r < rows; ++r) {
                                        const float got = y[k * ldy + r], want = ref[k * rows + r];
                                        ASSERT_EQ(0, std::memcmp(&got, &want, 4))
                                            << type_name(uint32_t(t)) << " n " << n << " rows " << rows << " ws " << ws
                                            << " off " << off << " tok " << tok << " block " << block << " row " << r
                                            << " tok " << k << ": " << got << " vs " << want;
                                    }
                                ++checked;
                            }
                        }
                    }
                }
    EXPECT_GT(checked, 1000);
}

// Every row count 1-40 (fewer than 4 rows: the padded copy; 4-15: one group whose spare lanes
// repeat rows; 16+: overlapping groups) and row sub-ranges of every start and length (thread
// shares), plain and L1-aliasing strides, 1 and 4 tokens, outputs strided and untouched
// outside the range.
TEST(KernelFloatAct, SequentialOrderRowCountsAndRanges) {
    std::mt19937 rng(17);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (GgmlType t : {GgmlType::F16, GgmlType::BF16, GgmlType::F32})
        for (int64_t n : {64, 200, 2048}) {
            const int64_t rows = 40, lda = n + 5;
            const size_t ws = size_t(row_size(t, n));
            std::vector<float> x(size_t(rows * n)), wf(x.size());
            for (float& v : x) v = nd(rng);
            std::vector<uint8_t> w(ws * rows);
            quantize_rows(t, x.data(), w.data(), rows, n, nullptr);
            for (int64_t r = 0; r < rows; ++r) dequantize_row(t, w.data() + r * ws, wf.data() + r * n, n);
            for (int64_t tok : {1, 4}) {
                std::vector<float> a(size_t(tok * lda));
                for (float& v : a) v = nd(rng);
                for (int block : {-1, -2, 32}) {
                    std::vector<float> ref(size_t(tok * rows));
                    for (int64_t k = 0; k < tok; ++k)
                        for (int64_t r = 0; r < rows; ++r)
                            ref[k * rows + r] = seq_reference(wf.data() + r * n, a.data() + k * lda, n, block);
                    const int64_t ldy = rows + 3;
                    for (int64_t r0 = 0; r0 < rows; r0 += (tok == 1 ? 1 : 7))
                        for (int64_t cnt = 1; r0 + cnt <= rows; ++cnt) {
                            std::vector<float> y(size_t(tok * ldy), -7.f);
                            gemm_f32act_seq(t, w.data() + r0 * ws, ws, cnt, a.data(), lda, tok, n, y.data() + r0, ldy, block);
                            for (int64_t k = 0; k < tok; ++k)
                                for (int64_t r = 0; r < ldy; ++r) {
                                    const float got = y[k * ldy + r];
                                    const float want = r >= r0 && r < r0 + cnt ? ref[k * rows + r] : -7.f;
                                    ASSERT_EQ(0, std::memcmp(&got, &want, 4))
                                        << type_name(uint32_t(t)) << " n " << n << " rows [" << r0 << ", " << r0 + cnt
                                        << ") tok " << k << "/" << tok << " block " << block << " row " << r;
                                }
                        }
                }
            }
        }
}

// CpuBackend::matmul's official-numerics path splits rows into thread items (whole 16-row groups
// and a rest standing alone): any thread count gives the reference bits, decode and prefill.
TEST(KernelFloatAct, SequentialOrderBackendSplits) {
    std::mt19937 rng(19);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (int threads : {1, 2, 3}) {
        auto be = make_cpu_backend(threads);
        for (int64_t rows : {4, 5, 12, 24, 32, 40, 64, 100, 290})
            for (int64_t n : {256, 4096}) {
                const test::StoredMatrix m(GgmlType::F16, n, rows, rng);
                const Weight& w = m.w;
                const std::vector<float>& wf = m.deq;
                for (int T : {1, 5}) {
                    std::vector<float> a(size_t(T) * n);
                    for (float& v : a) v = nd(rng);
                    for (int block : {-1, -2, 128}) {
                        std::vector<float> y(size_t(T) * rows);
                        be->matmul(w, 0, rows, a.data(), n, T, y.data(), rows, ActQuant::None, block);
                        for (int k = 0; k < T; ++k)
                            for (int64_t r = 0; r < rows; ++r) {
                                const float got = y[k * rows + r];
                                const float want = seq_reference(wf.data() + r * n, a.data() + size_t(k) * n, n, block);
                                ASSERT_EQ(0, std::memcmp(&got, &want, 4)) << threads << " threads, rows " << rows << " n " << n
                                                                          << " T " << T << " block " << block << " row " << r;
                            }
                    }
                }
            }
    }
}

}  // namespace
}  // namespace ds4
