// AVX-512 kernels (F/BW/DQ/VL + VNNI; the BF16 dot also has an AVX512-BF16 variant).
// Every function carries its own target attribute, so this file builds with any -march and
// the code only runs after kernels.cpp has checked CPUID.
//
// Integer quants: the weight block is decoded to unsigned bytes (nibbles, 2-bit fields, IQ2
// grid magnitudes; Q8_0 lives in kernels_avx512_q8_0.cpp), multiplied with
// the int8 activation by vpmaddubsw (pair sums fit int16: <= 2*63*127), and the per-sub-block
// scales are applied by VNNI vpdpwssd (int16 x int16 -> int32 accumulate). Integer sums per
// super-block are exact; one f32 FMA per block applies d_w * d_a.
// GCC 12 reports its own _mm512_undefined_*() placeholders (casts, inserts) as uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/kernels_internal.h"
#include "quant/iq2_tables.h"

#if defined(__x86_64__)

#define T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c,bmi,bmi2")))
#define T512BF \
    __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512bf16,avx2,fma,f16c,bmi,bmi2")))
#define T512V \
    __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512vbmi,avx2,fma,f16c,bmi,bmi2")))
#define INL inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

namespace ds4::kcpu {
namespace {

T512 INL float h2f(uint16_t h) { return _cvtsh_ss(h); }
T512 INL __m512 zext128(__m128 v) { return _mm512_insertf32x4(_mm512_setzero_ps(), v, 0); }
T512 INL __m512 zext256(__m256 v) { return _mm512_insertf32x8(_mm512_setzero_ps(), v, 0); }

// =====================================================================================
// Q2_K x Q8_K: 32 bytes of 2-bit fields broadcast to both zmm halves, vpsrlvw by (0,2) or
// (4,6) gives 64 consecutive elements; 16 scales (two 128-bit groups of 8) by vpshufb.
// =====================================================================================
struct Q2KK {
    static constexpr int kGemvRows = 1, kRows = 2, kCols = 4;
    template <int NR, int NC>
    T512 static void tile(const uint8_t* w, size_t ws, const uint8_t* a, size_t as, int64_t n, float* out) {
        const int64_t nb = n / QK_K;
        const __m512i m3 = _mm512_set1_epi8(3);
        const __m128i m15 = _mm_set1_epi8(0x0F);
        __m512i ctrl[2], sh[2];
        UNROLL for (int p = 0; p < 2; ++p) {
            alignas(64) int16_t cw[32], sw[32];
            for (int l = 0; l < 32; ++l) {
                const int k = 4 * p + l / 8;  // 128-bit lane l/8 -> scale word 4p + lane
                cw[l] = (int16_t)(((2 * k + 1) << 8) | (2 * k));
                sw[l] = (int16_t)(l < 16 ? 4 * p : 4 * p + 2);
            }
            ctrl[p] = _mm512_load_si512(cw);
            sh[p] = _mm512_load_si512(sw);
        }
        __m512 acc[NR][NC];
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_setzero_ps();
        for (int64_t i = 0; i < nb; ++i) {
            const block_q2_K* x[NR];
            const block_q8_K* y[NC];
            __m512i scz[NR][2];
            __m256i mn[NR];
            UNROLL for (int r = 0; r < NR; ++r) {
                x[r] = reinterpret_cast<const block_q2_K*>(w + r * ws) + i;
                const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[r]->scales));
                const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(s, m15));
                mn[r] = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), m15));
                scz[r][0] = _mm512_broadcast_i32x4(_mm256_castsi256_si128(sc16));
                scz[r][1] = _mm512_broadcast_i32x4(_mm256_extracti128_si256(sc16, 1));
            }
            UNROLL for (int c = 0; c < NC; ++c) y[c] = reinterpret_cast<const block_q8_K*>(a + c * as) + i;
            __m512i sumi[NR][NC];
            UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) sumi[r][c] = _mm512_setzero_si512();
            UNROLL for (int k = 0; k < 2; ++k) {
                __m512i qb[NR];
                UNROLL for (int r = 0; r < NR; ++r)
                    qb[r] = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[r]->qs + 32 * k)));
                UNROLL for (int p = 0; p < 2; ++p) {
                    __m512i v[NR], sc[NR];
                    UNROLL for (int r = 0; r < NR; ++r) {
                        v[r] = _mm512_and_si512(_mm512_srlv_epi16(qb[r], sh[p]), m3);
                        sc[r] = _mm512_shuffle_epi8(scz[r][k], ctrl[p]);
                    }
                    UNROLL for (int c = 0; c < NC; ++c) {
                        const __m512i az = _mm512_loadu_si512(y[c]->qs + 128 * k + 64 * p);
                        UNROLL for (int r = 0; r < NR; ++r)
                            sumi[r][c] = _mm512_dpwssd_epi32(sumi[r][c], _mm512_maddubs_epi16(v[r], az), sc[r]);
                    }
                }
            }
            UNROLL for (int c = 0; c < NC; ++c) {
                const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[c]->bsums));
                UNROLL for (int r = 0; r < NR; ++r) {
                    const __m256 summ = _mm256_cvtepi32_ps(_mm256_madd_epi16(mn[r], bs));
                    const float d = h2f(x[r]->d) * y[c]->d, dm = h2f(x[r]->dmin) * y[c]->d;
                    acc[r][c] = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi[r][c]), acc[r][c]);
                    acc[r][c] = _mm512_fnmadd_ps(_mm512_set1_ps(dm), zext256(summ), acc[r][c]);
                }
            }
        }
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c)
            out[r * NC + c] = _mm512_reduce_add_ps(acc[r][c]);
    }
};

