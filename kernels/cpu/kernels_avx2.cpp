// AVX2 (+FMA, F16C, BMI2) kernels. Every function carries its own target attribute, so this
// file builds with any -march and only runs after kernels.cpp has checked CPUID.
//
// Integer quants follow ggml's AVX2 scheme: unsigned weight bytes x int8 activations by
// vpmaddubsw (pair sums fit int16), sub-block scales by vpmaddwd, int32 sums per super-block
// (exact), one f32 FMA per block for d_w * d_a.
#include <immintrin.h>

#include <array>
#include <cstddef>
#include <cstring>

#include "kernels/cpu/kernels_internal.h"
#include "quant/iq2_tables.h"

#if defined(__x86_64__)

#define T2 __attribute__((target("avx2,fma,f16c,bmi,bmi2")))
#define INL inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

namespace ds4::kcpu {
namespace {

T2 INL float h2f(uint16_t h) { return _cvtsh_ss(h); }
T2 INL float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
T2 INL __m256i bcast128(__m128i v) { return _mm256_inserti128_si256(_mm256_castsi128_si256(v), v, 1); }
// 16-bit lane pattern selecting word k in both 128-bit lanes (for vpshufb).
T2 INL __m256i word_sel(int k_lo, int k_hi) {
    return _mm256_set_m128i(_mm_set1_epi16((short)(((2 * k_hi + 1) << 8) | (2 * k_hi))),
                            _mm_set1_epi16((short)(((2 * k_lo + 1) << 8) | (2 * k_lo))));
}

// =====================================================================================
// Q8_0 and Q4_K: GEMV, dot and GEMM all bit-identical to vec_dot_q8_0_q8_0_ref /
// vec_dot_q4_K_q8_K_ref (the exact integer sum of every block / super-block, then the
// reference's f32 operations in its order), so decode, prefill in any chunking and the scalar
// level agree exactly.
//
// Prefill: "quad" panels. Every 4 weight rows are repacked into a transient per-thread panel
// (rebuilt for every 4 rows and call, never a resident copy) in which one ymm holds the same
// 8-byte chunk of the 4 rows. The activation's 8 bytes are broadcast against it straight from
// the caller's buffer (vpbroadcastq), so one vpmaddubsw multiplies 4 rows x 8 elements of a
// token, and each weight ymm serves a whole tile of kCols tokens. Q4_K: a sub-block's 4 chunks
// add up as int16 pair sums (8 products, |.| <= 8*15*128), so one vpmaddwd applies the
// sub-block scale per 32 elements x 4 rows (the old 1x4 tiles spent 2 vpmaddubsw + 2 vpmaddwd
// per 64 elements and token). Q8_0 (signed x signed: ggml's vpsignb trick): pair sums reach
// 2*128*127, so every vpmaddubsw has its own vpmaddwd. A token's int32 sums come out as 2 dwords
// per row; vphaddd of two tokens A, B gives 8 (row, token) sums in the order
// [r0 A, r1 A, r0 B, r1 B | r2 A, r3 A, r2 B, r3 B], and the f32 terms are computed 8 at a time
// in that order (the DX / DY vectors are laid out to match).
// =====================================================================================
constexpr int kQuadRows = 4;

// Rows r0..r3 (32 bytes each: 8-byte chunks c0..c3) -> out[c] = chunk c of rows 0..3.
T2 INL void quad_transpose(__m256i r0, __m256i r1, __m256i r2, __m256i r3, __m256i out[4]) {
    const __m256i t0 = _mm256_unpacklo_epi64(r0, r1), t1 = _mm256_unpackhi_epi64(r0, r1);
    const __m256i t2 = _mm256_unpacklo_epi64(r2, r3), t3 = _mm256_unpackhi_epi64(r2, r3);
    out[0] = _mm256_permute2x128_si256(t0, t2, 0x20);
    out[1] = _mm256_permute2x128_si256(t1, t3, 0x20);
    out[2] = _mm256_permute2x128_si256(t0, t2, 0x31);
    out[3] = _mm256_permute2x128_si256(t1, t3, 0x31);
}
// The 32 bytes at p of rows 0..3 (ws apart) as quad chunks; rows from nr on are zero (they are
// computed and never stored).
T2 INL void quad_load(const uint8_t* p, size_t ws, int nr, __m256i out[4]) {
    __m256i r[4];
    UNROLL for (int k = 0; k < 4; ++k)
        r[k] = k < nr ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + k * ws)) : _mm256_setzero_si256();
    quad_transpose(r[0], r[1], r[2], r[3], out);
}
// f32 of the fp16 at p of rows 0..3 (0 from nr on) in the sum order [0 1 0 1 | 2 3 2 3].
T2 INL __m256 quad_dx(const uint8_t* p, size_t ws, int nr) {
    float d[4];
    for (int r = 0; r < 4; ++r) {
        uint16_t h = 0;
        if (r < nr) std::memcpy(&h, p + r * ws, 2);
        d[r] = h2f(h);
    }
    return _mm256_setr_ps(d[0], d[1], d[0], d[1], d[2], d[3], d[2], d[3]);
}
T2 INL __m256i bcast64(const uint8_t* p) {
    long long v;
    std::memcpy(&v, p, 8);
    return _mm256_set1_epi64x(v);
}

