// Q4_K x Q8_K on the AVX-512 level (F/BW/DQ/VL + VNNI): prefill GEMM on "lane = row" panels
// (gemm_panel) and the decode dot, both bit-identical to vec_dot_q4_K_q8_K_ref: per super-block
// the exact integers sumi and summs, then sumf += d * sumi - dmin * summs as separate f32
// roundings (mul, mul, sub, add), super-blocks in order. Own target attribute: builds with any
// -march; runs only after kernels.cpp has checked CPUID.
//
// Integer core, both paths: vpdpbusd (u8 nibble x s8 activation, 4 products per dword) is one
// multiply op per 64 MACs, but each 32-element sub-block has its own 6-bit scale, applied by
// vpdpwssd on int16 pairs: partial sums of up to 16 elements fit int16 (|S| <= 16*15*127 <
// 2^15), so two of them share a dword and one vpdpwssd scales both. The pair is formed by a
// word blend (panel) or vpackssdw (decode; never saturates). Accumulating one dpbusd chain on
// top of the other's << 16 would be wrong: a negative low half borrows from the high word,
// and vpdpwssd reads raw words. All integer sums are exact.
#include "kernels/cpu/kernels_avx512_target.h"

#include <cstddef>
#include <cstring>

#include "kernels/cpu/kernels_internal.h"

#if defined(__x86_64__)

namespace ds4::kcpu {
namespace {

constexpr size_t kQs = offsetof(block_q8_K, qs), kBs = offsetof(block_q8_K, bsums);
constexpr __mmask32 kOddWords = 0xAAAAAAAAu;

T512 INL __m512i bcast32(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// Constant tables, built at compile time (building them per call costs as much as a row).
struct Tables {
    int8_t sctrl[32];  // ScaleUnpack: vpshufb control, shift and mask per word
    int16_t sshift[16], smask[16];
    int16_t im[16];        // row_dot: m0 m0 m1 m1 ... m7 m7 (against the 16 bsums)
    int16_t ipk[4][16];    // row_dot: scales of the vpackssdw word order, sc_2k x4, sc_2k+1 x4
    int32_t gx[8], gy[8];  // row_dot: gather offsets of 8 consecutive blocks
};
constexpr Tables make_tables() {
    Tables t{};
    for (int i = 0; i < 16; ++i) {
        int lo, hi;  // source bytes of word i (-1: zero)
        if (i < 4) lo = i, hi = -1;              // sc0..3 = s[i] & 63
        else if (i < 8) lo = i + 4, hi = i - 4;  // sc4..7 = s[i+4] & 15 | (s[i-4] >> 6) << 4
        else if (i < 12) lo = i - 4, hi = -1;    // m0..3 = s[i-4] & 63
        else lo = i - 4, hi = i - 8;             // m4..7 = s[i-4] >> 4 | (s[i-8] >> 6) << 4
        t.sctrl[2 * i] = int8_t(lo);  // (vpshufb indexes within each 128-bit half: both hold s)
        t.sctrl[2 * i + 1] = int8_t(hi < 0 ? -128 : hi);
        t.sshift[i] = int16_t(i >= 12 ? 4 : 0);
        t.smask[i] = int16_t((i < 4 || (i >= 8 && i < 12)) ? 0x3F : 0x0F);
        t.im[i] = int16_t(8 + i / 2);
    }
    for (int k = 0; k < 4; ++k)
        for (int i = 0; i < 16; ++i) t.ipk[k][i] = int16_t(2 * k + (i % 8 >= 4));
    for (int k = 0; k < 8; ++k) t.gx[k] = k * int(sizeof(block_q4_K)), t.gy[k] = k * int(sizeof(block_q8_K));
    return t;
}
alignas(64) constexpr Tables kTab = make_tables();
T512 INL __m256i ld256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Q4_K's 12 scale bytes -> 16 words sc0..sc7, m0..m7 (get_scale_min_k4 for all sub-blocks) in
// five ymm ops. One vpshufb gathers per word the byte with the low bits and, for sub-blocks
// 4..7, the byte with the top 2 bits: word = (w >> A) & M | (w >> 10) & 0x30.
struct ScaleUnpack {
    __m256i ctrl, shift, mask, m30;
    T512 ScaleUnpack()
        : ctrl(ld256(kTab.sctrl)), shift(ld256(kTab.sshift)), mask(ld256(kTab.smask)), m30(_mm256_set1_epi16(0x30)) {}
    T512 INL __m256i operator()(const uint8_t* s) const {
        // The 16-byte load covers the 12 scale bytes (the 4 after them are the block's qs).
        const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
        const __m256i w = _mm256_shuffle_epi8(b, ctrl);
        const __m256i top = _mm256_and_si256(_mm256_srli_epi16(w, 10), m30);
        return _mm256_or_si256(_mm256_and_si256(_mm256_srlv_epi16(w, shift), mask), top);
    }
};

// =====================================================================================
// Panel GEMM. Per super-block the panel holds, for 16 rows (lane r = row r): the nibbles as u8
// values, zmm (s, g) = elements 32s+4g..+3 of every row; per sub-block the scale as an (sc, sc)
// int16 pair per lane; the mins as (m_2p, m_2p+1) pairs; d and dmin as f32. Nibbles are stored
// unpacked (4 KiB per super-block instead of 2) so the inner loop has no and/shift work, which
// would be redone for every token tile; the panel (78 KiB at n = 4096) streams from L2.
// Per sub-block and token: 8 vpdpbusd with the activation dword as a broadcast memory operand,
// one shift, one blend, one vpdpwssd. The mins: 4 vpdpwssd per super-block and token against
// the activation's pair sums bs[2j] + bs[2j+1], formed once per tile.
// =====================================================================================
struct PanelSB {
    uint8_t w[8][8][64];
    int32_t sc[8][16];
    int32_t mn[4][16];
    float d[16], dmin[16];
};
static_assert(sizeof(PanelSB) % 64 == 0);

// pshufb control selecting, in every dword, source bytes b0..b3 of that dword (-1: zero).
T512 INL __m512i dword_ctrl(int b0, int b1, int b2, int b3) {
    auto c = [](int b) { return uint32_t(b < 0 ? 0x80 : b); };
    const __m512i pat = _mm512_set1_epi32(int(c(b0) | c(b1) << 8 | c(b2) << 16 | c(b3) << 24));
    // + 4 * (dword index within its 128-bit lane): vpshufb indexes the lane (0x80 stays >= 0x80).
    return _mm512_add_epi8(pat, _mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0));
}

struct Q4KPanel {
    static constexpr int kPanelRows = 16, kCols = 4, kMinPanelTokens = 2;
    static size_t panel_bytes(int64_t n) { return size_t(n / QK_K) * sizeof(PanelSB); }

