#include "model/rope.h"

#include <algorithm>
#include <cmath>

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

void rotate_pairs(float* x, int n_pairs, const float* inv_freq, int64_t pos, bool inverse) {
    const float p = float(pos);
    for (int i = 0; i < n_pairs; ++i) {
        const float ang = p * inv_freq[i];
        const float c = std::cos(ang);
        const float s = inverse ? -std::sin(ang) : std::sin(ang);
        const float x0 = x[2 * i], x1 = x[2 * i + 1];
        x[2 * i] = x0 * c - x1 * s;
        x[2 * i + 1] = x0 * s + x1 * c;
    }
}

}  // namespace ds4::rope
