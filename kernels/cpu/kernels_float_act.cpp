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
#include <vector>

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
// bit-identical to seq_scalar). Decode streams the weights once: the cost per weight byte is
// what counts (a Zen 4 core reads ~20-25 GB/s from DRAM, two ~30-35). Where the cycles go:
//  - F16/BF16 are transposed in the 16-bit domain: a chunk is 16 bytes (8 columns) of each of
//    the 16 rows, two rows per ymm (a load and a load-insert), an in-lane 8x8 word transpose
//    (24 ymm unpacks, ~3 per cycle) leaves one ymm of 16 rows per column, widened once
//    (vcvtph2ps) for the mul (activation broadcast from memory: free) and the add. The add,
//    the conversion and the unpacks share two FP pipes, ~28 cycles per chunk (~27 GB/s from
//    L2); the former f32 16x16 transpose cost 4 zmm shuffles (2 cross-lane) per column.
//  - L1 set aliasing: rows a multiple of 4 KiB apart (n = 2048 or 4096 F16: the indexer and
//    compressor shapes) put the 16 rows' lines of a column into one 8-way L1 set, where they
//    thrash before their other 3 chunks are read (half speed). Two cures, by token count:
//    SKEW (decode, < 4 tokens): rows 8-15 run one line (sk columns) ahead of rows 0-7, at most 8
//    live lines per set. The halves then need different activations: a mul with the rows 0-7
//    factor broadcast from memory (free on Zen 4; a separate broadcast takes a shuffle slot)
//    and a merge-masked mul for rows 8-15 (the mul pipes have room for one more per column,
//    not for 4 tokens). In the ramps an idle half adds +0 (maskz): an identity, as a sum
//    started at +0 is never -0.
//    COPY (4 tokens): each line is read once, whole (one zmm load per row), into a contiguous
//    1 KiB buffer, one line ahead, and the chunks are read from there (needs 16-byte aligned
//    rows and ws % 64 == 0; it costs decode ~10%, the skew costs prefill ~15%).
//  - The next 16-row group (contiguous memory) is prefetched into L2 in address order, as
//    fast as the group is read: 16 interleaved row streams alone reach ~60% of DRAM speed.
//    The first group of a call (no group before it) prefetches each row 1 KiB ahead instead.
//  - F32 (twice the bytes per column) reads whole lines and keeps the 16x16 f32 transpose.
//  - Rows come as 4 quads of 4 (a base each): a group of fewer than 16 rows (a small matrix or a
//    thread's share of one) repeats rows of its own in the spare lanes instead of reading a
//    zero-padded copy, and the lanes are put back in row order at the store.
// The dependent add chain (3 cycles per column) overlaps the next chunk's loads and unpacks.
// Measured on Zen 4 (L2-resident, cycles per column of 16 rows): ~4 plain, ~4.5 skewed, ~5
// skewed with the 4 KiB row stride. No better: two groups' chains interleaved, adds on the FMA
// pipes (the conversions and unpacks share pipes and are the limit), decode COPY, a wider skew,
// a 64-byte-per-column table of the two halves' factors (read from L2), 512-bit broadcasts.
template <GgmlType WT>
constexpr int kEsz = WT == GgmlType::F32 ? 4 : 2;

// Row j < 4 of a quad at b + j * ws: one addressing mode each from 2 stride registers and the 4
// quad bases (16 row pointers would spill).
struct Rows {
    size_t ws, ws3;
    INL const uint8_t* at(const uint8_t* b, int j) const {
        switch (j) {
            case 0: return b;
            case 1: return b + ws;
            case 2: return b + 2 * ws;
            default: return b + ws3;
        }
    }
};

