#include "model/hc.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "model/torch_cpu.h"

namespace ds4::hc {

static float sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }

float rsqrt_mean_square(const float* x, int64_t n, float eps, bool exact) {
    if (exact) {
        // x.square().mean(-1): squares stored as f32, cascade sum, then sum / n.
        thread_local std::vector<float> sq;
        sq.resize(size_t(n));
        for (int64_t i = 0; i < n; ++i) sq[size_t(i)] = x[i] * x[i];
        return 1.0f / std::sqrt(tcpu::sum(sq.data(), n) / float(n) + eps);
    }
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * double(x[i]);
    return 1.0f / std::sqrt(float(ss / double(n)) + eps);
}

void weighted_streams(const float* w, const float* streams, int n, int dim, float* x) {
    // Per element: s = 0, then s += w[h] * stream_h[d] for h in order (the scalar loop's
    // rounding sequence), vectorised across d in chunks that stay in L1.
    constexpr int kChunk = 512;
    for (int d0 = 0; d0 < dim; d0 += kChunk) {
        const int len = dim - d0 < kChunk ? dim - d0 : kChunk;
        float s[kChunk];
        for (int d = 0; d < len; ++d) s[d] = 0.0f;
        for (int h = 0; h < n; ++h) {
            const float wh = w[h];
            const float* st = streams + size_t(h) * dim + d0;
            for (int d = 0; d < len; ++d) s[d] += wh * st[d];
        }
        std::memcpy(x + d0, s, sizeof(float) * size_t(len));
    }
}

void split_sinkhorn(const float* mix, const float* scale, const float* base, int n, int iters,
                    float eps, float* pre, float* post, float* comb, Exact ex) {
    for (int h = 0; h < n; ++h) {
        if (ex.on) {
            const bool v = tcpu::vec_lane(ex.t * n + h, ex.T * n);
            pre[h] = tcpu::sigmoid(mix[h] * scale[0] + base[h], v) + eps;
            post[h] = 2.0f * tcpu::sigmoid(mix[n + h] * scale[1] + base[n + h], v);
            continue;
        }
        pre[h] = sigmoid(mix[h] * scale[0] + base[h]) + eps;
        post[h] = 2.0f * sigmoid(mix[n + h] * scale[1] + base[n + h]);
    }
    float* m = comb;
    for (int a = 0; a < n; ++a) {
        float* row = m + a * n;
        float mx = -INFINITY;
        for (int b = 0; b < n; ++b) {
            row[b] = mix[2 * n + a * n + b] * scale[2] + base[2 * n + a * n + b];
            mx = row[b] > mx ? row[b] : mx;
        }
        float s = 0;
        for (int b = 0; b < n; ++b) {
            row[b] = ex.on ? tcpu::expf(row[b] - mx) : std::exp(row[b] - mx);
            s += row[b];
        }
        if (ex.on) {  // torch's last-dim softmax multiplies by 1/sum
            const float inv = 1.0f / s;
            for (int b = 0; b < n; ++b) row[b] = row[b] * inv + eps;
        } else {
            for (int b = 0; b < n; ++b) row[b] = row[b] / s + eps;
        }
    }
    auto col_norm = [&] {
        for (int b = 0; b < n; ++b) {
            float s = 0;
            for (int a = 0; a < n; ++a) s += m[a * n + b];
            for (int a = 0; a < n; ++a) m[a * n + b] /= (s + eps);
        }
    };
    auto row_norm = [&] {
        for (int a = 0; a < n; ++a) {
            float s = 0;
            for (int b = 0; b < n; ++b) s += m[a * n + b];
            for (int b = 0; b < n; ++b) m[a * n + b] /= (s + eps);
        }
    };
    col_norm();
    for (int it = 1; it < iters; ++it) {
        row_norm();
        col_norm();
    }
}

void pre_token(const float* mix_raw, const float* state, const float* scale, const float* base,
               int n, int dim, int iters, float hc_eps, float norm_eps, float* x, float* post,
               float* comb, Exact ex) {
    const float r = rsqrt_mean_square(state, int64_t(n) * dim, norm_eps, ex.on);
    float mix[64 + 8 * 8];
    float pre[16];
    const int nm = mix_size(n);
    for (int i = 0; i < nm; ++i) mix[i] = mix_raw[i] * r;
    split_sinkhorn(mix, scale, base, n, iters, hc_eps, pre, post, comb, ex);
    weighted_streams(pre, state, n, dim, x);
}

void post_token(float* state, const float* y, const float* post, const float* comb, int n, int dim,
                float* scratch) {
    std::memcpy(scratch, state, sizeof(float) * size_t(n) * dim);
    float c[16];
    for (int dst = 0; dst < n; ++dst) {
        for (int src = 0; src < n; ++src) c[src] = comb[src * n + dst];
        float* out = state + size_t(dst) * dim;
        weighted_streams(c, scratch, n, dim, out);
        for (int d = 0; d < dim; ++d) out[d] = post[dst] * y[d] + out[d];
    }
}

void head_token(const float* mix_raw, const float* state, const float* scale, const float* base,
                int n, int dim, float hc_eps, float norm_eps, float* x, Exact ex) {
    const float r = rsqrt_mean_square(state, int64_t(n) * dim, norm_eps, ex.on);
    float a[16];
    for (int h = 0; h < n; ++h)
        a[h] = ex.on ? tcpu::sigmoid(mix_raw[h] * r * scale[0] + base[h], tcpu::vec_lane(ex.t * n + h, ex.T * n)) + hc_eps
                     : sigmoid(mix_raw[h] * r * scale[0] + base[h]) + hc_eps;
    weighted_streams(a, state, n, dim, x);
}

}  // namespace ds4::hc