// Stores a tile's sums (NP token pairs, in the order above) for nr rows and nc tokens.
template <int NP>
T2 INL void quad_store(const __m256 sumf[NP], float* y, int64_t ldy, int nr, int nc) {
    alignas(32) float o[NP][8];
    UNROLL for (int p = 0; p < NP; ++p) _mm256_store_ps(o[p], sumf[p]);
    constexpr int kPos[4][2] = {{0, 2}, {1, 3}, {4, 6}, {5, 7}};  // [row][token A, B]
    for (int p = 0; p < NP; ++p)
        for (int h = 0; h < 2 && 2 * p + h < nc; ++h)
            for (int r = 0; r < nr; ++r) y[(2 * p + h) * ldy + r] = o[p][kPos[r][h]];
}

// Tiles of fewer than kCols tokens: the smallest even width >= rem (odd: the last token twice).
template <class K, int M>
T2 INL void quad_tail(int rem, const uint8_t* panel, int64_t nb, const uint8_t* const* a, const uint8_t* tok,
                      const float* dy, float* y, int64_t ldy, int nr) {
    if constexpr (M >= 2) {
        if (rem > M - 2) return K::template tile<M>(panel, nb, a, tok, dy, y, ldy, nr, rem);
        quad_tail<K, M - 2>(rem, panel, nb, a, tok, dy, y, ldy, nr);
    }
}

// GEMM driver of the quad kernels. K provides kBlock, kCols (even), kTokBytes (per-call data per
// token and block), the panel block type PB, dy(block) (the activation block's scale),
// prep_tok(block, out), pack(w, ws, nr, nb, panel), tile<NC>(panel, nb, a[NC], tok, dy, y, ldy,
// nr, nc) and row_dot (decode). Per call it also tabulates the token pairs' dy as [A A B B]
// per block (odd count: B = A), one vbroadcastf128 in the tile's order.
template <class K>
T2 void gemm_quad(const void* w, size_t ws, int64_t n_rows, const void* act, size_t as, int64_t n_tok, int64_t n,
                  float* y, int64_t ldy) {
    const uint8_t* W = static_cast<const uint8_t*>(w);
    const uint8_t* A = static_cast<const uint8_t*>(act);
    if (n_tok < 2) {  // decode: one sequential row stream
        for (int64_t r = 0; r < n_rows; ++r)
            for (int64_t c = 0; c < n_tok; ++c) y[c * ldy + r] = K::row_dot(W + r * ws, A + c * as, n);
        return;
    }
    constexpr int NC = K::kCols;
    constexpr size_t BS = sizeof(typename K::Block);
    const int64_t nb = n / K::kBlock, np = (n_tok + 1) / 2;
    const size_t pbytes = size_t(nb) * sizeof(typename K::PB), tbytes = size_t(n_tok * nb) * K::kTokBytes;
    uint8_t* panel = panel_scratch(pbytes + tbytes + size_t(np * nb) * 16);
    uint8_t* tok = panel + pbytes;
    float* dyt = reinterpret_cast<float*>(tok + tbytes);
    for (int64_t t = 0; t < n_tok; ++t)
        for (int64_t i = 0; i < nb; ++i) K::prep_tok(A + t * as + i * BS, tok + (t * nb + i) * K::kTokBytes);
    for (int64_t p = 0; p < np; ++p) {
        const uint8_t* a0 = A + 2 * p * as;
        const uint8_t* a1 = 2 * p + 1 < n_tok ? a0 + as : a0;
        for (int64_t i = 0; i < nb; ++i) {
            float* o = dyt + (p * nb + i) * 4;
            o[0] = o[1] = K::dy(a0 + i * BS);
            o[2] = o[3] = K::dy(a1 + i * BS);
        }
    }
    for (int64_t r = 0; r < n_rows; r += kQuadRows) {
        const int nr = int(n_rows - r < kQuadRows ? n_rows - r : kQuadRows);
        K::pack(W + r * ws, ws, nr, nb, panel);
        for (int64_t c = 0; c < n_tok; c += NC) {
            const int nc = int(n_tok - c < NC ? n_tok - c : NC);
            const uint8_t* a[NC];
            for (int t = 0; t < NC; ++t) a[t] = A + (c + (t < nc ? t : nc - 1)) * as;
            const uint8_t* tk = tok + size_t(c * nb) * K::kTokBytes;
            const float* dy = dyt + c / 2 * nb * 4;
            if (nc == NC) K::template tile<NC>(panel, nb, a, tk, dy, y + c * ldy + r, ldy, nr, nc);
            else quad_tail<K, NC>(nc, panel, nb, a, tk, dy, y + c * ldy + r, ldy, nr);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Q8_0 x Q8_0
// ---------------------------------------------------------------------------------------
// One block's 8 dword partials of sum(w * a).
T2 INL __m256i q8_0_partials(const uint8_t* w, const uint8_t* a) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 2));
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 2));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(q, x)), _mm256_set1_epi16(1));
}
// 8 ymm of dword partials -> lane k = sum of v[k].
T2 INL __m256i reduce8(const __m256i v[8]) {
    const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    // a: [v0..v3 low-lane sums | v0..v3 high-lane sums], b likewise for v4..v7
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}
// f32 of the fp16 d of 8 consecutive Q8_0 blocks.
T2 INL __m256 q8_0_d8(const uint8_t* p) {
    uint16_t h[8];
    for (int k = 0; k < 8; ++k) std::memcpy(&h[k], p + k * sizeof(block_q8_0), 2);
    return _mm256_cvtph_ps(_mm_setr_epi16(short(h[0]), short(h[1]), short(h[2]), short(h[3]), short(h[4]), short(h[5]),
                                          short(h[6]), short(h[7])));
}

