// Float weights (F32, F16, BF16) times f32 activations: the GEMM the engine uses for float
// matrices, so F16/BF16 weights are widened in registers and lose no activation precision
// (the plain gemm() dots them with F16/BF16 activations, ggml's vec_dot_type).
//
// Batch invariance: every output y[tok][r] is computed by the same instruction sequence
// whatever the tile shape, n_rows or n_tok (fixed number of partial accumulators per output,
// fixed tail and reduction), so a token's result does not depend on the batch it is in
// (prefill in any chunking == decode, bit for bit). The per-level results differ from each
// other only in summation order.
// GCC 12 reports its own _mm512_undefined_*() placeholders (casts, inserts) as uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "kernels/cpu/kernels.h"
#include "quant/float16.h"

namespace ds4 {
namespace {

#define INL inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

// ---------------------------------------------------------------- scalar (any machine)
template <GgmlType WT>
INL float load_w(const uint8_t* p, int64_t i) {
    if constexpr (WT == GgmlType::F32) return reinterpret_cast<const float*>(p)[i];
    else if constexpr (WT == GgmlType::F16) return fp16_to_fp32(reinterpret_cast<const uint16_t*>(p)[i]);
    else return bf16_to_fp32(reinterpret_cast<const uint16_t*>(p)[i]);
}

template <GgmlType WT>
void gemm_scalar(const uint8_t* w, size_t ws, int64_t n_rows, const float* a, int64_t lda, int64_t n_tok,
                 int64_t n, float* y, int64_t ldy) {
    for (int64_t r = 0; r < n_rows; ++r) {
        const uint8_t* wr = w + r * ws;
        for (int64_t t = 0; t < n_tok; ++t) {
            const float* at = a + t * lda;
            float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            int64_t i = 0;
            for (; i + 8 <= n; i += 8)
                for (int j = 0; j < 8; ++j) acc[j] += load_w<WT>(wr, i + j) * at[i + j];
            float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
            for (; i < n; ++i) s += load_w<WT>(wr, i) * at[i];
            y[t * ldy + r] = s;
        }
    }
}


// ---------------------------------------------------------------- sequential-order GEMM
// Reference (any machine): per output, sequential f32 sums (product rounded, then added) over
// K blocks of `block` (block <= 0: one block), the block sums added in order; block == -2: one
// sequential sum taking each pair (i, i+1) odd element first.
template <GgmlType WT>
void seq_scalar(const uint8_t* w, size_t ws, int64_t n_rows, const float* a, int64_t lda, int64_t n_tok,
                int64_t n, float* y, int64_t ldy, int block) {
    const int64_t kb = block > 0 ? block : n;
    for (int64_t r = 0; r < n_rows; ++r) {
        const uint8_t* wr = w + r * ws;
        for (int64_t t = 0; t < n_tok; ++t) {
            const float* x = a + t * lda;
            float total = 0;
            if (block == -2) {
                int64_t i = 0;
                for (; i + 2 <= n; i += 2) {
                    total += load_w<WT>(wr, i + 1) * x[i + 1];
                    total += load_w<WT>(wr, i) * x[i];
                    __asm__("" : "+x"(total));  // keep the two-step order scalar
                }
                if (i < n) total += load_w<WT>(wr, i) * x[i];
            } else {
                for (int64_t k0 = 0; k0 < n; k0 += kb) {
                    float s = 0;
                    for (int64_t i = k0; i < std::min(n, k0 + kb); ++i) s += load_w<WT>(wr, i) * x[i];
                    total += s;
                }
            }
            y[t * ldy + r] = total;
        }
    }
}

#if defined(__x86_64__)
#define T2 __attribute__((target("avx2,fma,f16c")))
#define T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")))

// ---------------------------------------------------------------- tiling driver
// K::tile<NR, NC>(w, ws, a, lda, n, out) computes out[r*NC + c]; any shape gives the same value
// per output. Rows in steps of K::kRows, tokens in steps of K::kCols, then the edges.
template <class K>
void drive(const uint8_t* w, size_t ws, int64_t n_rows, const float* a, int64_t lda, int64_t n_tok, int64_t n,
           float* y, int64_t ldy) {
    constexpr int NR = K::kRows, NC = K::kCols;
    float out[NR * NC];
    if (n_tok == 1) {
        for (int64_t r = 0; r < n_rows; ++r) K::template tile<1, 1>(w + r * ws, ws, a, lda, n, y + r);
        return;
    }
    int64_t r = 0;
    for (; r + NR <= n_rows; r += NR) {
        int64_t c = 0;
        for (; c + NC <= n_tok; c += NC) {
            K::template tile<NR, NC>(w + r * ws, ws, a + c * lda, lda, n, out);
            for (int i = 0; i < NR; ++i)
                for (int j = 0; j < NC; ++j) y[(c + j) * ldy + r + i] = out[i * NC + j];
        }
        for (; c < n_tok; ++c) {
            K::template tile<NR, 1>(w + r * ws, ws, a + c * lda, lda, n, out);
            for (int i = 0; i < NR; ++i) y[c * ldy + r + i] = out[i];
        }
    }
    for (; r < n_rows; ++r) {
        int64_t c = 0;
        for (; c + NC <= n_tok; c += NC) {
            K::template tile<1, NC>(w + r * ws, ws, a + c * lda, lda, n, out);
            for (int j = 0; j < NC; ++j) y[(c + j) * ldy + r] = out[j];
        }
        for (; c < n_tok; ++c) K::template tile<1, 1>(w + r * ws, ws, a + c * lda, lda, n, y + c * ldy + r);
    }
}

// ---------------------------------------------------------------- AVX-512
template <GgmlType WT>
T512 INL __m512 w512(const uint8_t* p, int64_t i) {
    if constexpr (WT == GgmlType::F32) return _mm512_loadu_ps(reinterpret_cast<const float*>(p) + i);
    else {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(reinterpret_cast<const uint16_t*>(p) + i));
        if constexpr (WT == GgmlType::F16) return _mm512_cvtph_ps(h);
        else return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
}
template <GgmlType WT>
T512 INL __m512 w512m(const uint8_t* p, int64_t i, __mmask16 m) {
    if constexpr (WT == GgmlType::F32) return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(p) + i);
    else {
        const __m256i h = _mm256_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(p) + i);
        if constexpr (WT == GgmlType::F16) return _mm512_cvtph_ps(h);
        else return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
}

// Two accumulators per output (32 elements per step), masked tail into the first.
template <GgmlType WT>
struct K512 {
    static constexpr int kRows = 2, kCols = 4;
    template <int NR, int NC>
    T512 static void tile(const uint8_t* w, size_t ws, const float* a, int64_t lda, int64_t n, float* out) {
        __m512 acc[2][NR][NC];
        UNROLL for (int u = 0; u < 2; ++u) UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c)
            acc[u][r][c] = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i + 32 <= n; i += 32) {
            UNROLL for (int u = 0; u < 2; ++u) {
                __m512 wv[NR];
                UNROLL for (int r = 0; r < NR; ++r) wv[r] = w512<WT>(w + r * ws, i + 16 * u);
                UNROLL for (int c = 0; c < NC; ++c) {
                    const __m512 av = _mm512_loadu_ps(a + c * lda + i + 16 * u);
                    UNROLL for (int r = 0; r < NR; ++r) acc[u][r][c] = _mm512_fmadd_ps(wv[r], av, acc[u][r][c]);
                }
            }
        }
        for (; i < n; i += 16) {
            const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
            __m512 wv[NR];
            UNROLL for (int r = 0; r < NR; ++r) wv[r] = w512m<WT>(w + r * ws, i, m);
            UNROLL for (int c = 0; c < NC; ++c) {
                const __m512 av = _mm512_maskz_loadu_ps(m, a + c * lda + i);
                UNROLL for (int r = 0; r < NR; ++r) acc[0][r][c] = _mm512_fmadd_ps(wv[r], av, acc[0][r][c]);
            }
        }
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c)
            out[r * NC + c] = _mm512_reduce_add_ps(_mm512_add_ps(acc[0][r][c], acc[1][r][c]));
    }
};