    T512 static void pack(const uint8_t* w, size_t ws, int nr, int64_t n, uint8_t* panel) {
        const int64_t nb = n / QK_K;
        const __m512i m4 = _mm512_set1_epi8(0x0F), w0f = _mm512_set1_epi16(0x0F), w30 = _mm512_set1_epi16(0x30),
                      w3f = _mm512_set1_epi16(0x3F);
        const __mmask16 live = (__mmask16)((1u << nr) - 1);
        const __m512i vidx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                _mm512_set1_epi32(int32_t(ws)));
        __m512i lo2[4], hi2[4];  // byte j of a dword -> both words (low byte / high byte)
        UNROLL for (int j = 0; j < 4; ++j) lo2[j] = dword_ctrl(j, -1, j, -1), hi2[j] = dword_ctrl(-1, j, -1, j);
        const __m512i mlo[2] = {dword_ctrl(0, -1, 1, -1), dword_ctrl(2, -1, 3, -1)};
        const __m512i mhi[2] = {dword_ctrl(-1, 0, -1, 1), dword_ctrl(-1, 2, -1, 3)};
        // Final step of the 8x8 dword transposes: 128-bit lane h of a and b, in both 256-bit halves.
        const __m512i perm[2] = {_mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13),
                                 _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15)};
        PanelSB* P = reinterpret_cast<PanelSB*>(panel);
        for (int64_t i = 0; i < nb; ++i, ++P) {
            const uint8_t* b = w + i * sizeof(block_q4_K);
            // Nibbles, 32 bytes of qs per row at a time: rows r and r+8 in one zmm, two 8x8 dword
            // transposes at once, then low/high nibbles = sub-blocks 2j and 2j+1.
            UNROLL for (int j = 0; j < 4; ++j) {
                __m512i z[8], t[8], u[8];
                UNROLL for (int r = 0; r < 8; ++r) {
                    const uint8_t* q = b + r * ws + offsetof(block_q4_K, qs) + 32 * j;
                    // Row r + 8 into the high half by a masked load (an insert would cost a shuffle).
                    const __m512i a = _mm512_castsi256_si512(r < nr ? ld256(q) : _mm256_setzero_si256());
                    z[r] = r + 8 < nr ? _mm512_mask_loadu_epi64(a, 0xF0, q + 8 * ws - 32)
                                      : _mm512_zextsi256_si512(_mm512_castsi512_si256(a));
                }
                UNROLL for (int k = 0; k < 4; ++k) {
                    t[2 * k] = _mm512_unpacklo_epi32(z[2 * k], z[2 * k + 1]);
                    t[2 * k + 1] = _mm512_unpackhi_epi32(z[2 * k], z[2 * k + 1]);
                }
                UNROLL for (int k = 0; k < 2; ++k) {
                    u[4 * k + 0] = _mm512_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
                    u[4 * k + 1] = _mm512_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
                    u[4 * k + 2] = _mm512_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
                    u[4 * k + 3] = _mm512_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
                }
                // u[4k + e], 128-bit lane l: dword 4(l & 1) + e of rows 4k..4k+3 (+8 for l >= 2).
                UNROLL for (int g = 0; g < 8; ++g) {
                    const __m512i v = _mm512_permutex2var_epi64(u[g % 4], perm[g / 4], u[4 + g % 4]);
                    _mm512_store_si512(P->w[2 * j][g], _mm512_and_si512(v, m4));
                    _mm512_store_si512(P->w[2 * j + 1][g], _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
                }
            }
            // Scales and mins with the rows in lanes: gather the header dwords of 16 rows (dead
            // rows read as 0), then get_scale_min_k4 per lane, two words at a time.
            const __m512i zero = _mm512_setzero_si512();
            const __m512i h = _mm512_mask_i32gather_epi32(zero, live, vidx, b, 1);  // d | dmin << 16
            const __m512i s0 = _mm512_mask_i32gather_epi32(zero, live, vidx, b + 4, 1);  // scales[0..3]
            const __m512i s1 = _mm512_mask_i32gather_epi32(zero, live, vidx, b + 8, 1);  // scales[4..7]
            const __m512i s2 = _mm512_mask_i32gather_epi32(zero, live, vidx, b + 12, 1); // scales[8..11]
            UNROLL for (int j = 0; j < 4; ++j) {
                _mm512_store_si512(P->sc[j], _mm512_and_si512(_mm512_shuffle_epi8(s0, lo2[j]), w3f));
                const __m512i v = _mm512_or_si512(_mm512_shuffle_epi8(s2, lo2[j]), _mm512_shuffle_epi8(s0, hi2[j]));
                _mm512_store_si512(P->sc[4 + j], _mm512_or_si512(_mm512_and_si512(v, w0f),
                                                                 _mm512_and_si512(_mm512_srli_epi16(v, 10), w30)));
            }
            UNROLL for (int p = 0; p < 2; ++p) {
                _mm512_store_si512(P->mn[p], _mm512_and_si512(_mm512_shuffle_epi8(s1, mlo[p]), w3f));
                const __m512i v = _mm512_or_si512(_mm512_shuffle_epi8(s2, mlo[p]), _mm512_shuffle_epi8(s1, mhi[p]));
                _mm512_store_si512(P->mn[2 + p], _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), w0f),
                                                                 _mm512_and_si512(_mm512_srli_epi16(v, 10), w30)));
            }
            _mm512_store_ps(P->d, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)));
            _mm512_store_ps(P->dmin, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(h, 16))));
        }
    }

    template <int NC>
    T512 static void panel_tile(const uint8_t* panel, int64_t n, const uint8_t* a, size_t as, float* y, int64_t ldy,
                                int nr) {
        const int64_t nb = n / QK_K;
        const PanelSB* P = reinterpret_cast<const PanelSB*>(panel);
        __m512 acc[NC];
        UNROLL for (int c = 0; c < NC; ++c) acc[c] = _mm512_setzero_ps();
        for (int64_t i = 0; i < nb; ++i, ++P) {
            const uint8_t* ab = a + i * sizeof(block_q8_K);
            // Activation pair sums (bs[2j] + bs[2j+1], j = 0..7) as 8 words; fit int16: |.| <= 32*127.
            alignas(16) int16_t bs2[NC][8];
            UNROLL for (int c = 0; c < NC; ++c) {
                const __m256i bs = ld256(ab + c * as + kBs);
                _mm_store_si128(reinterpret_cast<__m128i*>(bs2[c]),
                                _mm256_cvtepi32_epi16(_mm256_add_epi32(bs, _mm256_srli_epi32(bs, 16))));
            }
            __m512i sumi[NC];
            UNROLL for (int c = 0; c < NC; ++c) sumi[c] = _mm512_setzero_si512();
            UNROLL for (int s = 0; s < 8; ++s) {
                __m512i wv[8];
                UNROLL for (int g = 0; g < 8; ++g) wv[g] = _mm512_load_si512(P->w[s][g]);
                const __m512i sc = _mm512_load_si512(P->sc[s]);  // (sc, sc): scales both halves
                UNROLL for (int c = 0; c < NC; ++c) {
                    const uint8_t* q = ab + c * as + kQs + 32 * s;
                    __m512i lo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv[0], bcast32(q));
                    __m512i hi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv[4], bcast32(q + 16));
                    UNROLL for (int g = 1; g < 4; ++g) {
                        lo = _mm512_dpbusd_epi32(lo, wv[g], bcast32(q + 4 * g));
                        hi = _mm512_dpbusd_epi32(hi, wv[4 + g], bcast32(q + 16 + 4 * g));
                    }
                    const __m512i d = _mm512_mask_blend_epi16(kOddWords, lo, _mm512_slli_epi32(hi, 16));
                    sumi[c] = _mm512_dpwssd_epi32(sumi[c], d, sc);
                }
            }
            const __m512 xd = _mm512_load_ps(P->d), xdm = _mm512_load_ps(P->dmin);
            UNROLL for (int c = 0; c < NC; ++c) {
                __m512i mm = _mm512_setzero_si512();
                UNROLL for (int p = 0; p < 4; ++p)
                    mm = _mm512_dpwssd_epi32(mm, _mm512_load_si512(P->mn[p]), bcast32(&bs2[c][2 * p]));
                float yd;
                std::memcpy(&yd, ab + c * as, 4);
                const __m512 vyd = _mm512_set1_ps(yd);
                const __m512 d = _mm512_mul_ps(xd, vyd), dm = _mm512_mul_ps(xdm, vyd);
                const __m512 t = _mm512_sub_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(sumi[c])),
                                               _mm512_mul_ps(dm, _mm512_cvtepi32_ps(mm)));
                acc[c] = _mm512_add_ps(acc[c], t);
            }
        }
        const __mmask16 m = (__mmask16)((1u << nr) - 1);
        UNROLL for (int c = 0; c < NC; ++c) _mm512_mask_storeu_ps(y + c * ldy, m, acc[c]);
    }

    T512 static float row_dot(const uint8_t* w, const uint8_t* a, int64_t n);
};

