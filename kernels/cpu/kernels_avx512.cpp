// AVX-512 level: float-type tiles (F32/F16/BF16; BF16 also via AVX512-BF16 vdpbf16ps),
// the activation quantizers and f16/bf16 converters, and the level's dispatch table. The
// quantized weight types live in kernels_avx512_q8_0.cpp, kernels_avx512_q4_k.cpp and
// kernels_avx512_iq2.cpp (IQ2_XXS, Q2_K); target attributes in kernels_avx512_target.h.
#include "kernels/cpu/kernels_avx512_target.h"

#include <cstring>

#include "kernels/cpu/kernels_internal.h"

#if defined(__x86_64__)

namespace ds4::kcpu {
namespace {


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
    t->dot[slot(GgmlType::Q2_K)] = dot_q2_K_avx512;
    t->gemm[slot(GgmlType::Q2_K)] = gemm_q2_K_avx512;
    t->dot[slot(GgmlType::IQ2_XXS)] = has_vbmi ? dot_iq2_xxs_avx512_vbmi : dot_iq2_xxs_avx512;
    t->gemm[slot(GgmlType::IQ2_XXS)] = has_vbmi ? gemm_iq2_xxs_avx512_vbmi : gemm_iq2_xxs_avx512;
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
        *dot = dot_iq2_xxs_avx512;
        *gemm = gemm_iq2_xxs_avx512;
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