// A chunk of C columns of the 16 lanes: lane l reads row l % 4 of quad q[l / 4]; lanes 0-7
// (quads 0, 1) have cl columns valid, lanes 8-15 ch (EDGE: masked loads, zero-filled). After
// load() and transpose(), col(c) holds column c of lanes 0-15.
// F16/BF16: 16 bytes per row, two rows per ymm, in-lane 8x8 word transpose.
template <GgmlType WT>
struct Chunk {
    static constexpr int C = 8;
    __m256i r[8];
    template <bool EDGE>
    T512 INL static __m128i ld(const uint8_t* p, int cn) {
        if (!EDGE) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        return cn > 0 ? _mm_maskz_loadu_epi16((__mmask8)((1u << cn) - 1), p) : _mm_setzero_si128();
    }
    template <bool EDGE>
    T512 INL void load(const Rows& R, const uint8_t* const* q, int cl, int ch) {
        UNROLL for (int i = 0; i < 8; ++i)  // ymm i = lanes i | 8+i
            r[i] = _mm256_inserti128_si256(_mm256_castsi128_si256(ld<EDGE>(R.at(q[i / 4], i & 3), cl)),
                                           ld<EDGE>(R.at(q[2 + i / 4], i & 3), ch), 1);
    }
    T512 INL void transpose() {
        __m256i t[8], u[8];
        UNROLL for (int i = 0; i < 4; ++i) {
            t[2 * i] = _mm256_unpacklo_epi16(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm256_unpackhi_epi16(r[2 * i], r[2 * i + 1]);
        }
        UNROLL for (int h = 0; h < 8; h += 4) {
            u[h] = _mm256_unpacklo_epi32(t[h], t[h + 2]);
            u[h + 1] = _mm256_unpackhi_epi32(t[h], t[h + 2]);
            u[h + 2] = _mm256_unpacklo_epi32(t[h + 1], t[h + 3]);
            u[h + 3] = _mm256_unpackhi_epi32(t[h + 1], t[h + 3]);
        }
        UNROLL for (int i = 0; i < 4; ++i) {
            r[2 * i] = _mm256_unpacklo_epi64(u[i], u[4 + i]);
            r[2 * i + 1] = _mm256_unpackhi_epi64(u[i], u[4 + i]);
        }
    }
    T512 INL __m512 col(int c) const {
        if constexpr (WT == GgmlType::F16) return _mm512_cvtph_ps(r[c]);
        else return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(r[c]), 16));
    }
};