// ---------------------------------------------------------------- AVX2
template <GgmlType WT>
T2 INL __m256 w256(const uint8_t* p, int64_t i) {
    if constexpr (WT == GgmlType::F32) return _mm256_loadu_ps(reinterpret_cast<const float*>(p) + i);
    else {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(p) + i));
        if constexpr (WT == GgmlType::F16) return _mm256_cvtph_ps(h);
        else return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
}
T2 INL float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Two accumulators per output (16 elements per step), scalar tail after the reduction.
template <GgmlType WT>
struct K256 {
    static constexpr int kRows = 1, kCols = 4;
    template <int NR, int NC>
    T2 static void tile(const uint8_t* w, size_t ws, const float* a, int64_t lda, int64_t n, float* out) {
        __m256 acc[2][NR][NC];
        UNROLL for (int u = 0; u < 2; ++u) UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c)
            acc[u][r][c] = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
            UNROLL for (int u = 0; u < 2; ++u) {
                __m256 wv[NR];
                UNROLL for (int r = 0; r < NR; ++r) wv[r] = w256<WT>(w + r * ws, i + 8 * u);
                UNROLL for (int c = 0; c < NC; ++c) {
                    const __m256 av = _mm256_loadu_ps(a + c * lda + i + 8 * u);
                    UNROLL for (int r = 0; r < NR; ++r) acc[u][r][c] = _mm256_fmadd_ps(wv[r], av, acc[u][r][c]);
                }
            }
        }
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) {
            float s = hsum256(_mm256_add_ps(acc[0][r][c], acc[1][r][c]));
            for (int64_t j = i; j < n; ++j) s += load_w<WT>(w + r * ws, j) * a[c * lda + j];
            out[r * NC + c] = s;
        }
    }
};