// =====================================================================================
// IQ2_XXS x Q8_K: 64 elements (two 32-groups) per step. Grid magnitudes from 8 table loads;
// the 8 sign bytes (7 stored bits + even parity) are built in a GPR with pdep and a parity
// fold and applied to the activation through a mask register; scales 2*ls+1 by vpermw.
// =====================================================================================
T512 INL uint64_t iq2_sign_mask(uint32_t a1, uint32_t a3) {
    const uint64_t s56 = (uint64_t)(a1 & 0x0FFFFFFFu) | ((uint64_t)(a3 & 0x0FFFFFFFu) << 28);
    const uint64_t sb = _pdep_u64(s56, 0x7F7F7F7F7F7F7F7Full);
    uint64_t p = sb ^ (sb >> 4);
    p ^= p >> 2;
    p ^= p >> 1;
    return sb | ((p & 0x0101010101010101ull) << 7);
}

struct IQ2XXSK {
    static constexpr int kGemvRows = 1, kRows = 2, kCols = 4;
    template <int NR, int NC>
    T512 static void tile(const uint8_t* w, size_t ws, const uint8_t* a, size_t as, int64_t n, float* out) {
        const int64_t nb = n / QK_K;
        const uint64_t* G = iq2xxs_grid.data();
        __m512i idx[4];
        UNROLL for (int g = 0; g < 4; ++g)
            idx[g] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)(8 * g + 2))),
                                        _mm256_set1_epi16((short)(8 * g + 6)), 1);
        const __m512i one = _mm512_set1_epi32(1);
        __m512 acc[NR][NC];
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_setzero_ps();
        for (int64_t i = 0; i < nb; ++i) {
            const block_iq2_xxs* x[NR];
            const block_q8_K* y[NC];
            __m512i ls[NR];
            UNROLL for (int r = 0; r < NR; ++r) {
                x[r] = reinterpret_cast<const block_iq2_xxs*>(w + r * ws) + i;
                const __m512i s = _mm512_srli_epi32(_mm512_loadu_si512(x[r]->qs), 28);
                ls[r] = _mm512_add_epi32(_mm512_add_epi32(s, s), one);
            }
            UNROLL for (int c = 0; c < NC; ++c) y[c] = reinterpret_cast<const block_q8_K*>(a + c * as) + i;
            __m512i sumi[NR][NC];
            UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) sumi[r][c] = _mm512_setzero_si512();
            UNROLL for (int g = 0; g < 4; ++g) {
                __m512i gr[NR], sc[NR];
                __mmask64 km[NR];
                UNROLL for (int r = 0; r < NR; ++r) {
                    const uint8_t* ab = reinterpret_cast<const uint8_t*>(x[r]->qs) + 16 * g;
                    gr[r] = _mm512_set_epi64((long long)G[ab[11]], (long long)G[ab[10]], (long long)G[ab[9]],
                                             (long long)G[ab[8]], (long long)G[ab[3]], (long long)G[ab[2]],
                                             (long long)G[ab[1]], (long long)G[ab[0]]);
                    uint32_t a1, a3;
                    std::memcpy(&a1, ab + 4, 4);
                    std::memcpy(&a3, ab + 12, 4);
                    km[r] = _cvtu64_mask64(iq2_sign_mask(a1, a3));
                    sc[r] = _mm512_permutexvar_epi16(idx[g], ls[r]);
                }
                UNROLL for (int c = 0; c < NC; ++c) {
                    const __m512i az = _mm512_loadu_si512(y[c]->qs + 64 * g);
                    UNROLL for (int r = 0; r < NR; ++r) {
                        const __m512i as_ = _mm512_mask_sub_epi8(az, km[r], _mm512_setzero_si512(), az);
                        sumi[r][c] = _mm512_dpwssd_epi32(sumi[r][c], _mm512_maddubs_epi16(gr[r], as_), sc[r]);
                    }
                }
            }
            UNROLL for (int r = 0; r < NR; ++r) {
                const float dw = h2f(x[r]->d);
                UNROLL for (int c = 0; c < NC; ++c)
                    acc[r][c] = _mm512_fmadd_ps(_mm512_set1_ps(dw * y[c]->d), _mm512_cvtepi32_ps(sumi[r][c]), acc[r][c]);
            }
        }
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c)
            out[r * NC + c] = 0.125f * _mm512_reduce_add_ps(acc[r][c]);
    }
};

