// AVX2 (+FMA, F16C, BMI2) kernels. Every function carries its own target attribute, so this
// file builds with any -march and only runs after kernels.cpp has checked CPUID.
//
// Integer quants follow ggml's AVX2 scheme: unsigned weight bytes x int8 activations by
// vpmaddubsw (pair sums fit int16), sub-block scales by vpmaddwd, int32 sums per super-block
// (exact), one f32 FMA per block for d_w * d_a.
#include <immintrin.h>

#include <array>
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
// Q8_0 x Q8_0
// =====================================================================================
struct Q8_0K {
    static constexpr int kGemvRows = 1, kRows = 2, kCols = 4;
    template <int NR, int NC>
    T2 static void tile(const uint8_t* w, size_t ws, const uint8_t* a, size_t as, int64_t n, float* out) {
        const int64_t nb = n / QK8_0;
        const __m256i ones = _mm256_set1_epi16(1);
        __m256 acc[NR][NC];
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) acc[r][c] = _mm256_setzero_ps();
        for (int64_t i = 0; i < nb; ++i) {
            __m256i ax[NR], sx[NR];
            float dx[NR];
            UNROLL for (int r = 0; r < NR; ++r) {
                const block_q8_0* x = reinterpret_cast<const block_q8_0*>(w + r * ws) + i;
                sx[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs));
                ax[r] = _mm256_sign_epi8(sx[r], sx[r]);
                dx[r] = h2f(x->d);
            }
            UNROLL for (int c = 0; c < NC; ++c) {
                const block_q8_0* y = reinterpret_cast<const block_q8_0*>(a + c * as) + i;
                const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y->qs));
                const float dy = h2f(y->d);
                UNROLL for (int r = 0; r < NR; ++r) {
                    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(ax[r], _mm256_sign_epi8(qy, sx[r])), ones);
                    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dx[r] * dy), _mm256_cvtepi32_ps(p), acc[r][c]);
                }
            }
        }
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) out[r * NC + c] = hsum(acc[r][c]);
    }
};

// =====================================================================================
// Q4_K x Q8_K
// =====================================================================================
T2 INL void q4k_scales(const uint8_t* s, __m256i* sc, __m128i* mins) {
    uint32_t u[4];
    q4k_unpack_scales(s, u);
    const __m256i sm = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u)));
    *sc = bcast128(_mm256_castsi256_si128(sm));
    *mins = _mm256_extracti128_si256(sm, 1);
}

struct Q4KK {
    static constexpr int kGemvRows = 1, kRows = 1, kCols = 4;
    template <int NR, int NC>
    T2 static void tile(const uint8_t* w, size_t ws, const uint8_t* a, size_t as, int64_t n, float* out) {
        const int64_t nb = n / QK_K;
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        __m256 acc[NR][NC];
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) acc[r][c] = _mm256_setzero_ps();
        for (int64_t i = 0; i < nb; ++i) {
            const block_q4_K* x[NR];
            const block_q8_K* y[NC];
            __m256i scv[NR];
            __m128i mins[NR];
            UNROLL for (int r = 0; r < NR; ++r) {
                x[r] = reinterpret_cast<const block_q4_K*>(w + r * ws) + i;
                q4k_scales(x[r]->scales, &scv[r], &mins[r]);
            }
            UNROLL for (int c = 0; c < NC; ++c) y[c] = reinterpret_cast<const block_q8_K*>(a + c * as) + i;
            __m256i sumi[NR][NC];
            UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) sumi[r][c] = _mm256_setzero_si256();
            UNROLL for (int j = 0; j < 4; ++j) {
                __m256i lo[NR], hi[NR], sl[NR], sh[NR];
                UNROLL for (int r = 0; r < NR; ++r) {
                    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[r]->qs + 32 * j));
                    lo[r] = _mm256_and_si256(q, m4);
                    hi[r] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                    sl[r] = _mm256_shuffle_epi8(scv[r], word_sel(2 * j, 2 * j));
                    sh[r] = _mm256_shuffle_epi8(scv[r], word_sel(2 * j + 1, 2 * j + 1));
                }
                UNROLL for (int c = 0; c < NC; ++c) {
                    const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[c]->qs + 64 * j));
                    const __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[c]->qs + 64 * j + 32));
                    UNROLL for (int r = 0; r < NR; ++r) {
                        const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo[r], a0), sl[r]);
                        const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi[r], a1), sh[r]);
                        sumi[r][c] = _mm256_add_epi32(sumi[r][c], _mm256_add_epi32(p0, p1));
                    }
                }
            }
            UNROLL for (int c = 0; c < NC; ++c) {
                const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[c]->bsums));
                const __m128i b2 = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
                UNROLL for (int r = 0; r < NR; ++r) {
                    const __m128 summ = _mm_cvtepi32_ps(_mm_madd_epi16(mins[r], b2));
                    const float d = h2f(x[r]->d) * y[c]->d, dm = h2f(x[r]->dmin) * y[c]->d;
                    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi[r][c]), acc[r][c]);
                    acc[r][c] = _mm256_fnmadd_ps(_mm256_set1_ps(dm), _mm256_set_m128(_mm_setzero_ps(), summ), acc[r][c]);
                }
            }
        }
        UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) out[r * NC + c] = hsum(acc[r][c]);
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

}  // namespace

void fill_avx2(IsaTable* t) {
    set<Q8_0K>(t, GgmlType::Q8_0);
    set<Q4KK>(t, GgmlType::Q4_K);
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