struct Q80Quad {
    using Block = block_q8_0;
    static constexpr int kBlock = QK8_0, kCols = 6;
    static constexpr size_t kTokBytes = 0;
    struct PB {  // per block: the signed weights as 4 quad chunks, DX
        __m256i w[4];
        __m256 dx;
    };
    T2 static float dy(const uint8_t* b) {
        uint16_t h;
        std::memcpy(&h, b, 2);
        return h2f(h);
    }
    static void prep_tok(const uint8_t*, uint8_t*) {}
    T2 static void pack(const uint8_t* w, size_t ws, int nr, int64_t nb, uint8_t* panel) {
        PB* P = reinterpret_cast<PB*>(panel);
        for (int64_t i = 0; i < nb; ++i) {
            const uint8_t* b = w + i * sizeof(block_q8_0);
            quad_load(b + 2, ws, nr, P[i].w);
            P[i].dx = quad_dx(b, ws, nr);
        }
    }
    template <int NC>
    T2 static void tile(const uint8_t* panel, int64_t nb, const uint8_t* const* a, const uint8_t*, const float* dy,
                        float* y, int64_t ldy, int nr, int nc) {
        constexpr int NP = NC / 2;
        const PB* P = reinterpret_cast<const PB*>(panel);
        const __m256i ones = _mm256_set1_epi16(1);
        __m256 sumf[NP];
        UNROLL for (int p = 0; p < NP; ++p) sumf[p] = _mm256_setzero_ps();
        for (int64_t i = 0; i < nb; ++i) {
            const size_t ao = size_t(i) * sizeof(block_q8_0) + 2;
            __m256i acc[NC];
            UNROLL for (int t = 0; t < NC; ++t) acc[t] = _mm256_setzero_si256();
            _Pragma("GCC unroll 1") for (int k = 0; k < 4; ++k) {  // (unrolled: spills, see Q4KQuad)
                const __m256i sw = P[i].w[k], aw = _mm256_abs_epi8(sw);
                UNROLL for (int t = 0; t < NC; ++t) {
                    const __m256i q = _mm256_sign_epi8(bcast64(a[t] + ao + 8 * k), sw);
                    acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, q), ones));
                }
            }
            // sumf += float(sumi) * (dx * dy)
            UNROLL for (int p = 0; p < NP; ++p) {
                const __m256 dd = _mm256_mul_ps(P[i].dx, _mm256_broadcast_ps(reinterpret_cast<const __m128*>(dy + (p * nb + i) * 4)));
                const __m256 s = _mm256_cvtepi32_ps(_mm256_hadd_epi32(acc[2 * p], acc[2 * p + 1]));
                sumf[p] = _mm256_add_ps(sumf[p], _mm256_mul_ps(s, dd));
            }
        }
        quad_store<NP>(sumf, y, ldy, nr, nc);
    }
    // Decode: 8 blocks' partials reduced and scaled as vectors; only the reference's
    // sequential sumf adds stay scalar.
    T2 static float row_dot(const uint8_t* w, const uint8_t* a, int64_t n) {
        constexpr size_t B = sizeof(block_q8_0);
        const int64_t nb = n / QK8_0;
        float sumf = 0;
        int64_t i = 0;
        for (; i + 8 <= nb; i += 8) {
            __m256i v[8];
            UNROLL for (int k = 0; k < 8; ++k) v[k] = q8_0_partials(w + (i + k) * B, a + (i + k) * B);
            const __m256 dd = _mm256_mul_ps(q8_0_d8(w + i * B), q8_0_d8(a + i * B));
            alignas(32) float t[8];
            _mm256_store_ps(t, _mm256_mul_ps(_mm256_cvtepi32_ps(reduce8(v)), dd));
            UNROLL for (int k = 0; k < 8; ++k) sumf += t[k];
        }
        for (; i < nb; ++i) {
            const __m256i s = q8_0_partials(w + i * B, a + i * B);
            __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            h = _mm_hadd_epi32(h, h);
            h = _mm_hadd_epi32(h, h);
            sumf += float(_mm_cvtsi128_si32(h)) * (dy(w + i * B) * dy(a + i * B));
        }
        return sumf;
    }
};

// ---------------------------------------------------------------------------------------
// Q4_K x Q8_K
// ---------------------------------------------------------------------------------------
T2 INL void q4k_scales(const uint8_t* s, __m256i* sc, __m128i* mins) {
    uint32_t u[4];
    q4k_unpack_scales(s, u);
    const __m256i sm = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u)));
    *sc = bcast128(_mm256_castsi256_si128(sm));
    *mins = _mm256_extracti128_si256(sm, 1);
}
// The activation's pair sums bs[2j] + bs[2j+1] (sub-block j's sum), j = 0..7, as words.
T2 INL __m128i q8k_bsum_pairs(const block_q8_K* y) {
    const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y->bsums));
    return _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
}
T2 INL __m128i u8x8_to_words(const uint32_t* p) {
    long long v;
    std::memcpy(&v, p, 8);
    return _mm_cvtepu8_epi16(_mm_cvtsi64_si128(v));
}

