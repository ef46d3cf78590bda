#include "model/rope.h"

#include <algorithm>
#include <cmath>

#include "model/vec16.h"

namespace ds4::rope {

static double corr_dim(double rotations, int dims, double base, double orig_ctx) {
    return dims * std::log(orig_ctx / (rotations * 2 * M_PI)) / (2 * std::log(base));
}

void yarn_corr_range(int rope_dims, float base, const YarnParams& y, int* lo, int* hi) {
    const double l = std::floor(corr_dim(y.beta_fast, rope_dims, base, double(y.orig_ctx)));
    const double h = std::ceil(corr_dim(y.beta_slow, rope_dims, base, double(y.orig_ctx)));
    *lo = int(std::max(l, 0.0));
    *hi = int(std::min(h, double(rope_dims - 1)));
}

std::vector<float> inv_freqs(int rope_dims, float base, const YarnParams& y) {
    const int n = rope_dims / 2;
    std::vector<float> f(n);
    for (int i = 0; i < n; ++i) {
        // torch: base ** (arange(0, dims, 2, f32) / dims) in f32, then 1.0 / that in f32.
        const float e = float(2 * i) / float(rope_dims);
        const float p = float(std::pow(double(base), double(e)));
        f[i] = 1.0f / p;
    }
    if (y.orig_ctx > 0) {
        int lo, hi;
        yarn_corr_range(rope_dims, base, y, &lo, &hi);
        float lo_f = float(lo), hi_f = float(hi);
        if (lo == hi) hi_f += 0.001f;
        for (int i = 0; i < n; ++i) {
            float ramp = (float(i) - lo_f) / (hi_f - lo_f);
            ramp = std::clamp(ramp, 0.0f, 1.0f);
            const float smooth = 1.0f - ramp;
            // official: freqs / factor * (1 - smooth) + freqs * smooth, left to right in f32
            const float a = f[i] / y.factor * (1.0f - smooth);
            const float b = f[i] * smooth;
            f[i] = a + b;
        }
    }
    return f;
}

void pair_factors(int n_pairs, const float* inv_freq, int64_t pos, bool inverse, float* cs) {
    const float p = float(pos);
    for (int i = 0; i < n_pairs; ++i) {
        const float ang = p * inv_freq[i];
        const float c = std::cos(ang);
        const float s = inverse ? -std::sin(ang) : std::sin(ang);
        cs[2 * i] = cs[2 * i + 1] = c;
        cs[2 * n_pairs + 2 * i] = cs[2 * n_pairs + 2 * i + 1] = s;
    }
}

void rotate(float* x, int n_pairs, const float* cs) {
    const float* c = cs;
    const float* s = cs + 2 * n_pairs;
    int i = 0;
    // 8 pairs at a time: with P = x * c and Q = swap_pairs(x) * s, lane 2i is x0*c - x1*s =
    // P - Q and lane 2i+1 is x0*s + x1*c = Q + P, the scalar code's operations in its order.
    const vec::vi16 swap = {1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14};
    const vec::vi16 even = {-1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0};
    for (; i + 8 <= n_pairs; i += 8) {
        const vec::v16 v = vec::load(x + 2 * i);
        const vec::v16 P = v * vec::load(c + 2 * i), Q = __builtin_shuffle(v, swap) * vec::load(s + 2 * i);
        vec::store(x + 2 * i, even ? P - Q : Q + P);
    }
    for (; i < n_pairs; ++i) {
        const float x0 = x[2 * i], x1 = x[2 * i + 1];
        x[2 * i] = x0 * c[2 * i] - x1 * s[2 * i];
        x[2 * i + 1] = x0 * s[2 * i] + x1 * c[2 * i];
    }
}

void rotate_pairs(float* x, int n_pairs, const float* inv_freq, int64_t pos, bool inverse) {
    constexpr int kBlock = 32;  // pairs per factor table (a pair's factors depend only on it)
    float cs[4 * kBlock];
    for (int i = 0; i < n_pairs; i += kBlock) {
        const int m = std::min(kBlock, n_pairs - i);
        pair_factors(m, inv_freq + i, pos, inverse, cs);
        rotate(x + 2 * i, m, cs);
    }
}

}  // namespace ds4::rope