// F32: a whole line (16 columns) per row and a 16x16 transpose; 16-byte pieces would read each
// line 4 times, and F32 needs twice the bytes per column anyway.
template <>
struct Chunk<GgmlType::F32> {
    static constexpr int C = 16;
    __m512 r[16];
    template <bool EDGE>
    T512 INL void load(const Rows& R, const uint8_t* const* q, int cl, int ch) {
        UNROLL for (int i = 0; i < 16; ++i) {
            const float* p = reinterpret_cast<const float*>(R.at(q[i / 4], i & 3));
            const int cn = i < 8 ? cl : ch;
            r[i] = !EDGE ? _mm512_loadu_ps(p)
                 : cn > 0 ? _mm512_maskz_loadu_ps((__mmask16)((1u << cn) - 1), p) : _mm512_setzero_ps();
        }
    }
    T512 INL void transpose() {
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
    T512 INL __m512 col(int c) const { return r[c]; }
};

// acc[t] += col * factor: mul, then add (the reference's rounding). Factor of token t: a[t * lda]
// (lanes 0-7) and, SKEW, a[t * lda + sk] (lanes 8-15), broadcast from memory by the mul. EDGE:
// only the halves whose column is in [0, n) (lo, hi); an idle half adds +0.
template <int NT, bool SKEW, bool EDGE>
T512 INL void apply_col(__m512* acc, __m512 col, const float* a, int64_t lda, int64_t sk, bool lo, bool hi) {
    if (EDGE && !lo && !hi) return;
    UNROLL for (int t = 0; t < NT; ++t) {
        const float* at = a + t * lda;
        __m512 p;
        if (!EDGE || !SKEW || (lo && hi)) {
            p = _mm512_mul_ps(col, _mm512_set1_ps(at[0]));
            if (SKEW) p = _mm512_mask_mul_ps(p, 0xFF00, col, _mm512_set1_ps(at[sk]));
        } else {
            p = lo ? _mm512_maskz_mul_ps(0x00FF, col, _mm512_set1_ps(at[0]))
                   : _mm512_maskz_mul_ps(0xFF00, col, _mm512_set1_ps(at[sk]));
        }
        acc[t] = _mm512_add_ps(acc[t], p);
    }
}

enum SeqMode { kPlain, kSkew, kCopy };

// Lanes of a group of nr rows (4 <= nr <= 16): quad q reads rows o[q] .. o[q] + 3, o[q] =
// min(4q, nr - 4) (spare lanes repeat the group's last rows); perm[i] is a lane holding row i.
struct Lanes {
    int o[4];
    __m512i perm;
    T512 explicit Lanes(int nr) {
        alignas(64) int32_t p[16] = {};
        for (int l = 15; l >= 0; --l) {
            o[l / 4] = std::min(l / 4 * 4, nr - 4);
            p[o[l / 4] + l % 4] = l;
        }
        perm = _mm512_load_si512(p);
    }
};

// One group x NT tokens (see above); block > 0 (BLK): a multiple of the chunk width. w: the
// group's first row, L: its lanes, a: NT activation rows (lda apart), y: nr (<= 16) rows.
// pf..pf_end: the next group, prefetched as fast as this one is read. pf_cols < n: each row is
// also prefetched pf_cols columns ahead (the first group of a call, which no group before
// prefetched: its 16 row streams alone leave the DRAM idle part of the time). kCopy: 16-bit
// rows, ws % 64 == 0, 16-byte aligned.
template <GgmlType WT, int NT, bool BLK, int MODE>
T512 void seq_rows16(const uint8_t* w, size_t ws, const Lanes& L, int nr, const float* a, int64_t lda, int64_t n,
                     float* y, int64_t ldy, int block, const uint8_t* pf, const uint8_t* pf_end, int64_t pf_cols) {
    constexpr int C = Chunk<WT>::C, E = kEsz<WT>;
    constexpr bool SKEW = MODE == kSkew;
    constexpr int64_t sk = SKEW ? 64 / E : 0;  // lanes 8-15 one line ahead
    const Rows R{ws, 3 * ws};
    const uint8_t* q[4];
    UNROLL for (int j = 0; j < 4; ++j) q[j] = w + L.o[j] * ws + (j < 2 ? 0 : sk * E);
    __m512 acc[NT], tot[NT];
    UNROLL for (int t = 0; t < NT; ++t) acc[t] = tot[t] = _mm512_setzero_ps();
    const bool pairs = block == -2;
    const int64_t kb = BLK ? block : n;
    int64_t kl = std::min(kb, n), kh = kl;  // ends of the current K blocks of lanes 0-7 / lanes 8-15
    int64_t k = -sk;
    // A chunk at column k of lanes 0-7, k + sk of lanes 8-15, from the quads at B (row stride
    // RS); prefetch first, (BLK) flush the halves whose K block ended after.
#define SEQ_COL(c) apply_col<NT, SKEW, kEdge>(acc, x.col(c), a + k + (c), lda, sk, \
                                             k + (c) >= 0 && k + (c) < n, k + sk + (c) < n)
#define SEQ_STEP(EDGE, RS, B0, B1, B2, B3)                                                            \
    {                                                                                                \
        constexpr bool kEdge = EDGE;                                                                 \
        if (pf < pf_end) { /* as many bytes as the chunk has */                                    \
            UNROLL for (int j = 0; j < C * E / 4; ++j) _mm_prefetch((const char*)pf + 64 * j, _MM_HINT_T1); \
            pf += 16 * C * E;                                                                        \
        }                                                                                            \
        if (k + pf_cols < n) /* C * E / 16 quads a chunk: a line per row per 64 bytes read */      \
            UNROLL for (int i = 0; i < C * E / 16; ++i) {                                            \
                const uint8_t* p = q[(k / C * (C * E / 16) + i) & 3] + (k + pf_cols) * E;          \
                UNROLL for (int j = 0; j < 4; ++j) _mm_prefetch((const char*)R.at(p, j), _MM_HINT_T1); \
            }                                                                                        \
        const uint8_t* b[4] = {B0, B1, B2, B3};                                                      \
        /* row addresses from 4 bases, not 16 induction variables */                               \
        __asm__("" : "+r"(b[0]), "+r"(b[1]), "+r"(b[2]), "+r"(b[3]));                                \
        const int cl = EDGE ? int(std::clamp<int64_t>(k < 0 ? 0 : n - k, 0, C)) : C;                 \
        const int ch = EDGE ? int(std::clamp<int64_t>(n - k - sk, 0, C)) : C;                        \
        Chunk<WT> x;                                                                                 \
        x.template load<EDGE>(RS, b, cl, ch);                                                        \
        x.transpose();                                                                               \
        if (pairs) { /* C and k even: the pairs (i, i+1), odd element first */                      \
            UNROLL for (int c = 0; c < C; c += 2) {                                                  \
                SEQ_COL(c + 1);                                                                      \
                SEQ_COL(c);                                                                          \
            }                                                                                        \
        } else {                                                                                     \
            UNROLL for (int c = 0; c < C; ++c) SEQ_COL(c);                                           \
        }                                                                                            \
        if (BLK) {                                                                                   \
            __mmask16 m = 0;                                                                         \
            if (k < kl && k + C >= kl) m |= 0x00FF, kl = std::min(kl + kb, n);                       \
            if (k + sk < kh && k + sk + C >= kh) m |= 0xFF00, kh = std::min(kh + kb, n);             \
            if (m) UNROLL for (int t = 0; t < NT; ++t) {                                             \
                tot[t] = _mm512_mask_add_ps(tot[t], m, tot[t], acc[t]);                              \
                acc[t] = _mm512_mask_mov_ps(acc[t], m, _mm512_setzero_ps());                         \
            }                                                                                        \
        }                                                                                            \
    }
#define SEQ_DIRECT(EDGE) SEQ_STEP(EDGE, R, q[0] + k * E, q[1] + k * E, q[2] + k * E, q[3] + k * E)
    for (; k < 0; k += C) SEQ_DIRECT(true)  // SKEW: lanes 8-15 alone
    if (MODE == kCopy) {
        // chunks up to the rows' first line boundary, then whole lines through the buffer
        for (; k + C <= n && (reinterpret_cast<uintptr_t>(q[0] + k * E) & 63); k += C) SEQ_DIRECT(false)
        alignas(64) uint8_t buf[2][16 * 64];  // lane j's line at 64 * j
        const Rows RB{64, 192};
#define SEQ_COPY(b, col) \
    UNROLL for (int j = 0; j < 16; ++j) _mm512_store_si512(b + 64 * j, _mm512_load_si512(R.at(q[j / 4], j & 3) + (col) * E))
        if (k + 32 <= n) SEQ_COPY(buf[0], k);
        for (int cur = 0; k + 32 <= n; cur ^= 1) {
            if (k + 64 <= n) SEQ_COPY(buf[cur ^ 1], k + 32);
            const uint8_t* bb = buf[cur];
            UNROLL for (int c = 0; c < 4; ++c, k += C)
                SEQ_STEP(false, RB, bb + 16 * c, bb + 256 + 16 * c, bb + 512 + 16 * c, bb + 768 + 16 * c)
        }
#undef SEQ_COPY
    }
    for (; k + sk + C <= n; k += C) SEQ_DIRECT(false)
    for (; k < n; k += C) SEQ_DIRECT(true)
#undef SEQ_DIRECT
#undef SEQ_STEP
#undef SEQ_COL
    const __mmask16 rm = nr == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    UNROLL for (int t = 0; t < NT; ++t)
        _mm512_mask_storeu_ps(y + t * ldy, rm, _mm512_permutexvar_ps(L.perm, BLK ? tot[t] : acc[t]));
}