// IQ2_XXS with AVX512-VBMI: no table loads in GPRs. Per block, the 32 grid indices are
// compacted (vpermb) and looked up as 2-bit codes (kgrid_2bit_256, 512 bytes = 8 zmm) with
// four vpermt2w; per 64 elements, vpmultishiftqb spreads a code's 8 fields to bytes and vpshufb
// maps {0,1,2} -> {8,25,43}. Sign bytes come from ksigns via vpermi2b, expand to a k-mask by
// vpermb + vptestmb.
struct IQ2VbmiTables {
    alignas(64) int16_t grid2[256];
    alignas(64) uint8_t ksigns[128];
    alignas(64) uint8_t compact[64], sign_shift[64], field_shift[64], mag_lut[64], bitpat[64];
    alignas(64) int16_t code_sel[4][32];
    alignas(64) uint8_t sign_sel[4][64];
};
constexpr IQ2VbmiTables make_iq2_vbmi_tables() {
    IQ2VbmiTables t{};
    for (int i = 0; i < 256; ++i) t.grid2[i] = (int16_t)kgrid_2bit_256[i];
    for (int i = 0; i < 128; ++i) t.ksigns[i] = ksigns_iq2xs[i];
    for (int i = 0; i < 64; ++i) {
        t.compact[i] = (uint8_t)(i < 32 ? 8 * (i / 4) + i % 4 : 0);
        const int j = i % 8;
        t.sign_shift[i] = (uint8_t)(j < 4 ? 32 + 7 * j : 0);
        t.field_shift[i] = (uint8_t)(2 * j);
        const int lj = i % 16;
        t.mag_lut[i] = (uint8_t)(lj == 0 ? 8 : lj == 1 ? 25 : lj == 2 ? 43 : 0);
        t.bitpat[i] = (uint8_t)(1u << j);
    }
    for (int g = 0; g < 4; ++g) {
        for (int w = 0; w < 32; ++w) t.code_sel[g][w] = (int16_t)(8 * g + w / 4);
        for (int b = 0; b < 64; ++b) {
            const int l = b / 8;
            t.sign_sel[g][b] = (uint8_t)(8 * (2 * g + l / 4) + l % 4);
        }
    }
    return t;
}
constexpr IQ2VbmiTables kIQ2V = make_iq2_vbmi_tables();