// ---------------------------------------------------------------- AVX-512 sequential order
// The lanes are 16 weight rows, so each lane runs its own sequential sum (mul, then add:
// bit-identical to seq_scalar). Each 16x16 chunk of weights is widened and transposed in
// registers (register c = K index i+c of the 16 rows), then applied to up to 4 tokens
// (independent chains; the next chunk's loads and transpose overlap them).
T512 INL void transpose16(__m512 r[16]) {
    __m512 t[16];
    UNROLL for (int k = 0; k < 8; ++k) {
        t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    UNROLL for (int k = 0; k < 4; ++k) {
        const __m512d a = _mm512_castps_pd(t[4 * k]), b = _mm512_castps_pd(t[4 * k + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * k + 2]), d = _mm512_castps_pd(t[4 * k + 3]);
        r[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    UNROLL for (int j = 0; j < 4; ++j) {
        t[j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
        t[4 + j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xdd);
        t[8 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
        t[12 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xdd);
    }
    UNROLL for (int j = 0; j < 4; ++j) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
        r[4 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xdd);
    }
}

// acc[t] += col * a[t][c], multiply then add (no FMA: the order and rounding are the reference's).
template <int NT>
T512 inline void seq_apply_col(__m512* acc, __m512 col, const float* ai, int64_t lda, int c) {
    UNROLL for (int t = 0; t < NT; ++t) acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(col, _mm512_set1_ps(ai[t * lda + c])));
}

// nr (<= 16) rows x NT tokens; block: as seq_scalar, block > 0 a multiple of 16.
template <GgmlType WT, int NT>
T512 void seq_rows16(const uint8_t* w, size_t ws, int nr, const float* a, int64_t lda, int64_t n, float* y,
                     int64_t ldy, int block) {
    __m512 acc[NT], tot[NT];
    UNROLL for (int t = 0; t < NT; ++t) acc[t] = tot[t] = _mm512_setzero_ps();
    const bool pairs = block == -2;
    for (int64_t i = 0; i < n; i += 16) {
        const int cn = int(std::min<int64_t>(16, n - i));
        const __mmask16 m = cn == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cn) - 1);
        __m512 col[16];
        UNROLL for (int j = 0; j < 16; ++j) col[j] = j < nr ? w512m<WT>(w + j * ws, i, m) : _mm512_setzero_ps();
        transpose16(col);
        const float* ai = a + i;
        // (a lambda would not inherit T512's target, which breaks PORTABLE=1 builds)
#define apply(c) seq_apply_col<NT>(acc, col[c], ai, lda, c)
        if (pairs) {
            UNROLL for (int c = 0; c < 16; c += 2) {
                if (c + 1 < cn) {
                    apply(c + 1);
                    apply(c);
                } else if (c < cn) {
                    apply(c);
                }
            }
        } else {
            UNROLL for (int c = 0; c < 16; ++c)
                if (c < cn) apply(c);
#undef apply
        }
        if (block > 0 && ((i + 16) % block == 0 || i + 16 >= n)) {
            UNROLL for (int t = 0; t < NT; ++t) {
                tot[t] = _mm512_add_ps(tot[t], acc[t]);
                acc[t] = _mm512_setzero_ps();
            }
        }
    }
    const __mmask16 rm = nr == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    UNROLL for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + t * ldy, rm, block > 0 ? tot[t] : acc[t]);
}

