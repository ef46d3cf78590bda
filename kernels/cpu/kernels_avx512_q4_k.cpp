// Q4_K x Q8_K on the AVX-512 level (F/BW/DQ/VL + VNNI): prefill GEMM on "lane = row" panels
// (gemm_panel) and the decode dot, both bit-identical to vec_dot_q4_K_q8_K_ref: per super-block
// the exact integers sumi and summs, then sumf += d * sumi - dmin * summs as separate f32
// roundings (mul, mul, sub, add), super-blocks in order. Own target attribute: builds with any
// -march; runs only after kernels.cpp has checked CPUID.
//
// Integer core, both paths: vpdpbusd (u8 nibble x s8 activation, 4 products per dword) is one
// multiply op per 64 MACs, but each 32-element sub-block has its own 6-bit scale, applied by
// vpdpwssd on int16 pairs: partial sums of up to 16 elements fit int16 (|S| <= 16*15*128 <
// 2^15), so two of them share a dword and one vpdpwssd scales both. The panel forms the pair by
// a word blend. Accumulating one dpbusd chain on top of the other's << 16 would be wrong as
// such: a negative low half borrows from the high word, and vpdpwssd reads raw words. The
// decode does accumulate that way, on 4-product partials with a bias that keeps the low half
// non-negative and cancels in the sum (see there). All integer sums are exact.
#include "kernels/cpu/kernels_avx512_target.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "kernels/cpu/kernels_internal.h"

#if defined(__x86_64__)