T512 INL __m512i ld(const void* p) { return _mm512_load_si512(p); }  // (no lambdas: they lose the target)

struct IQ2XXSVbmiK {
    static constexpr int kGemvRows = 1, kRows = 2, kCols = 4;
    template <int NR, int NC>
    T512V static void tile(const uint8_t* w, size_t ws, const uint8_t* a, size_t as, int64_t n, float* out) {
        const int64_t nb = n / QK_K;
        const IQ2VbmiTables& T = kIQ2V;
        const __m512i compact = ld(T.compact), sign_shift = ld(T.sign_shift), field_shift = ld(T.field_shift),
                      mag_lut = ld(T.mag_lut), bitpat = ld(T.bitpat), ks0 = ld(T.ksigns), ks1 = ld(T.ksigns + 64);
        const __m512i m7f = _mm512_set1_epi8(0x7F), m3 = _mm512_set1_epi8(3), b6 = _mm512_set1_epi16(64),
                      b7 = _mm512_set1_epi16(128), one = _mm512_set1_epi32(1);
        __m512i idx[4];
        UNROLL for (int g = 0; g < 4; ++g)
            idx[g] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)(8 * g + 2))),
                                        _mm256_set1_epi16((short)(8 * g + 6)), 1);
        __m512 acc[NR][NC];
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_setzero_ps();
        for (int64_t i = 0; i < nb; ++i) {
            const block_iq2_xxs* x[NR];
            const block_q8_K* y[NC];
            __m512i codes[NR], sgn[NR], ls[NR];
            UNROLL for (int r = 0; r < NR; ++r) {
                x[r] = reinterpret_cast<const block_iq2_xxs*>(w + r * ws) + i;
                const __m512i q = _mm512_loadu_si512(x[r]->qs);
                const __m512i i16 = _mm512_cvtepu8_epi16(_mm512_castsi512_si256(_mm512_permutexvar_epi8(compact, q)));
                const __m512i c0 = _mm512_permutex2var_epi16(ld(T.grid2), i16, ld(T.grid2 + 32));
                const __m512i c1 = _mm512_permutex2var_epi16(ld(T.grid2 + 64), i16, ld(T.grid2 + 96));
                const __m512i c2 = _mm512_permutex2var_epi16(ld(T.grid2 + 128), i16, ld(T.grid2 + 160));
                const __m512i c3 = _mm512_permutex2var_epi16(ld(T.grid2 + 192), i16, ld(T.grid2 + 224));
                const __mmask32 h6 = _mm512_test_epi16_mask(i16, b6), h7 = _mm512_test_epi16_mask(i16, b7);
                codes[r] = _mm512_mask_blend_epi16(h7, _mm512_mask_blend_epi16(h6, c0, c1), _mm512_mask_blend_epi16(h6, c2, c3));
                const __m512i s7 = _mm512_and_si512(_mm512_multishift_epi64_epi8(sign_shift, q), m7f);
                sgn[r] = _mm512_permutex2var_epi8(ks0, s7, ks1);
                const __m512i s = _mm512_srli_epi32(q, 28);
                ls[r] = _mm512_add_epi32(_mm512_add_epi32(s, s), one);
            }
            UNROLL for (int c = 0; c < NC; ++c) y[c] = reinterpret_cast<const block_q8_K*>(a + c * as) + i;
            __m512i sumi[NR][NC];
            UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) sumi[r][c] = _mm512_setzero_si512();
            UNROLL for (int g = 0; g < 4; ++g) {
                __m512i mag[NR], sc[NR];
                __mmask64 km[NR];
                UNROLL for (int r = 0; r < NR; ++r) {
                    const __m512i cw = _mm512_permutexvar_epi16(ld(T.code_sel[g]), codes[r]);
                    const __m512i f = _mm512_and_si512(_mm512_multishift_epi64_epi8(field_shift, cw), m3);
                    mag[r] = _mm512_shuffle_epi8(mag_lut, f);
                    km[r] = _mm512_test_epi8_mask(_mm512_permutexvar_epi8(ld(T.sign_sel[g]), sgn[r]), bitpat);
                    sc[r] = _mm512_permutexvar_epi16(idx[g], ls[r]);
                }
                UNROLL for (int c = 0; c < NC; ++c) {
                    const __m512i az = _mm512_loadu_si512(y[c]->qs + 64 * g);
                    UNROLL for (int r = 0; r < NR; ++r) {
                        const __m512i as_ = _mm512_mask_sub_epi8(az, km[r], _mm512_setzero_si512(), az);
                        sumi[r][c] = _mm512_dpwssd_epi32(sumi[r][c], _mm512_maddubs_epi16(mag[r], as_), sc[r]);
                    }
                }
            }
            UNROLL for (int r = 0; r < NR; ++r) {
                const float dw = h2f(x[r]->d);
                UNROLL for (int c = 0; c < NC; ++c)
                    acc[r][c] = _mm512_fmadd_ps(_mm512_set1_ps(dw * y[c]->d), _mm512_cvtepi32_ps(sumi[r][c]), acc[r][c]);
            }
        }
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c)
            out[r * NC + c] = 0.125f * _mm512_reduce_add_ps(acc[r][c]);
    }
};