// vpshufb controls broadcasting word s of each 128-bit lane (sub-block s's scale), from memory:
// built in registers, GCC rematerializes them inside the loop.
struct WordSel {
    alignas(32) uint8_t c[8][32];
};
constexpr WordSel make_word_sel() {
    WordSel t{};
    for (int s = 0; s < 8; ++s)
        for (int b = 0; b < 32; ++b) t.c[s][b] = uint8_t(2 * s + (b & 1));
    return t;
}
alignas(32) constexpr WordSel kWordSel = make_word_sel();

struct Q4KQuad {
    using Block = block_q8_K;
    static constexpr int kBlock = QK_K, kCols = 8;
    static constexpr size_t kTokBytes = 32;  // [pair sums | pair sums]
    // Per super-block: qs as quad chunks [64-element group j][chunk k] (packed nibbles: low =
    // sub-block 2j, high = 2j+1); per sub-block the scale, row r in words 4r..4r+3 (the
    // vpmaddubsw word order); the mins as [m row 0 | m row 2], [m row 1 | m row 3]; DX, DMX.
    struct PB {
        __m256i q[4][4];
        __m256i sc[8];
        __m256i m02, m13;
        __m256 dx, dmx;
    };
    T2 static float dy(const uint8_t* b) {
        float d;
        std::memcpy(&d, b, 4);
        return d;
    }
    T2 static void prep_tok(const uint8_t* b, uint8_t* out) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(out), bcast128(q8k_bsum_pairs(reinterpret_cast<const block_q8_K*>(b))));
    }
    T2 static void pack(const uint8_t* w, size_t ws, int nr, int64_t nb, uint8_t* panel) {
        PB* P = reinterpret_cast<PB*>(panel);
        for (int64_t i = 0; i < nb; ++i) {
            const uint8_t* b = w + i * sizeof(block_q4_K);
            UNROLL for (int j = 0; j < 4; ++j) quad_load(b + offsetof(block_q4_K, qs) + 32 * j, ws, nr, P[i].q[j]);
            uint32_t u[4][4] = {};  // per row: 8 scale bytes, 8 min bytes
            for (int r = 0; r < nr; ++r) q4k_unpack_scales(b + r * ws + offsetof(block_q4_K, scales), u[r]);
            const __m256i sv = _mm256_setr_epi32(int(u[0][0]), int(u[0][1]), int(u[1][0]), int(u[1][1]), int(u[2][0]),
                                                 int(u[2][1]), int(u[3][0]), int(u[3][1]));
            UNROLL for (int s = 0; s < 8; ++s) {  // words 0-3 of a lane: byte s (its first row), 4-7: byte 8 + s
                const char lo = char(s), hi = char(8 + s), z = char(-128);
                P[i].sc[s] = _mm256_shuffle_epi8(sv, bcast128(_mm_setr_epi8(lo, z, lo, z, lo, z, lo, z, hi, z, hi, z, hi, z, hi, z)));
            }
            P[i].m02 = _mm256_set_m128i(u8x8_to_words(&u[2][2]), u8x8_to_words(&u[0][2]));
            P[i].m13 = _mm256_set_m128i(u8x8_to_words(&u[3][2]), u8x8_to_words(&u[1][2]));
            P[i].dx = quad_dx(b, ws, nr);
            P[i].dmx = quad_dx(b + 2, ws, nr);
        }
    }
    template <int NC>
    T2 static void tile(const uint8_t* panel, int64_t nb, const uint8_t* const* a, const uint8_t* tok, const float* dy,
                        float* y, int64_t ldy, int nr, int nc) {
        constexpr int NP = NC / 2;
        const PB* P = reinterpret_cast<const PB*>(panel);
        const __m256i* bt[NC];  // token data (pad tokens: the last valid one)
        UNROLL for (int t = 0; t < NC; ++t) bt[t] = reinterpret_cast<const __m256i*>(tok) + (t < nc ? t : nc - 1) * nb;
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        __m256 sumf[NP];
        UNROLL for (int p = 0; p < NP; ++p) sumf[p] = _mm256_setzero_ps();
        for (int64_t i = 0; i < nb; ++i) {
            const size_t ao = size_t(i) * sizeof(block_q8_K) + offsetof(block_q8_K, qs);
            __m256i acc[NC];
            UNROLL for (int t = 0; t < NC; ++t) acc[t] = _mm256_setzero_si256();
            // (Not unrolled: unrolled, GCC reassociates the sums into trees and spills the
            // vpmaddwd results instead of accumulating in acc.)
            _Pragma("GCC unroll 1") for (int j = 0; j < 4; ++j) UNROLL for (int h = 0; h < 2; ++h) {
                __m256i wq[4];
                UNROLL for (int k = 0; k < 4; ++k)
                    wq[k] = _mm256_and_si256(h ? _mm256_srli_epi16(P[i].q[j][k], 4) : P[i].q[j][k], m4);
                const __m256i sc = P[i].sc[2 * j + h];
                UNROLL for (int t = 0; t < NC; ++t) {
                    const uint8_t* q = a[t] + ao + 64 * j + 32 * h;
                    __m256i s = _mm256_maddubs_epi16(wq[0], bcast64(q));
                    UNROLL for (int k = 1; k < 4; ++k) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(wq[k], bcast64(q + 8 * k)));
                    acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(s, sc));
                }
            }
            // sumf += d * sumi - dmin * summs, d = dx * dy, dmin = dmx * dy
            UNROLL for (int p = 0; p < NP; ++p) {
                __m256i mm[2];
                UNROLL for (int h = 0; h < 2; ++h) {
                    const __m256i b = _mm256_load_si256(bt[2 * p + h] + i);
                    mm[h] = _mm256_hadd_epi32(_mm256_madd_epi16(P[i].m02, b), _mm256_madd_epi16(P[i].m13, b));
                }
                const __m256 dyv = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(dy + (p * nb + i) * 4));
                const __m256 d = _mm256_mul_ps(P[i].dx, dyv), dm = _mm256_mul_ps(P[i].dmx, dyv);
                const __m256 si = _mm256_cvtepi32_ps(_mm256_hadd_epi32(acc[2 * p], acc[2 * p + 1]));
                const __m256 sm = _mm256_cvtepi32_ps(_mm256_hadd_epi32(mm[0], mm[1]));
                sumf[p] = _mm256_add_ps(sumf[p], _mm256_sub_ps(_mm256_mul_ps(d, si), _mm256_mul_ps(dm, sm)));
            }
        }
        quad_store<NP>(sumf, y, ldy, nr, nc);
    }
    // Decode: ggml's AVX2 integer scheme per super-block, reduced to the exact sumi and summs.
    T2 static float row_dot(const uint8_t* w, const uint8_t* a, int64_t n) {
        const int64_t nb = n / QK_K;
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        float sumf = 0;
        for (int64_t i = 0; i < nb; ++i) {
            const block_q4_K* x = reinterpret_cast<const block_q4_K*>(w) + i;
            const block_q8_K* y = reinterpret_cast<const block_q8_K*>(a) + i;
            __m256i scv;
            __m128i mins;
            q4k_scales(x->scales, &scv, &mins);
            __m256i sumi = _mm256_setzero_si256();
            UNROLL for (int j = 0; j < 4; ++j) {
                const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs + 32 * j));
                const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y->qs + 64 * j));
                const __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y->qs + 64 * j + 32));
                const __m256i* sel = reinterpret_cast<const __m256i*>(kWordSel.c[2 * j]);
                const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_and_si256(q, m4), a0),
                                                     _mm256_shuffle_epi8(scv, _mm256_load_si256(sel)));
                const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), a1),
                                                     _mm256_shuffle_epi8(scv, _mm256_load_si256(sel + 1)));
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
            }
            const __m128i summ = _mm_madd_epi16(mins, q8k_bsum_pairs(y));
            __m128i r = _mm_hadd_epi32(_mm_add_epi32(_mm256_castsi256_si128(sumi), _mm256_extracti128_si256(sumi, 1)), summ);
            r = _mm_hadd_epi32(r, r);  // [sumi, summs, sumi, summs]
            const float d = h2f(x->d) * y->d, dmin = h2f(x->dmin) * y->d;
            sumf += d * float(_mm_cvtsi128_si32(r)) - dmin * float(_mm_extract_epi32(r, 1));
        }
        return sumf;
    }
};