template <GgmlType WT>
void seq_avx512(const uint8_t* w, size_t ws, int64_t n_rows, const float* a, int64_t lda, int64_t n_tok, int64_t n,
                float* y, int64_t ldy, int block) {
    constexpr int C = Chunk<WT>::C, E = kEsz<WT>;
    if (block > 0 && block % C != 0) return seq_scalar<WT>(w, ws, n_rows, a, lda, n_tok, n, y, ldy, block);
    // Fewer than 4 rows (a quad): a copy padded to 4 (its spare rows' contents are never
    // stored). 4-15 rows: one group whose spare lanes repeat its rows (Lanes). Otherwise groups
    // of 16, the last overlapping the one before (same values: the lanes are independent).
    thread_local std::vector<uint8_t> pad;
    const int64_t ng = std::max<int64_t>(4, n_rows);
    if (n_rows < 4) {
        const size_t rb = size_t(n) * E, pws = (rb + 63) & ~size_t(63);
        if (pad.size() < 4 * pws) pad.resize(4 * pws);
        for (int64_t r = 0; r < n_rows; ++r) std::memcpy(pad.data() + r * pws, w + r * ws, rb);
        w = pad.data();
        ws = pws;
    }
    const Lanes lanes(int(std::min<int64_t>(16, ng)));
    const uint8_t* end = w + (ng - 1) * ws + size_t(n) * E;
    // 16-bit types whose 16 rows overfill an L1 set (64 sets of 8 ways): kSkew or kCopy (F32
    // reads whole lines anyway).
    int per_set[64] = {}, crowd = 0;
    for (int j = 0; j < std::min<int64_t>(16, ng); ++j)
        crowd = std::max(crowd, ++per_set[((reinterpret_cast<uintptr_t>(w) + j * ws) >> 6) & 63]);
    const bool alias = WT != GgmlType::F32 && crowd > 8;
    const bool copy_ok = ws % 64 == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0;
    constexpr int kSk = WT == GgmlType::F32 ? kPlain : kSkew, kCp = WT == GgmlType::F32 ? kPlain : kCopy;
    // Token blocks of ~256 KiB of activations (L2), then row groups, 4 tokens at a time.
    const int64_t tb = std::max<int64_t>(4, (int64_t(256) << 10) / (n * 4 + 1)) & ~int64_t(3);
    for (int64_t t0 = 0; t0 < n_tok; t0 += tb) {
        const int64_t t1 = std::min(n_tok, t0 + tb);
        for (int64_t r0 = 0; r0 < ng; r0 += 16) {
            const int64_t r = std::max<int64_t>(0, std::min(r0, ng - 16));
            const int nr = int(std::min<int64_t>(16, n_rows - r));
            const uint8_t* wr = w + r * ws;
            for (int64_t t = t0; t < t1;) {
                const float* at = a + t * lda;
                float* yt = y + t * ldy + r;
                const uint8_t* pfe = t == t0 ? std::min(end, wr + 32 * ws) : nullptr;  // prefetch once
#define SEQ_CALL(NT, M)                                                                              \
    (block > 0 ? seq_rows16<WT, NT, true, M> : seq_rows16<WT, NT, false, M>)(                        \
        wr, ws, lanes, nr, at, lda, n, yt, ldy, block, wr + 16 * ws, pfe, t == t0 && r0 == 0 ? 1024 / E : n); \
    t += NT
#define SEQ_CALLS(NT) \
    if (!alias) { SEQ_CALL(NT, kPlain); } else if (NT == 4 && copy_ok) { SEQ_CALL(NT, kCp); } else { SEQ_CALL(NT, kSk); }
                switch (std::min<int64_t>(4, t1 - t)) {
                    case 4: SEQ_CALLS(4) break;
                    case 3: SEQ_CALLS(3) break;
                    case 2: SEQ_CALLS(2) break;
                    default: SEQ_CALLS(1) break;
                }
#undef SEQ_CALLS
#undef SEQ_CALL
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