// =====================================================================================
// Float types: 16 elements per step (masked tail), f32 FMA; BF16 also via vdpbf16ps.
// Small tiles get two accumulator sets to hide FMA latency.
// =====================================================================================
struct LoadF32 {
    T512 static INL __m512 ld(const uint8_t* p, int64_t i) { return _mm512_loadu_ps(reinterpret_cast<const float*>(p) + i); }
    T512 static INL __m512 ldm(const uint8_t* p, int64_t i, __mmask16 m) {
        return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(p) + i);
    }
};
struct LoadF16 {
    T512 static INL __m512 ld(const uint8_t* p, int64_t i) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(reinterpret_cast<const uint16_t*>(p) + i)));
    }
    T512 static INL __m512 ldm(const uint8_t* p, int64_t i, __mmask16 m) {
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(p) + i));
    }
};
struct LoadBF16 {
    T512 static INL __m512 ld(const uint8_t* p, int64_t i) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(reinterpret_cast<const uint16_t*>(p) + i));
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    T512 static INL __m512 ldm(const uint8_t* p, int64_t i, __mmask16 m) {
        const __m256i h = _mm256_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(p) + i);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
};

template <class L>
struct FloatK {
    static constexpr int kGemvRows = 1, kRows = 4, kCols = 4;
    template <int NR, int NC>
    T512 static void tile(const uint8_t* w, size_t ws, const uint8_t* a, size_t as, int64_t n, float* out) {
        constexpr int U = NR * NC >= 4 ? 1 : 4 / (NR * NC);
        __m512 acc[U][NR][NC];
        UNROLL for (int u = 0; u < U; ++u) UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c)
            acc[u][r][c] = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i + 16 * U <= n; i += 16 * U) {
            UNROLL for (int u = 0; u < U; ++u) {
                __m512 wv[NR];
                UNROLL for (int r = 0; r < NR; ++r) wv[r] = L::ld(w + r * ws, i + 16 * u);
                UNROLL for (int c = 0; c < NC; ++c) {
                    const __m512 av = L::ld(a + c * as, i + 16 * u);
                    UNROLL for (int r = 0; r < NR; ++r) acc[u][r][c] = _mm512_fmadd_ps(wv[r], av, acc[u][r][c]);
                }
            }
        }
        for (; i < n; i += 16) {
            const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
            __m512 wv[NR];
            UNROLL for (int r = 0; r < NR; ++r) wv[r] = L::ldm(w + r * ws, i, m);
            UNROLL for (int c = 0; c < NC; ++c) {
                const __m512 av = L::ldm(a + c * as, i, m);
                UNROLL for (int r = 0; r < NR; ++r) acc[0][r][c] = _mm512_fmadd_ps(wv[r], av, acc[0][r][c]);
            }
        }
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) {
            __m512 s = acc[0][r][c];
            UNROLL for (int u = 1; u < U; ++u) s = _mm512_add_ps(s, acc[u][r][c]);
            out[r * NC + c] = _mm512_reduce_add_ps(s);
        }
    }
};