// =====================================================================================
// Q2_K x Q8_K
// =====================================================================================
struct Q2KK {
    static constexpr int kGemvRows = 1, kRows = 1, kCols = 4;
    template <int NR, int NC>
    T2 static void tile(const uint8_t* w, size_t ws, const uint8_t* a, size_t as, int64_t n, float* out) {
        const int64_t nb = n / QK_K;
        const __m256i m3 = _mm256_set1_epi8(3);
        const __m128i m15 = _mm_set1_epi8(0x0F);
        __m256 acc[NR][NC];
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) acc[r][c] = _mm256_setzero_ps();
        for (int64_t i = 0; i < nb; ++i) {
            const block_q2_K* x[NR];
            const block_q8_K* y[NC];
            __m256i sc16[NR], mn[NR];
            UNROLL for (int r = 0; r < NR; ++r) {
                x[r] = reinterpret_cast<const block_q2_K*>(w + r * ws) + i;
                const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[r]->scales));
                sc16[r] = _mm256_cvtepu8_epi16(_mm_and_si128(s, m15));
                mn[r] = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), m15));
            }
            UNROLL for (int c = 0; c < NC; ++c) y[c] = reinterpret_cast<const block_q8_K*>(a + c * as) + i;
            __m256i sumi[NR][NC];
            UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) sumi[r][c] = _mm256_setzero_si256();
            UNROLL for (int k = 0; k < 2; ++k) {
                __m256i qb[NR], sck[NR];
                UNROLL for (int r = 0; r < NR; ++r) {
                    qb[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[r]->qs + 32 * k));
                    sck[r] = bcast128(k == 0 ? _mm256_castsi256_si128(sc16[r]) : _mm256_extracti128_si256(sc16[r], 1));
                }
                UNROLL for (int s = 0; s < 4; ++s) {
                    __m256i v[NR], sc[NR];
                    UNROLL for (int r = 0; r < NR; ++r) {
                        v[r] = _mm256_and_si256(_mm256_srli_epi16(qb[r], 2 * s), m3);
                        sc[r] = _mm256_shuffle_epi8(sck[r], word_sel(2 * s, 2 * s + 1));
                    }
                    UNROLL for (int c = 0; c < NC; ++c) {
                        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[c]->qs + 128 * k + 32 * s));
                        UNROLL for (int r = 0; r < NR; ++r)
                            sumi[r][c] = _mm256_add_epi32(sumi[r][c], _mm256_madd_epi16(_mm256_maddubs_epi16(v[r], av), sc[r]));
                    }
                }
            }
            UNROLL for (int c = 0; c < NC; ++c) {
                const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[c]->bsums));
                UNROLL for (int r = 0; r < NR; ++r) {
                    const __m256 summ = _mm256_cvtepi32_ps(_mm256_madd_epi16(mn[r], bs));
                    const float d = h2f(x[r]->d) * y[c]->d, dm = h2f(x[r]->dmin) * y[c]->d;
                    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi[r][c]), acc[r][c]);
                    acc[r][c] = _mm256_fnmadd_ps(_mm256_set1_ps(dm), summ, acc[r][c]);
                }
            }
        }
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) out[r * NC + c] = hsum(acc[r][c]);
    }
};