template <GgmlType WT>
void seq_avx512(const uint8_t* w, size_t ws, int64_t n_rows, const float* a, int64_t lda, int64_t n_tok, int64_t n,
                float* y, int64_t ldy, int block) {
    if (block > 0 && block % 16 != 0) return seq_scalar<WT>(w, ws, n_rows, a, lda, n_tok, n, y, ldy, block);
    // Token blocks of ~256 KiB of activations (L2), then 16-row groups, then 4 tokens at a time.
    const int64_t tb = std::max<int64_t>(4, (int64_t(256) << 10) / std::max<int64_t>(1, n * 4)) & ~int64_t(3);
    for (int64_t t0 = 0; t0 < n_tok; t0 += tb) {
        const int64_t t1 = std::min(n_tok, t0 + tb);
        for (int64_t r = 0; r < n_rows; r += 16) {
            const int nr = int(std::min<int64_t>(16, n_rows - r));
            const uint8_t* wr = w + r * ws;
            int64_t t = t0;
            for (; t + 4 <= t1; t += 4) seq_rows16<WT, 4>(wr, ws, nr, a + t * lda, lda, n, y + t * ldy + r, ldy, block);
            switch (t1 - t) {
                case 3: seq_rows16<WT, 3>(wr, ws, nr, a + t * lda, lda, n, y + t * ldy + r, ldy, block); break;
                case 2: seq_rows16<WT, 2>(wr, ws, nr, a + t * lda, lda, n, y + t * ldy + r, ldy, block); break;
                case 1: seq_rows16<WT, 1>(wr, ws, nr, a + t * lda, lda, n, y + t * ldy + r, ldy, block); break;
                default: break;
            }
        }
    }
}
#endif  // __x86_64__

using Fn = void (*)(const uint8_t*, size_t, int64_t, const float*, int64_t, int64_t, int64_t, float*, int64_t);

template <GgmlType WT>
Fn pick() {
#if defined(__x86_64__)
    switch (kernels_cpu_isa()) {
        case CpuIsa::AVX512: return drive<K512<WT>>;
        case CpuIsa::AVX2: return drive<K256<WT>>;
        default: break;
    }
#endif
    return gemm_scalar<WT>;
}

using SeqFn = void (*)(const uint8_t*, size_t, int64_t, const float*, int64_t, int64_t, int64_t, float*, int64_t, int);

template <GgmlType WT>
SeqFn pick_seq() {
#if defined(__x86_64__)
    if (kernels_cpu_isa() == CpuIsa::AVX512) return seq_avx512<WT>;
#endif
    return seq_scalar<WT>;
}

}  // namespace

void gemm_f32act_seq(GgmlType t, const void* w, size_t w_row_bytes, int64_t n_rows, const float* act, int64_t lda,
                     int64_t n_tok, int64_t n, float* y, int64_t ldy, int block) {
    static const SeqFn f32 = pick_seq<GgmlType::F32>(), f16 = pick_seq<GgmlType::F16>(),
                       bf16 = pick_seq<GgmlType::BF16>();
    if (n_rows <= 0 || n_tok <= 0) return;
    const SeqFn f = t == GgmlType::F32 ? f32 : t == GgmlType::F16 ? f16 : t == GgmlType::BF16 ? bf16 : nullptr;
    if (!f) throw std::invalid_argument("gemm_f32act_seq: weight type is not F32, F16 or BF16");
    f(static_cast<const uint8_t*>(w), w_row_bytes, n_rows, act, lda, n_tok, n, y, ldy, block);
}

bool gemm_f32act_supported(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }

void gemm_f32act(GgmlType t, const void* w, size_t w_row_bytes, int64_t n_rows, const float* act, int64_t lda,
                 int64_t n_tok, int64_t n, float* y, int64_t ldy) {
    static const Fn f32 = pick<GgmlType::F32>(), f16 = pick<GgmlType::F16>(), bf16 = pick<GgmlType::BF16>();
    if (n_rows <= 0 || n_tok <= 0) return;
    const Fn f = t == GgmlType::F32 ? f32 : t == GgmlType::F16 ? f16 : t == GgmlType::BF16 ? bf16 : nullptr;
    if (!f) throw std::invalid_argument("gemm_f32act: weight type is not F32, F16 or BF16");
    f(static_cast<const uint8_t*>(w), w_row_bytes, n_rows, act, lda, n_tok, n, y, ldy);
}

}  // namespace ds4