// BF16 with AVX512-BF16: vdpbf16ps takes 32 bf16 pairs per instruction.
struct BF16DpK {
    static constexpr int kGemvRows = 1, kRows = 4, kCols = 4;
    template <int NR, int NC>
    T512BF static void tile(const uint8_t* w, size_t ws, const uint8_t* a, size_t as, int64_t n, float* out) {
        constexpr int U = NR * NC >= 4 ? 1 : 4 / (NR * NC);
        __m512 acc[U][NR][NC];
        UNROLL for (int u = 0; u < U; ++u) UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c)
            acc[u][r][c] = _mm512_setzero_ps();
        auto P = [](const uint8_t* p, int64_t i) { return reinterpret_cast<const uint16_t*>(p) + i; };
        int64_t i = 0;
        for (; i + 32 * U <= n; i += 32 * U) {
            UNROLL for (int u = 0; u < U; ++u) {
                __m512i wv[NR];
                UNROLL for (int r = 0; r < NR; ++r) wv[r] = _mm512_loadu_si512(P(w + r * ws, i + 32 * u));
                UNROLL for (int c = 0; c < NC; ++c) {
                    const __m512i av = _mm512_loadu_si512(P(a + c * as, i + 32 * u));
                    UNROLL for (int r = 0; r < NR; ++r)
                        acc[u][r][c] = _mm512_dpbf16_ps(acc[u][r][c], (__m512bh)wv[r], (__m512bh)av);
                }
            }
        }
        for (; i < n; i += 32) {
            const __mmask32 m = n - i >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << (n - i)) - 1);
            __m512i wv[NR];
            UNROLL for (int r = 0; r < NR; ++r) wv[r] = _mm512_maskz_loadu_epi16(m, P(w + r * ws, i));
            UNROLL for (int c = 0; c < NC; ++c) {
                const __m512i av = _mm512_maskz_loadu_epi16(m, P(a + c * as, i));
                UNROLL for (int r = 0; r < NR; ++r)
                    acc[0][r][c] = _mm512_dpbf16_ps(acc[0][r][c], (__m512bh)wv[r], (__m512bh)av);
            }
        }
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) {
            __m512 s = acc[0][r][c];
            UNROLL for (int u = 1; u < U; ++u) s = _mm512_add_ps(s, acc[u][r][c]);
            out[r * NC + c] = _mm512_reduce_add_ps(s);
        }
    }
};

// =====================================================================================
// Activation quantizers (byte-identical to the scalar references)
// =====================================================================================

