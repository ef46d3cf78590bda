// Bit-exact emulation of the torch 1.13 CPU kernels (AVX2 dispatch, reference BLAS) that the
// official reference ran on, for Numerics::Official (see docs/ARCHITECTURE.md, Numerics).
// Each function names the torch code path it reproduces; none of this is used by Fp32.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace ds4::tcpu {

// ---- transcendental functions: Sleef 3.x AVX2 (FMA) versions used by Vectorized<float>

// Sleef_expf8_u10 (torch.exp, the vectorised lanes of sigmoid/silu/softmax/softplus).
inline float expf(float d) {
    const float R_LN2f = 1.442695040888963407359924681001892137426645954152985934135449406931f;
    const float L2Uf = 0.693145751953125f, L2Lf = 1.428606765330187045e-06f;
    const int q = int(std::rint(d * R_LN2f));
    float s = std::fmaf(float(q), -L2Uf, d);
    s = std::fmaf(float(q), -L2Lf, s);
    float u = 0.000198527617612853646278381f;
    u = std::fmaf(u, s, 0.00139304355252534151077271f);
    u = std::fmaf(u, s, 0.00833336077630519866943359f);
    u = std::fmaf(u, s, 0.0416664853692054748535156f);
    u = std::fmaf(u, s, 0.166666671633720397949219f);
    u = std::fmaf(u, s, 0.5f);
    u = 1.0f + std::fmaf(s * s, u, s);
    const int q1 = q >> 1;
    u = u * std::ldexp(1.0f, q1) * std::ldexp(1.0f, q - q1);
    if (d < -104.0f) u = 0.0f;
    if (d > 100.0f) u = INFINITY;
    return u;
}

// Sleef_log1pf8_u10 (softplus' vectorised lanes), for arguments in [0, 1e38].
inline float log1pf(float d) {
    auto bits = [](float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; };
    auto from = [](uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; };
    float dp1 = d + 1.0f;
    const bool o = dp1 < 1.17549435e-38f;
    if (o) dp1 = dp1 * (float(INT64_C(1) << 32) * float(INT64_C(1) << 32));
    int e = int((bits(dp1 * (1.0f / 0.75f)) >> 23) & 0xff) - 0x7f;
    const float t0 = from(bits(1.0f) + (uint32_t(-e) << 23));
    const float m = std::fmaf(d, t0, t0 - 1.0f);
    if (o) e -= 64;
    // s = (ln2 hi, lo) * e as a double-float
    const float fe = float(e);
    float sx = 0.69314718246459960938f * fe;
    float sy = std::fmaf(-1.904654323148236017e-09f, fe, std::fmaf(0.69314718246459960938f, fe, -sx));
    // x = m / (2 + m) as a double-float
    const float dx = 2.0f + m, dy = (2.0f - dx) + m;
    const float rt = 1.0f / dx;
    const float xs = m * rt;
    const float u = std::fmaf(rt, m, -xs);
    const float v = std::fmaf(-dy, rt, std::fmaf(-dx, rt, 1.0f));
    const float xx = xs, xy = std::fmaf(xs, v, std::fmaf(0.0f, rt, u));
    const float x2 = xx * xx;
    float t = 0.3027294874e+0f;
    t = std::fmaf(t, x2, 0.3996108174e+0f);
    t = std::fmaf(t, x2, 0.6666694880e+0f);
    // s = s + 2x (double-float add), then s + x^3 t
    const float bx = xx * 2.0f, by = xy * 2.0f;
    float s1 = sx + bx;
    float s1y = (((sx - s1) + bx) + sy) + by;
    const float w = (x2 * xx) * t;
    const float s2 = s1 + w;
    const float s2y = ((s1 - s2) + w) + s1y;
    float r = s2 + s2y;
    if (d == -1.0f) r = -INFINITY;
    return r;
}

// ---- elementwise kernels (cpu_kernel_vec): the vectorised loop covers whole chunks of 16
// floats of the flattened tensor, the tail runs the scalar lambda (glibc).
inline bool vec_lane(int64_t flat_index, int64_t numel) { return flat_index < numel / 16 * 16; }