// =====================================================================================
// IQ2_XXS x Q8_K: ggml's scheme (grid bytes from 4 table loads, signs as +-1 bytes from a
// 128-entry table, vpsignb on the activation, scale 2*ls+1 by vpmaddwd).
// =====================================================================================
constexpr std::array<uint64_t, 128> make_sign_bytes() {
    std::array<uint64_t, 128> t{};
    for (int i = 0; i < 128; ++i) {
        const uint8_t s = ksigns_iq2xs[i];
        uint64_t v = 0;
        for (int j = 0; j < 8; ++j) v |= (uint64_t)((s >> j) & 1 ? 0xFF : 0x01) << (8 * j);
        t[i] = v;
    }
    return t;
}
constexpr std::array<uint64_t, 128> kSignBytes = make_sign_bytes();

struct IQ2XXSK {
    static constexpr int kGemvRows = 1, kRows = 1, kCols = 4;
    template <int NR, int NC>
    T2 static void tile(const uint8_t* w, size_t ws, const uint8_t* a, size_t as, int64_t n, float* out) {
        const int64_t nb = n / QK_K;
        const uint64_t* G = iq2xxs_grid.data();
        const uint64_t* S = kSignBytes.data();
        __m256 acc[NR][NC];
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) acc[r][c] = _mm256_setzero_ps();
        for (int64_t i = 0; i < nb; ++i) {
            const block_iq2_xxs* x[NR];
            const block_q8_K* y[NC];
            UNROLL for (int r = 0; r < NR; ++r) x[r] = reinterpret_cast<const block_iq2_xxs*>(w + r * ws) + i;
            UNROLL for (int c = 0; c < NC; ++c) y[c] = reinterpret_cast<const block_q8_K*>(a + c * as) + i;
            __m256i sumi[NR][NC];
            UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) sumi[r][c] = _mm256_setzero_si256();
            for (int g = 0; g < 8; ++g) {
                __m256i gr[NR], sg[NR], ls[NR];
                UNROLL for (int r = 0; r < NR; ++r) {
                    const uint8_t* ab = reinterpret_cast<const uint8_t*>(x[r]->qs) + 8 * g;
                    uint32_t a1;
                    std::memcpy(&a1, ab + 4, 4);
                    gr[r] = _mm256_set_epi64x((long long)G[ab[3]], (long long)G[ab[2]], (long long)G[ab[1]], (long long)G[ab[0]]);
                    sg[r] = _mm256_set_epi64x((long long)S[(a1 >> 21) & 127], (long long)S[(a1 >> 14) & 127],
                                              (long long)S[(a1 >> 7) & 127], (long long)S[a1 & 127]);
                    ls[r] = _mm256_set1_epi16((short)(2 * (a1 >> 28) + 1));
                }
                UNROLL for (int c = 0; c < NC; ++c) {
                    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[c]->qs + 32 * g));
                    UNROLL for (int r = 0; r < NR; ++r) {
                        const __m256i p = _mm256_maddubs_epi16(gr[r], _mm256_sign_epi8(av, sg[r]));
                        sumi[r][c] = _mm256_add_epi32(sumi[r][c], _mm256_madd_epi16(p, ls[r]));
                    }
                }
            }
            UNROLL for (int r = 0; r < NR; ++r) {
                const float dw = h2f(x[r]->d);
                UNROLL for (int c = 0; c < NC; ++c)
                    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y[c]->d), _mm256_cvtepi32_ps(sumi[r][c]), acc[r][c]);
            }
        }
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) out[r * NC + c] = 0.125f * hsum(acc[r][c]);
    }
};