namespace ds4::kcpu {
namespace {

constexpr size_t kQs = offsetof(block_q8_K, qs), kBs = offsetof(block_q8_K, bsums);
// Token counts up to this take the decode path (one pass over the rows for all tokens); more:
// the panel GEMM. At 4 tokens the decode path is still slightly faster per token.
constexpr int kDecodeTokens = 4;
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
    }
    return t;
}
alignas(64) constexpr Tables kTab = make_tables();
T512 INL __m256i ld256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Q4_K's 12 scale bytes -> 16 words sc0..sc7, m0..m7 (get_scale_min_k4 for all sub-blocks) in
// four ymm ops. One vpshufb gathers per word the byte with the low bits and, for sub-blocks
// 4..7, the byte with the top 2 bits: word = (w >> A) & M | (w >> 10) & ~M. (w >> 10 has bits
// 0-5 only, the top 2 bits landing on 4-5, and is 0 where no top byte is gathered.)
struct ScaleUnpack {
    __m256i ctrl, shift, mask;
    T512 ScaleUnpack() : ctrl(ld256(kTab.sctrl)), shift(ld256(kTab.sshift)), mask(ld256(kTab.smask)) {}
    T512 INL __m256i operator()(const uint8_t* s) const {
        // The 16-byte load covers the 12 scale bytes (the 4 after them are the block's qs).
        const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
        const __m256i w = _mm256_shuffle_epi8(b, ctrl);
        return _mm256_ternarylogic_epi32(mask, _mm256_srlv_epi16(w, shift), _mm256_srli_epi16(w, 10), 0xCA);
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
    // Up to kDecodeTokens tokens take the decode path (gemm_q4_K_avx512), never gemm_panel's
    // row_dot fallback.
    static constexpr int kPanelRows = 16, kCols = 4, kMinPanelTokens = kDecodeTokens + 1;
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
// Decode: 1..kDecodeTokens tokens, one pass over the rows (the weight-side work, nibbles,
// scales, d, is shared by the tokens); the activation is first prepared per call and token.
// zmm granularity: 64 bytes of qs are the sub-block pairs 2j, 2j+1 (lo nibbles: sub-blocks 4j,
// 4j+2; hi: 4j+1, 4j+3), against activation bytes the preparation put in the same order.
// (Measured on Zen 4: mixed ymm work issues ~3 ops per cycle, zmm work fills all 4 pipes.)
//
// Per 64 bytes of qs and token, 3 ops and no pack: ph = dpbusd(init, w & 0xF0, a_hi) = init +
// 16 * S_hi per dword (4 products, |S| <= 7680); D = dpbusd(ph << 12, w & 0x0F, a_lo) = 65536 *
// S_hi + 4096 * init + S_lo. With init = 2 the low word is S_lo + 8192 in [512, 15872]: no
// borrow, high word S_hi. With init = 14 (4096 * 14 = 65536 - 8192) it is S_lo - 8192 < 0, which
// borrows exactly the extra 1 from the high word: again high word S_hi. init alternates per
// dword, so of the 8 dwords that share a scale pair, 4 carry +8192 * sc_lo and 4 -8192 * sc_lo
// after vpmaddwd: the biases cancel exactly in the super-block's sum.
//
// The scale pairs (sc_4j, sc_4j+1 | sc_4j+2, sc_4j+3) come from the unpacked scales by one vpermd
// each; the mins: vpmaddwd of the unpacked [sc | m] words against the prepared [0 | pair bsums]
// gives 0 in the low lane and the min terms in the high lane, so two folds put a super-block's
// sumi (low lane) and summs (high lane) in one ymm. Groups of 4 super-blocks are reduced by an
// in-lane transpose-add and their f32 terms computed as vectors; only the reference's sequential
// sumf += t chain is scalar, run one group late so its latency overlaps the next group's work.
// =====================================================================================
constexpr int kG = 4;  // super-blocks per group
constexpr size_t kMinGap = 32 << 10, kMaxGap = 256 << 10;  // distance of the 4 row streams
// Prepared activation per token and group of kG super-blocks: per super-block its qs as 4 zmm
// in the order of the weight zmm ([a 0-31 | a 64-95] for the lo nibbles of qs 0-63, [a 32-63 |
// a 96-127] for its hi nibbles, then the same +128), then kG x 32 bytes of [0 x 8 | bs[2i] +
// bs[2i+1], i = 0..7] (int16, |.| <= 32 * 128), then 8 floats [d_0..d_3 | d_0..d_3]; a partial
// last group is zero-padded.
constexpr size_t kActQs = 0, kActP = kG * 256, kActD = kActP + kG * 32, kGroupBytes = kActD + 64;

T512 INL size_t act_bytes(int64_t nb) { return size_t((nb + kG - 1) / kG) * kGroupBytes; }

T512 void prep_act(const uint8_t* a, int64_t nb, uint8_t* dst) {
    const block_q8_K* y = reinterpret_cast<const block_q8_K*>(a);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t i0 = 0; i0 < nb; i0 += kG, dst += kGroupBytes) {
        alignas(32) float yd[8] = {};
        UNROLL for (int k = 0; k < kG; ++k) {
            __m256i p = _mm256_setzero_si256();
            uint8_t* q = dst + kActQs + 256 * k;
            if (i0 + k < nb) {
                const block_q8_K& b = y[i0 + k];
                // 32-byte chunk c of qs -> slot (c / 4) * 4 + (c % 2) * 2 + (c / 2) % 2
                UNROLL for (int c = 0; c < 8; ++c)
                    _mm256_store_si256(reinterpret_cast<__m256i*>(q + 32 * ((c / 4) * 4 + (c % 2) * 2 + (c / 2) % 2)),
                                       ld256(b.qs + 32 * c));
                const __m128i b2 = _mm256_cvtepi32_epi16(_mm256_madd_epi16(ld256(b.bsums), ones));
                p = _mm256_inserti128_si256(p, b2, 1);
                yd[k] = yd[k + 4] = b.d;
            } else {
                std::memset(q, 0, 256);
            }
            _mm256_store_si256(reinterpret_cast<__m256i*>(dst + kActP + 32 * k), p);
        }
        std::memcpy(dst + kActD, yd, sizeof(yd));
    }
}

// In-lane transpose-add of 4 ymm: lane h of the result, dword k = sum of lane h of z[k].
T512 INL __m256i reduce4(const __m256i z[4]) {
    const __m256i a = _mm256_add_epi32(_mm256_unpacklo_epi32(z[0], z[1]), _mm256_unpackhi_epi32(z[0], z[1]));
    const __m256i b = _mm256_add_epi32(_mm256_unpacklo_epi32(z[2], z[3]), _mm256_unpackhi_epi32(z[2], z[3]));
    return _mm256_add_epi32(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
}

// out[r * os + t * out_stride] = dot(row r, token t) for NR rows (ws apart) and NT tokens, g[t] the
// prepared activation of token t. NR > 1 interleaves independent rows for the out-of-order core.
template <int NR, int NT>
T512 void dot_rows(const uint8_t* w, size_t ws, const uint8_t* const* g, int64_t nb, float* out, int64_t os,
                   int64_t out_stride) {
    const ScaleUnpack unpack;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i hinit = _mm512_set1_epi64(int64_t(14) << 32 | 2);  // init 2, 14, 2, 14, ...
    // scale pair of sub-blocks (2k, 2k+1) = dword k of the unpacked scales, 8 lanes each
    const __m512i sidx0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i sidx1 = _mm512_add_epi32(sidx0, _mm512_set1_epi32(2));
    // (d | dmin << 16) per dword -> halves [d0 d1 d2 d3 dm0 dm1 dm2 dm3]
    const __m128i dctl = _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    float sumf[NR][NT];
    alignas(16) float tv[NR][NT][4];
    UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int t = 0; t < NT; ++t) sumf[r][t] = 0.f;
    int pending = 0;
    for (int64_t i0 = 0; i0 < nb; i0 += kG) {
        const int cnt = nb - i0 < kG ? int(nb - i0) : kG;
        const size_t go = size_t(i0 / kG) * kGroupBytes;
        __m128i hx[NR];
        __m256i z[NR][NT][kG];
        UNROLL for (int r = 0; r < NR; ++r) hx[r] = _mm_setzero_si128();
        UNROLL for (int k = 0; k < kG; ++k) {
            if (k >= cnt) {
                UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int t = 0; t < NT; ++t)
                    z[r][t][k] = _mm256_setzero_si256();
                continue;
            }
            UNROLL for (int r = 0; r < NR; ++r) {
                const block_q4_K* xb = reinterpret_cast<const block_q4_K*>(w + r * ws) + i0 + k;
                int32_t dd;
                std::memcpy(&dd, xb, 4);
                hx[r] = _mm_mask_mov_epi32(hx[r], __mmask8(1u << k), _mm_set1_epi32(dd));
                const __m256i u = unpack(xb->scales);
                const __m512i uz = _mm512_castsi256_si512(u);
                const __m512i sc0 = _mm512_permutexvar_epi32(sidx0, uz), sc1 = _mm512_permutexvar_epi32(sidx1, uz);
                __m512i lo[2], hi[2];
                UNROLL for (int j = 0; j < 2; ++j) {
                    __m512i v = _mm512_loadu_si512(xb->qs + 64 * j);
                    __asm__("" : "+v"(v));  // one load: GCC would fold it into both uses
                    lo[j] = _mm512_and_si512(v, m4);
                    hi[j] = _mm512_andnot_si512(m4, v);  // 16 * high nibble
                }
                UNROLL for (int t = 0; t < NT; ++t) {
                    const uint8_t* q = g[t] + go + kActQs + 256 * k;
                    __m512i D[2];
                    UNROLL for (int j = 0; j < 2; ++j) {
                        const __m512i ph = _mm512_dpbusd_epi32(hinit, hi[j], _mm512_load_si512(q + 128 * j + 64));
                        D[j] = _mm512_dpbusd_epi32(_mm512_slli_epi32(ph, 12), lo[j], _mm512_load_si512(q + 128 * j));
                    }
                    const __m512i s16 = _mm512_dpwssd_epi32(_mm512_madd_epi16(D[0], sc0), D[1], sc1);
                    const __m256i s = _mm256_add_epi32(_mm512_castsi512_si256(s16), _mm512_extracti64x4_epi64(s16, 1));
                    const __m256i mins = _mm256_madd_epi16(u, ld256(g[t] + go + kActP + 32 * k));
                    // [sumi partials | summs partials]
                    z[r][t][k] = _mm256_mask_add_epi32(mins, 0x0F, s, _mm256_permute2x128_si256(s, s, 1));
                }
            }
        }
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int t = 0; t < NT; ++t) for (int k = 0; k < pending; ++k)
            sumf[r][t] += tv[r][t][k];
        UNROLL for (int r = 0; r < NR; ++r) {
            const __m256 xdd = _mm256_cvtph_ps(_mm_shuffle_epi8(hx[r], dctl));  // [d | dmin] of 4 super-blocks
            UNROLL for (int t = 0; t < NT; ++t) {
                const __m256i rr = reduce4(z[r][t]);  // [sumi 0-3 | summs 0-3]
                const __m256 f = _mm256_mul_ps(xdd, _mm256_load_ps(reinterpret_cast<const float*>(g[t] + go + kActD)));
                const __m256 p = _mm256_mul_ps(f, _mm256_cvtepi32_ps(rr));
                _mm_store_ps(tv[r][t], _mm_sub_ps(_mm256_castps256_ps128(p), _mm256_extractf128_ps(p, 1)));
            }
        }
        pending = cnt;
    }
    UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int t = 0; t < NT; ++t) {
        for (int k = 0; k < pending; ++k) sumf[r][t] += tv[r][t][k];
        out[r * os + t * out_stride] = sumf[r][t];
    }
}