inline float sigmoid(float x, bool vec) {
    if (vec) return 1.0f / (1.0f + expf(0.0f - x));
    return 1.0f / (1.0f + std::exp(-x));
}
inline float silu(float x, bool vec) { return x / (1.0f + (vec ? expf(-x) : std::exp(-x))); }
inline float softplus(float x, bool vec) {
    if (x > 20.0f) return x;
    return vec ? log1pf(expf(x)) : std::log1p(std::exp(x));
}

// ---- reductions (aten/src/ATen/native/cpu/SumKernel.cpp, cascade_sum, float accumulation)

// multi_row_sum's level scheme for one accumulator over `size` addends x(i).
template <class F>
inline float level_sum(int64_t size, F x) {
    constexpr int kLevels = 4;
    int64_t ceil_log2 = 0;
    while ((int64_t(1) << ceil_log2) < size) ++ceil_log2;
    const int64_t power = std::max<int64_t>(4, ceil_log2 / kLevels), step = int64_t(1) << power, mask = step - 1;
    float acc[kLevels] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + step <= size;) {
        for (int64_t j = 0; j < step; ++j, ++i) acc[0] += x(i);
        for (int j = 1; j < kLevels; ++j) {
            acc[j] += acc[j - 1];
            acc[j - 1] = 0;
            if ((i & (mask << (j * power))) != 0) break;
        }
    }
    for (; i < size; ++i) acc[0] += x(i);
    for (int j = 1; j < kLevels; ++j) acc[0] += acc[j];
    return acc[0];
}

// x.sum(-1) of a contiguous float row (vectorized_inner_sum; 8-float AVX2 vectors, 4-way ILP).
inline float sum(const float* x, int64_t n) {
    constexpr int W = 8, ILP = 4;
    if (n < W) {  // scalar_inner_sum: row_sum with 4 interleaved accumulators
        float p[ILP] = {0, 0, 0, 0};
        const int64_t n4 = n / ILP;
        for (int k = 0; k < ILP; ++k) p[k] = level_sum(n4, [&](int64_t i) { return x[i * ILP + k]; });
        for (int64_t i = n4 * ILP; i < n; ++i) p[0] += x[i];
        for (int k = 1; k < ILP; ++k) p[0] += p[k];
        return p[0];
    }
    const int64_t nv = n / W, nv4 = nv / ILP;
    float lane[ILP][W];
    for (int k = 0; k < ILP; ++k)
        for (int l = 0; l < W; ++l) lane[k][l] = level_sum(nv4, [&](int64_t i) { return x[(i * ILP + k) * W + l]; });
    for (int64_t v = nv4 * ILP; v < nv; ++v)
        for (int l = 0; l < W; ++l) lane[0][l] += x[v * W + l];
    for (int k = 1; k < ILP; ++k)
        for (int l = 0; l < W; ++l) lane[0][l] += lane[k][l];
    float acc = 0;
    for (int64_t i = nv * W; i < n; ++i) acc += x[i];
    for (int l = 0; l < W; ++l) acc += lane[0][l];
    return acc;
}

// Reference BLAS sgemm: every output is a sequential f32 dot product.
inline float dot(const float* a, const float* b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

// A bf16 matmul (oneDNN avx512_bf16, vdpbf16ps): per output a sequential f32 sum over K
// pairs, the odd element of each pair first. Inputs hold bf16 values.
inline float dot_bf16(const float* a, const float* b, int64_t n) {
    float s = 0;
    int64_t i = 0;
    for (; i + 2 <= n; i += 2) {
        s += a[i + 1] * b[i + 1];
        s += a[i] * b[i];
        // GCC 12 -O2 vectorises this two-step reduction into a wrong result; keep it scalar.
        __asm__("" : "+x"(s));
    }
    if (i < n) s += a[i] * b[i];
    return s;
}

}  // namespace ds4::tcpu