// =====================================================================================
// Float types: 8 elements per step, f32 FMA, scalar tail.
// =====================================================================================
struct LoadF32 {
    T2 static INL __m256 ld(const uint8_t* p, int64_t i) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p) + i); }
    static INL float sc(const uint8_t* p, int64_t i) { return reinterpret_cast<const float*>(p)[i]; }
};
struct LoadF16 {
    T2 static INL __m256 ld(const uint8_t* p, int64_t i) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(p) + i)));
    }
    static INL float sc(const uint8_t* p, int64_t i) { return fp16_to_fp32(reinterpret_cast<const uint16_t*>(p)[i]); }
};
struct LoadBF16 {
    T2 static INL __m256 ld(const uint8_t* p, int64_t i) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(p) + i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    static INL float sc(const uint8_t* p, int64_t i) { return bf16_to_fp32(reinterpret_cast<const uint16_t*>(p)[i]); }
};

template <class L>
struct FloatK {
    static constexpr int kGemvRows = 1, kRows = 2, kCols = 4;
    template <int NR, int NC>
    T2 static void tile(const uint8_t* w, size_t ws, const uint8_t* a, size_t as, int64_t n, float* out) {
        constexpr int U = NR * NC >= 4 ? 1 : 4 / (NR * NC);
        __m256 acc[U][NR][NC];
        UNROLL for (int u = 0; u < U; ++u) UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c)
            acc[u][r][c] = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 8 * U <= n; i += 8 * U) {
            UNROLL for (int u = 0; u < U; ++u) {
                __m256 wv[NR];
                UNROLL for (int r = 0; r < NR; ++r) wv[r] = L::ld(w + r * ws, i + 8 * u);
                UNROLL for (int c = 0; c < NC; ++c) {
                    const __m256 av = L::ld(a + c * as, i + 8 * u);
                    UNROLL for (int r = 0; r < NR; ++r) acc[u][r][c] = _mm256_fmadd_ps(wv[r], av, acc[u][r][c]);
                }
            }
        }
        for (; i + 8 <= n; i += 8) {
            __m256 wv[NR];
            UNROLL for (int r = 0; r < NR; ++r) wv[r] = L::ld(w + r * ws, i);
            UNROLL for (int c = 0; c < NC; ++c) {
                const __m256 av = L::ld(a + c * as, i);
                UNROLL for (int r = 0; r < NR; ++r) acc[0][r][c] = _mm256_fmadd_ps(wv[r], av, acc[0][r][c]);
            }
        }
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) {
            __m256 s = acc[0][r][c];
            UNROLL for (int u = 1; u < U; ++u) s = _mm256_add_ps(s, acc[u][r][c]);
            float t = hsum(s);
            for (int64_t k = i; k < n; ++k) t += L::sc(w + r * ws, k) * L::sc(a + c * as, k);
            out[r * NC + c] = t;
        }
    }
};

// =====================================================================================
// Activation quantizers (byte-identical to the scalar references)
// =====================================================================================
T2 INL int first_abs_eq(const float* x, int n, float amax) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF)), va = _mm256_set1_ps(amax);
    for (int k = 0; k < n; k += 8) {
        const int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(x + k), absmask), va, _CMP_EQ_OQ));
        if (m) return k + (int)_tzcnt_u32((unsigned)m);
    }
    return 0;
}
T2 INL float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

T2 void quantize_q8_K_avx2(const float* x, void* dst, int64_t n) {
    block_q8_K* y = static_cast<block_q8_K*>(dst);
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i mmant = _mm256_set1_epi32(0x007FFFFF), moff = _mm256_set1_epi32(0x00400000),
                  m127 = _mm256_set1_epi32(127), mff = _mm256_set1_epi32(0xFF);
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int64_t ib = 0; ib < n / QK_K; ++ib, x += QK_K) {
        __m256 vmax = _mm256_setzero_ps();
        for (int k = 0; k < QK_K; k += 8) vmax = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + k), absmask), vmax);
        const float amax = hmax(vmax);
        if (!amax) {
            std::memset(&y[ib], 0, sizeof y[ib]);
            continue;
        }
        const float iscale = -127.f / x[first_abs_eq(x, QK_K, amax)];
        const __m256 vs = _mm256_set1_ps(iscale), magic = _mm256_set1_ps(12582912.f);
        __m256i s4[8];
        for (int k = 0; k < 8; ++k) {
            __m256i iv[4];
            for (int h = 0; h < 4; ++h) {
                const __m256 v = _mm256_add_ps(_mm256_mul_ps(vs, _mm256_loadu_ps(x + 32 * k + 8 * h)), magic);
                iv[h] = _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(v), mmant), moff);
                iv[h] = _mm256_and_si256(_mm256_min_epi32(iv[h], m127), mff);  // (int8_t) truncation
            }
            const __m256i p = _mm256_packus_epi16(_mm256_packus_epi32(iv[0], iv[1]), _mm256_packus_epi32(iv[2], iv[3]));
            const __m256i q = _mm256_permutevar8x32_epi32(p, perm);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[ib].qs + 32 * k), q);
            s4[k] = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16);  // sums of 4
        }
        // s4[k]: lane 0 = group 2k (4 partials), lane 1 = group 2k+1.
        const __m256i g0 = _mm256_hadd_epi32(_mm256_hadd_epi32(s4[0], s4[1]), _mm256_hadd_epi32(s4[2], s4[3]));
        const __m256i g1 = _mm256_hadd_epi32(_mm256_hadd_epi32(s4[4], s4[5]), _mm256_hadd_epi32(s4[6], s4[7]));
        const __m256i pk = _mm256_packs_epi32(g0, g1);  // lane 0: even groups, lane 1: odd groups
        const __m128i e = _mm256_castsi256_si128(pk), o = _mm256_extracti128_si256(pk, 1);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y[ib].bsums), _mm_unpacklo_epi16(e, o));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y[ib].bsums + 8), _mm_unpackhi_epi16(e, o));
        y[ib].d = 1 / iscale;
    }
}