T512 float Q4KPanel::row_dot(const uint8_t* w, const uint8_t* a, int64_t n) {
    const int64_t nb = n / QK_K;
    uint8_t* g = panel_scratch(act_bytes(nb));
    prep_act(a, nb, g);
    const uint8_t* const gv[1] = {g};
    float out;
    dot_rows<1, 1>(w, 0, gv, nb, &out, 0, 0);
    return out;
}

// NT <= kDecodeTokens tokens: every row once against all tokens.
template <int NT>
T512 void gemm_decode(const uint8_t* W, size_t ws, int64_t n_rows, const uint8_t* A, size_t as, int64_t n, float* y,
                      int64_t ldy) {
    const int64_t nb = n / QK_K;
    const size_t ab = act_bytes(nb);
    uint8_t* g = panel_scratch(ab * NT);
    const uint8_t* gv[NT];
    UNROLL for (int t = 0; t < NT; ++t) {
        gv[t] = g + t * ab;
        prep_act(A + t * as, nb, g + t * ab);
    }
    int64_t r = 0;
    if constexpr (NT == 1) {
        // 4 rows at a time (~1.3x one row in L2) as 4 sequential streams q rows apart, over
        // blocks of 4q rows, q * ws in [kMinGap, kMaxGap]. Streams closer than ~32 KiB defeat the
        // hardware prefetcher (DRAM: -50% at 9 KiB apart, -15% at 18 KiB), and streams
        // megabytes apart lose too; from 32 KiB to a few hundred KiB they beat one stream.
        // Smaller calls take one row at a time. With more tokens one row at a time is faster.
        const size_t rs = std::max<size_t>(ws, 1);
        const int64_t qmin = int64_t((kMinGap + rs - 1) / rs), qmax = std::max<int64_t>(qmin, int64_t(kMaxGap / rs));
        while (n_rows - r >= 4 * qmin) {
            const int64_t q = std::min((n_rows - r) / 4, qmax);
            for (int64_t i = 0; i < q; ++i) dot_rows<4, NT>(W + (r + i) * ws, q * ws, gv, nb, y + r + i, q, ldy);
            r += 4 * q;
        }
    }
    for (; r < n_rows; ++r) dot_rows<1, NT>(W + r * ws, ws, gv, nb, y + r, 1, ldy);
}

}  // namespace

void gemm_q4_K_avx512(const void* w, size_t ws, int64_t n_rows, const void* act, size_t as, int64_t n_tok, int64_t n,
                      float* y, int64_t ldy) {
    const uint8_t* W = static_cast<const uint8_t*>(w);
    const uint8_t* A = static_cast<const uint8_t*>(act);
    static_assert(kDecodeTokens == 4, "one case per decode token count");
    switch (n_tok) {
        case 1: return gemm_decode<1>(W, ws, n_rows, A, as, n, y, ldy);
        case 2: return gemm_decode<2>(W, ws, n_rows, A, as, n, y, ldy);
        case 3: return gemm_decode<3>(W, ws, n_rows, A, as, n, y, ldy);
        case 4: return gemm_decode<4>(W, ws, n_rows, A, as, n, y, ldy);
        default: return gemm_panel<Q4KPanel>(w, ws, n_rows, act, as, n_tok, n, y, ldy);
    }
}

float dot_q4_K_avx512(const void* w, const void* a, int64_t n) {
    return Q4KPanel::row_dot(static_cast<const uint8_t*>(w), static_cast<const uint8_t*>(a), n);
}

}  // namespace ds4::kcpu

#endif
