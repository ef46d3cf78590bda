// 16-float GCC vectors (one zmm with AVX-512, a ymm pair otherwise) for the elementwise and
// reduction passes of the model ops, with lane-wise twins of the scalar numerics that are
// bit-identical lane by lane: bf16 rounding (quant/float16.h), Sleef exp and torch's cascade
// sums (model/torch_cpu.h). Vectors are passed only to inline functions and lambdas, never
// across objects, so GCC's note about passing 64-byte vectors without AVX-512 (-Wpsabi: an ABI
// difference between objects built for different targets) does not apply; it is silenced for
// the rest of each file that includes this header.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "model/torch_cpu.h"
#include "quant/float16.h"

#pragma GCC diagnostic ignored "-Wpsabi"

namespace ds4::vec {

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));
typedef uint32_t vu16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));  // unaligned view

inline v16 load(const float* p) { return *reinterpret_cast<const v16u*>(p); }
inline void store(float* p, v16 v) { *reinterpret_cast<v16u*>(p) = v; }
inline v16 splat(float c) { return c - v16{}; }  // c - (+0) == c for every c, -0 included
// For code generic over V = v16 or float (its scalar tail, running the same operations).
template <class V>
inline V load(const float* p) {
    if constexpr (sizeof(V) == sizeof(float)) return *p;
    else return load(p);
}
inline void store(float* p, float v) { *p = v; }

// bf16_to_fp32(fp32_to_bf16(x)) per lane: nearest even; a NaN is quieted, its top kept.
inline v16 round_bf16(v16 x) {
    const vu16 u = (vu16)x;
    const vi16 nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
    return (v16)(nan ? (u | 0x400000u) & 0xFFFF0000u : (u + (0x7FFFu + ((u >> 16) & 1u))) & 0xFFFF0000u);
}

// x > 0 ? x : +0 per lane (NaN -> +0).
inline v16 relu(v16 x) { return (v16)((vi16)x & (x > 0.0f)); }

inline float round_bf16(float x) { return bf16_to_fp32(fp32_to_bf16(x)); }

inline void round_bf16_span(float* x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) store(x + i, round_bf16(load(x + i)));
    for (; i < n; ++i) x[i] = round_bf16(x[i]);
}

// std::fmaf per lane (one rounding).
[[gnu::always_inline]] inline v16 fma(v16 a, v16 b, v16 c) {
#ifdef __AVX512F__
    return (v16)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#else
    v16 r;
    for (int l = 0; l < 16; ++l) r[l] = std::fmaf(a[l], b[l], c[l]);
    return r;
#endif
}

// tcpu::expf per lane. Lanes that it clamps are computed from 0 (no out-of-range int
// conversion) and then replaced: 0 below -104, inf above 100, and a NaN argument comes back
// quieted (the scalar code propagates it through every fma).
[[gnu::always_inline]] inline v16 expf(v16 d) {
    const float R_LN2f = 1.442695040888963407359924681001892137426645954152985934135449406931f;
    const float L2Uf = 0.693145751953125f, L2Lf = 1.428606765330187045e-06f;
    const vi16 big = d < -104.0f, inf = d > 100.0f, nan = d != d;
    const v16 dc = (big | inf | nan) ? v16{} : d;
    // rint (nearest even) of |x| < 2^22 via the 1.5*2^23 trick; exact for these magnitudes.
    const v16 x = dc * R_LN2f;
    const v16 qf = (x + 12582912.0f) - 12582912.0f;
    const vi16 q = __builtin_convertvector(qf, vi16);
    v16 s = fma(qf, splat(-L2Uf), dc);
    s = fma(qf, splat(-L2Lf), s);
    v16 u = splat(0.000198527617612853646278381f);
    u = fma(u, s, splat(0.00139304355252534151077271f));
    u = fma(u, s, splat(0.00833336077630519866943359f));
    u = fma(u, s, splat(0.0416664853692054748535156f));
    u = fma(u, s, splat(0.166666671633720397949219f));
    u = fma(u, s, splat(0.5f));
    u = 1.0f + fma(s * s, u, s);
    // u * 2^q1 * 2^(q - q1), the powers built from their exponent bits (q1, q - q1 in [-75, 75]).
    const vi16 q1 = q >> 1, q2 = q - q1;
    u = u * (v16)((q1 + 127) << 23) * (v16)((q2 + 127) << 23);
    u = big ? v16{} : u;
    u = inf ? splat(INFINITY) : u;
    return nan ? (v16)((vu16)d | 0x400000u) : u;
}