// =====================================================================================
// Decode dot, one row. ymm granularity matches the layout: 32 bytes of qs are one sub-block
// pair (low nibbles: sub-block 2k, high: 2k+1) against 2 x 32 contiguous activation bytes, so
// no cross-lane shuffles (a zmm version was bound by them). Per super-block a zmm whose lanes
// 0-7 sum to sumi and lanes 8-15 to summs; 8 super-blocks are reduced together by a
// transpose-reduce, their f32 terms computed as vectors; only the reference's sequential
// sumf += t chain is scalar. ~2x fewer vector ops per super-block than maddubs + dpwssd.
// =====================================================================================
T512 INL __m512i sb_sums(const block_q4_K* x, const block_q8_K* y, const ScaleUnpack& unpack, __m256i m4,
                         __m256i im) {
    const __m256i u = unpack(x->scales);
    const __m256i summs = _mm256_madd_epi16(_mm256_permutexvar_epi16(im, u), ld256(y->bsums));
    const uint8_t* q = reinterpret_cast<const uint8_t*>(y->qs);
    const __m256i zero = _mm256_setzero_si256();
    __m256i d[4];
    UNROLL for (int k = 0; k < 4; ++k) {
        __m256i w = ld256(x->qs + 32 * k);
        __asm__("" : "+v"(w));  // one load: GCC would fold it into both uses, doubling the loads
        const __m256i lo = _mm256_and_si256(w, m4), hi = _mm256_and_si256(_mm256_srli_epi16(w, 4), m4);
        const __m256i plo = _mm256_dpbusd_epi32(zero, lo, ld256(q + 64 * k));
        const __m256i phi = _mm256_dpbusd_epi32(zero, hi, ld256(q + 64 * k + 32));
        d[k] = _mm256_packs_epi32(plo, phi);
    }
    __m256i sc[4];  // (a lambda would not inherit the target attribute)
    UNROLL for (int k = 0; k < 4; ++k) sc[k] = _mm256_permutexvar_epi16(ld256(kTab.ipk[k]), u);
    // Two accumulation chains keep the latency short.
    const __m256i s = _mm256_add_epi32(_mm256_dpwssd_epi32(_mm256_madd_epi16(d[0], sc[0]), d[1], sc[1]),
                                       _mm256_dpwssd_epi32(_mm256_madd_epi16(d[2], sc[2]), d[3], sc[3]));
    return _mm512_inserti64x4(_mm512_castsi256_si512(s), summs, 1);
}