// Q8_K: amax / first index of it, then ggml's nearest_int (x*iscale + 1.5*2^23, low mantissa
// bits) emulated operation for operation, min(127), truncation to int8, bsums via vpsadbw.
T512 void quantize_q8_K_512(const float* x, void* dst, int64_t n) {
    block_q8_K* y = static_cast<block_q8_K*>(dst);
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    for (int64_t ib = 0; ib < n / QK_K; ++ib, x += QK_K) {
        __m512 vmax = _mm512_setzero_ps();
        for (int k = 0; k < 16; ++k) vmax = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(x + 16 * k), absmask), vmax);
        const float amax = _mm512_reduce_max_ps(vmax);
        if (!amax) {
            std::memset(&y[ib], 0, sizeof y[ib]);
            continue;
        }
        const __m512 va = _mm512_set1_ps(amax);
        int first = 0;
        for (int k = 0; k < 16; ++k) {
            const __mmask16 m = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_loadu_ps(x + 16 * k), absmask), va, _CMP_EQ_OQ);
            if (m) {
                first = 16 * k + (int)_tzcnt_u32(m);
                break;
            }
        }
        const float iscale = -127.f / x[first];
        const __m512 vs = _mm512_set1_ps(iscale), magic = _mm512_set1_ps(12582912.f);
        const __m512i mmant = _mm512_set1_epi32(0x007FFFFF), moff = _mm512_set1_epi32(0x00400000),
                      m127 = _mm512_set1_epi32(127);
        __m512i q[4];
        for (int k = 0; k < 4; ++k) {
            __m128i b[4];
            for (int h = 0; h < 4; ++h) {
                const __m512 v = _mm512_add_ps(_mm512_mul_ps(vs, _mm512_loadu_ps(x + 64 * k + 16 * h)), magic);
                __m512i iv = _mm512_sub_epi32(_mm512_and_si512(_mm512_castps_si512(v), mmant), moff);
                iv = _mm512_min_epi32(iv, m127);
                b[h] = _mm512_cvtepi32_epi8(iv);
            }
            const __m256i lo = _mm256_inserti128_si256(_mm256_castsi128_si256(b[0]), b[1], 1);
            const __m256i hi = _mm256_inserti128_si256(_mm256_castsi128_si256(b[2]), b[3], 1);
            q[k] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
            _mm512_storeu_si512(y[ib].qs + 64 * k, q[k]);
        }
        // bsums: vpsadbw on (q ^ 0x80) gives sums of 8 biased by +1024.
        const __m512i bias = _mm512_set1_epi8((char)0x80);
        __m128i s8[4];
        for (int k = 0; k < 4; ++k)
            s8[k] = _mm512_cvtepi64_epi16(_mm512_sad_epu8(_mm512_xor_si512(q[k], bias), _mm512_setzero_si512()));
        const __m256i h = _mm256_hadd_epi16(_mm256_inserti128_si256(_mm256_castsi128_si256(s8[0]), s8[1], 1),
                                            _mm256_inserti128_si256(_mm256_castsi128_si256(s8[2]), s8[3], 1));
        const __m256i bs = _mm256_sub_epi16(_mm256_permute4x64_epi64(h, 0xD8), _mm256_set1_epi16(2048));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[ib].bsums), bs);
        y[ib].d = 1 / iscale;
    }
}

// Q8_0: amax, d = amax/127, q = roundf(x * (1/d)) (half away from zero: trunc + |frac|>=0.5),
// converted like the reference compiles on x86 (cvttss2si, low byte): when 1/d overflows (amax
// below ~3.7e-37) x*id is +-Inf/NaN and both give 0.
T512 void quantize_q8_0_512(const float* x, void* dst, int64_t n) {
    block_q8_0* y = static_cast<block_q8_0*>(dst);
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    const __m512 signmask = _mm512_castsi512_ps(_mm512_set1_epi32((int)0x80000000u));
    for (int64_t ib = 0; ib < n / QK8_0; ++ib, x += QK8_0) {
        const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
        const __m512 vmax = _mm512_max_ps(_mm512_and_ps(x1, absmask), _mm512_max_ps(_mm512_and_ps(x0, absmask), _mm512_setzero_ps()));
        const float amax = _mm512_reduce_max_ps(vmax);
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[ib].d = fp32_to_fp16(d);
        const __m512 vid = _mm512_set1_ps(id);
        __m128i b[2];
        const __m512 xs[2] = {x0, x1};
        for (int h = 0; h < 2; ++h) {
            const __m512 v = _mm512_mul_ps(xs[h], vid);
            const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __mmask16 up = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_sub_ps(v, t), absmask), half, _CMP_GE_OQ);
            const __m512 r = _mm512_mask_add_ps(t, up, t, _mm512_or_ps(_mm512_and_ps(v, signmask), one));
            b[h] = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(r));  // truncating, as (int8_t)(int)
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[ib].qs),
                            _mm256_inserti128_si256(_mm256_castsi128_si256(b[0]), b[1], 1));
    }
}