T2 void quantize_q8_0_avx2(const float* x, void* dst, int64_t n) {
    block_q8_0* y = static_cast<block_q8_0*>(dst);
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    const __m256 signmask = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7), mff = _mm256_set1_epi32(0xFF);
    for (int64_t ib = 0; ib < n / QK8_0; ++ib, x += QK8_0) {
        __m256 xv[4];
        __m256 vmax = _mm256_setzero_ps();
        for (int h = 0; h < 4; ++h) {
            xv[h] = _mm256_loadu_ps(x + 8 * h);
            vmax = _mm256_max_ps(_mm256_and_ps(xv[h], absmask), vmax);
        }
        const float amax = hmax(vmax);
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[ib].d = fp32_to_fp16(d);
        const __m256 vid = _mm256_set1_ps(id);
        __m256i iv[4];
        for (int h = 0; h < 4; ++h) {
            const __m256 v = _mm256_mul_ps(xv[h], vid);
            const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m256 up = _mm256_cmp_ps(_mm256_and_ps(_mm256_sub_ps(v, t), absmask), half, _CMP_GE_OQ);
            const __m256 r = _mm256_add_ps(t, _mm256_and_ps(up, _mm256_or_ps(_mm256_and_ps(v, signmask), one)));
            iv[h] = _mm256_and_si256(_mm256_cvttps_epi32(r), mff);  // low byte, as (int8_t)(int)
        }
        const __m256i p = _mm256_packus_epi16(_mm256_packus_epi32(iv[0], iv[1]), _mm256_packus_epi32(iv[2], iv[3]));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[ib].qs), _mm256_permutevar8x32_epi32(p, perm));
    }
}

T2 void to_f16_avx2(const float* x, uint16_t* y, int64_t n) {
    const __m256i sgn = _mm256_set1_epi32((int)0x80000000u), qnan = _mm256_set1_epi32(0x7E00);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
        if (_mm256_movemask_ps(nan)) {
            const __m256i nv = _mm256_or_si256(_mm256_srli_epi32(_mm256_and_si256(_mm256_castps_si256(v), sgn), 16), qnan);
            const __m128i nv16 = _mm_packus_epi32(_mm256_castsi256_si128(nv), _mm256_extracti128_si256(nv, 1));
            const __m256i nm = _mm256_castps_si256(nan);
            const __m128i nm16 = _mm_packs_epi32(_mm256_castsi256_si128(nm), _mm256_extracti128_si256(nm, 1));
            h = _mm_blendv_epi8(h, nv16, nm16);
        }
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), h);
    }
    for (; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

T2 void to_bf16_avx2(const float* x, uint16_t* y, int64_t n) {
    const __m256i bias = _mm256_set1_epi32(0x7FFF), one = _mm256_set1_epi32(1), abs = _mm256_set1_epi32(0x7FFFFFFF),
                  inf = _mm256_set1_epi32(0x7F800000), qbit = _mm256_set1_epi32(0x40);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
        const __m256i hi = _mm256_srli_epi32(u, 16);
        __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(hi, one))), 16);
        const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs), inf);
        r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, qbit), nan);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                         _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
    }
    for (; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}

T2 void from_f16_avx2(const uint16_t* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
    for (; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

T2 void from_bf16_avx2(const uint16_t* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i v = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))), 16);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), v);
    }
    for (; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}

template <class K>
void set(IsaTable* t, GgmlType type) {
    t->dot[slot(type)] = dot_1x1<K>;
    t->gemm[slot(type)] = gemm_tiled<K>;
}
template <class K>
float quad_dot(const void* w, const void* a, int64_t n) {
    return K::row_dot(static_cast<const uint8_t*>(w), static_cast<const uint8_t*>(a), n);
}
template <class K>
void set_quad(IsaTable* t, GgmlType type) {
    t->dot[slot(type)] = quad_dot<K>;
    t->gemm[slot(type)] = gemm_quad<K>;
}

}  // namespace

void fill_avx2(IsaTable* t) {
    set_quad<Q80Quad>(t, GgmlType::Q8_0);
    set_quad<Q4KQuad>(t, GgmlType::Q4_K);
    set<Q2KK>(t, GgmlType::Q2_K);
    set<IQ2XXSK>(t, GgmlType::IQ2_XXS);
    set<FloatK<LoadF32>>(t, GgmlType::F32);
    set<FloatK<LoadF16>>(t, GgmlType::F16);
    set<FloatK<LoadBF16>>(t, GgmlType::BF16);
    t->quant_q8_0 = quantize_q8_0_avx2;
    t->quant_q8_K = quantize_q8_K_avx2;
    t->to_f16 = to_f16_avx2;
    t->to_bf16 = to_bf16_avx2;
    t->from_f16 = from_f16_avx2;
    t->from_bf16 = from_bf16_avx2;
}

}  // namespace ds4::kcpu

#else  // not x86-64
namespace ds4::kcpu {
void fill_avx2(IsaTable*) {}
}  // namespace ds4::kcpu
#endif