// Two vectors as one 32-lane value (level_sum's accumulators stay in registers).
struct v16x2 {
    v16 lo, hi;
};
inline v16x2& operator+=(v16x2& a, const v16x2& b) {
    a.lo += b.lo;
    a.hi += b.hi;
    return a;
}

// tcpu::level_sum per lane: V a GCC vector (or v16x2), x(i) the i-th addend vector. The
// level carries are written out (named accumulators rather than an indexed array, which GCC
// keeps in memory).
template <class V, class F>
inline V level_sum(int64_t size, F x) {
    int64_t ceil_log2 = 0;
    while ((int64_t(1) << ceil_log2) < size) ++ceil_log2;
    const int64_t power = std::max<int64_t>(4, ceil_log2 / 4), step = int64_t(1) << power, mask = step - 1;
    V a0 = {}, a1 = {}, a2 = {}, a3 = {};
    int64_t i = 0;
    for (; i + step <= size;) {
        for (int64_t j = 0; j < step; ++j, ++i) a0 += x(i);
        a1 += a0;
        a0 = V{};
        if ((i & (mask << power)) != 0) continue;
        a2 += a1;
        a1 = V{};
        if ((i & (mask << (2 * power))) != 0) continue;
        a3 += a2;
        a2 = V{};
    }
    for (; i < size; ++i) a0 += x(i);
    a0 += a1;
    a0 += a2;
    a0 += a3;
    return a0;
}

// tcpu::sum(y, n) of y = f(x) (f: v16 -> v16, lane-wise; e.g. squares), without storing y.
// tcpu::sum's 4 x 8 lane accumulators are the 32 consecutive floats of each step, summed as
// one 32-lane value; the few addends outside whole steps go through tcpu::sum's own code.
template <class F>
inline float sum(const float* x, int64_t n, F f) {
    constexpr int W = 8, ILP = 4;
    float y[32 + 16];  // f of the addends outside whole steps (fewer than 32), zero padded
    auto f_rest = [&](const float* p, int64_t m) {
        std::memset(y, 0, sizeof y);
        std::memcpy(y, p, sizeof(float) * size_t(m));
        for (int i = 0; i < m; i += 16) store(y + i, f(load(y + i)));
    };
    if (n < W * ILP) {
        f_rest(x, n);
        return tcpu::sum(y, n);
    }
    const int64_t nv = n / W, nv4 = nv / ILP;
    const v16x2 acc = level_sum<v16x2>(nv4, [&](int64_t i) {
        return v16x2{f(load(x + i * W * ILP)), f(load(x + i * W * ILP + 16))};
    });
    float lane[ILP][W];
    store(&lane[0][0], acc.lo);
    store(&lane[2][0], acc.hi);
    const int64_t r0 = nv4 * ILP * W;
    f_rest(x + r0, n - r0);
    for (int64_t v = nv4 * ILP; v < nv; ++v)
        for (int l = 0; l < W; ++l) lane[0][l] += y[v * W + l - r0];
    for (int k = 1; k < ILP; ++k)
        for (int l = 0; l < W; ++l) lane[0][l] += lane[k][l];
    float s = 0;
    for (int64_t i = nv * W; i < n; ++i) s += y[i - r0];
    for (int l = 0; l < W; ++l) s += lane[0][l];
    return s;
}

}  // namespace ds4::vec