// f32 -> f16: vcvtps2ph (nearest even), NaNs replaced by sign | 0x7E00 as the scalar converter.
T512 void to_f16_512(const float* x, uint16_t* y, int64_t n) {
    const __m512i sgn = _mm512_set1_epi32((int)0x80000000u), qnan = _mm512_set1_epi32(0x7E00);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        if (nan) {
            const __m512i nv = _mm512_or_si512(_mm512_srli_epi32(_mm512_and_si512(_mm512_castps_si512(v), sgn), 16), qnan);
            h = _mm256_mask_mov_epi16(h, nan, _mm512_cvtepi32_epi16(nv));
        }
        _mm256_mask_storeu_epi16(y + i, m, h);
    }
}

// f32 -> bf16 in integer arithmetic: vcvtneps2bf16 flushes subnormal inputs to zero, the
// scalar converter does not, so (u + 0x7FFF + lsb) >> 16 and the NaN rule are emulated.
T512 void to_bf16_512(const float* x, uint16_t* y, int64_t n) {
    const __m512i bias = _mm512_set1_epi32(0x7FFF), one = _mm512_set1_epi32(1), abs = _mm512_set1_epi32(0x7FFFFFFF),
                  inf = _mm512_set1_epi32(0x7F800000), qbit = _mm512_set1_epi32(0x40);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512i u = _mm512_maskz_loadu_epi32(m, x + i);
        const __m512i hi = _mm512_srli_epi32(u, 16);
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(bias, _mm512_and_si512(hi, one))), 16);
        const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, abs), inf);
        r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(hi, qbit));
        _mm256_mask_storeu_epi16(y + i, m, _mm512_cvtepi32_epi16(r));
    }
}

T512 void from_f16_512(const uint16_t* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)));
    }
}

T512 void from_bf16_512(const uint16_t* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512i v = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, x + i)), 16);
        _mm512_mask_storeu_epi32(y + i, m, v);
    }
}

template <class K>
void set(IsaTable* t, GgmlType type) {
    t->dot[slot(type)] = dot_1x1<K>;
    t->gemm[slot(type)] = gemm_tiled<K>;
}

}  // namespace

void fill_avx512(IsaTable* t, bool has_bf16, bool has_vbmi) {
    t->dot[slot(GgmlType::Q8_0)] = avx512_q8_0_dot();
    t->gemm[slot(GgmlType::Q8_0)] = avx512_q8_0_gemm();
    t->dot[slot(GgmlType::Q4_K)] = dot_q4_K_avx512;
    t->gemm[slot(GgmlType::Q4_K)] = gemm_q4_K_avx512;
    set<Q2KK>(t, GgmlType::Q2_K);
    if (has_vbmi) set<IQ2XXSVbmiK>(t, GgmlType::IQ2_XXS);
    else set<IQ2XXSK>(t, GgmlType::IQ2_XXS);
    set<FloatK<LoadF32>>(t, GgmlType::F32);
    set<FloatK<LoadF16>>(t, GgmlType::F16);
    if (has_bf16) set<BF16DpK>(t, GgmlType::BF16);
    else set<FloatK<LoadBF16>>(t, GgmlType::BF16);
    t->quant_q8_0 = quantize_q8_0_512;
    t->quant_q8_K = quantize_q8_K_512;
    t->to_f16 = to_f16_512;
    t->to_bf16 = to_bf16_512;
    t->from_f16 = from_f16_512;
    t->from_bf16 = from_bf16_512;
}

bool avx512_fallback(GgmlType t, VecDotFn* dot, GemmFn* gemm) {
    if (t == GgmlType::BF16) {
        *dot = dot_1x1<FloatK<LoadBF16>>;
        *gemm = gemm_tiled<FloatK<LoadBF16>>;
        return true;
    }
    if (t == GgmlType::IQ2_XXS) {
        *dot = dot_1x1<IQ2XXSK>;
        *gemm = gemm_tiled<IQ2XXSK>;
        return true;
    }
    return false;
}

}  // namespace ds4::kcpu

#else  // not x86-64
namespace ds4::kcpu {
void fill_avx512(IsaTable*, bool, bool) {}
bool avx512_fallback(GgmlType, VecDotFn*, GemmFn*) { return false; }
}  // namespace ds4::kcpu
#endif