T512 float Q4KPanel::row_dot(const uint8_t* w, const uint8_t* a, int64_t n) {
    const block_q4_K* x = reinterpret_cast<const block_q4_K*>(w);
    const block_q8_K* y = reinterpret_cast<const block_q8_K*>(a);
    const int64_t nb = n / QK_K;
    const ScaleUnpack unpack;
    const __m256i m4 = _mm256_set1_epi8(0x0F), im = ld256(kTab.im), gx = ld256(kTab.gx), gy = ld256(kTab.gy);
    const __m512i qperm = _mm512_setr_epi64(0, 1, 4, 5, 2, 3, 6, 7);
    // The chain of a group (8 dependent adds) runs one group late, after the next group's
    // integer work in program order, so its latency overlaps that work.
    float sumf = 0.f;
    alignas(32) float tv[8];
    int pending = 0;
    for (int64_t i0 = 0; i0 < nb; i0 += 8) {
        const int cnt = nb - i0 < 8 ? int(nb - i0) : 8;
        const __mmask8 km = (__mmask8)((1u << cnt) - 1);
        const __m256i hx = _mm256_mmask_i32gather_epi32(_mm256_setzero_si256(), km, gx, x + i0, 1);  // d|dmin
        const __m256 yd = _mm256_mmask_i32gather_ps(_mm256_setzero_ps(), km, gy, y + i0, 1);
        __m512i z[8];
        UNROLL for (int k = 0; k < 8; ++k)
            z[k] = k < cnt ? sb_sums(x + i0 + k, y + i0 + k, unpack, m4, im) : _mm512_setzero_si512();
        for (int k = 0; k < pending; ++k) sumf += tv[k];
        // Transpose-reduce: r = [sumi 0-3 | summs 0-3 | sumi 4-7 | summs 4-7].
        __m512i t[4], v[2];
        UNROLL for (int k = 0; k < 4; ++k)
            t[k] = _mm512_add_epi32(_mm512_unpacklo_epi32(z[2 * k], z[2 * k + 1]),
                                    _mm512_unpackhi_epi32(z[2 * k], z[2 * k + 1]));
        UNROLL for (int k = 0; k < 2; ++k)
            v[k] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * k], t[2 * k + 1]),
                                    _mm512_unpackhi_epi64(t[2 * k], t[2 * k + 1]));
        const __m512i r = _mm512_permutexvar_epi64(
            qperm, _mm512_add_epi32(_mm512_shuffle_i32x4(v[0], v[1], 0x88), _mm512_shuffle_i32x4(v[0], v[1], 0xDD)));
        const __m256i sumi = _mm512_castsi512_si256(r), summs = _mm512_extracti64x4_epi64(r, 1);
        const __m256 xd = _mm256_cvtph_ps(_mm256_cvtepi32_epi16(hx));
        const __m256 xdm = _mm256_cvtph_ps(_mm256_cvtepi32_epi16(_mm256_srli_epi32(hx, 16)));
        const __m256 d = _mm256_mul_ps(xd, yd), dm = _mm256_mul_ps(xdm, yd);
        _mm256_store_ps(tv, _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(sumi)),
                                          _mm256_mul_ps(dm, _mm256_cvtepi32_ps(summs))));
        pending = cnt;
    }
    for (int k = 0; k < pending; ++k) sumf += tv[k];
    return sumf;
}

}  // namespace

void gemm_q4_K_avx512(const void* w, size_t ws, int64_t n_rows, const void* act, size_t as, int64_t n_tok, int64_t n,
                      float* y, int64_t ldy) {
    gemm_panel<Q4KPanel>(w, ws, n_rows, act, as, n_tok, n, y, ldy);
}

float dot_q4_K_avx512(const void* w, const void* a, int64_t n) {
    return Q4KPanel::row_dot(static_cast<const uint8_t*>(w), static_cast<const uint8_t*>(a), n);
}

}  // namespace ds4::kcpu

#endif
