#include "model/hc.h"

#include <cmath>

#include "model/torch_cpu.h"
#include "model/vec16.h"

namespace ds4::hc {

static float sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }

float rsqrt_mean_square(const float* x, int64_t n, float eps, bool exact) {
    if (exact)  // x.square().mean(-1): f32 squares, cascade sum, then sum / n.
        return 1.0f / std::sqrt(vec::sum(x, n, [](vec::v16 v) { return v * v; }) / float(n) + eps);
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * double(x[i]);
    return 1.0f / std::sqrt(float(ss / double(n)) + eps);
}

void weighted_streams(const float* w, const float* streams, int n, int dim, float* x) {
    // Per element: s = 0, then s += w[h] * stream_h[d] for h in order (the scalar loop's
    // rounding sequence), 16 elements at a time.
    int d = 0;
    for (; d + 16 <= dim; d += 16) {
        vec::v16 s = {};
        for (int h = 0; h < n; ++h) s += w[h] * vec::load(streams + size_t(h) * dim + d);
        vec::store(x + d, s);
    }
    for (; d < dim; ++d) {
        float s = 0;
        for (int h = 0; h < n; ++h) s += w[h] * streams[size_t(h) * dim + d];
        x[d] = s;
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
    if (n == 4) {
        // The model's n_hc: the 4x4 matrix is one vector (lane a*4 + b) and each normalisation
        // a few shuffles, the same operations per element: s = 0 + m[0] + ... + m[3] along the
        // column (row), then m / (s + eps).
        const vec::vi16 col = {0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3};  // m[k][b]: col + 4k
        const vec::vi16 row = {0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12};  // m[a][k]: row + k
        vec::v16 M = vec::load(m);
        auto norm = [&](vec::vi16 first, int step) {
            vec::v16 s = {};
            for (int k = 0; k < 4; ++k) s += __builtin_shuffle(M, first + k * step);
            M = M / (s + eps);
        };
        norm(col, 4);
        for (int it = 1; it < iters; ++it) {
            norm(row, 1);
            norm(col, 4);
        }
        vec::store(m, M);
        return;
    }
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

namespace {
// state[dst][d] = post[dst] * y[d] + sum_src comb[src*n + dst] * state[src][d] for the columns
// d of [d0, d0 + V-lanes): every source column is read before any destination is written.
// V is vec::v16 or float (the tail); N > 0 fixes n at compile time.
template <int N, class V>
inline void post_columns(float* state, const float* y, const float* post, const float* comb, int n, int dim, int d0,
                         bool bf16) {
    if (N > 0) n = N;
    V src[16];
    for (int s = 0; s < n; ++s) src[s] = vec::load<V>(state + size_t(s) * dim + d0);
    const V yv = vec::load<V>(y + d0);
    for (int dst = 0; dst < n; ++dst) {
        V acc = {};
        for (int s = 0; s < n; ++s) acc += comb[s * n + dst] * src[s];
        const V v = post[dst] * yv + acc;
        vec::store(state + size_t(dst) * dim + d0, bf16 ? vec::round_bf16(v) : v);
    }
}

template <int N>
void post_all(float* state, const float* y, const float* post, const float* comb, int n, int dim, bool bf16, int d,
              int d_end) {
    for (; d + 16 <= d_end; d += 16)
        post_columns<N, vec::v16>(state, y, post, comb, n, dim, d, bf16);
    for (; d < d_end; ++d) post_columns<N, float>(state, y, post, comb, n, dim, d, bf16);
}
}  // namespace

void post_token(float* state, const float* y, const float* post, const float* comb, int n, int dim, bool bf16,
                int d_begin, int d_end) {
    if (d_end < 0) d_end = dim;
    if (n == 4) return post_all<4>(state, y, post, comb, n, dim, bf16, d_begin, d_end);  // the model's n_hc: unrolled
    post_all<0>(state, y, post, comb, n, dim, bf16, d_begin, d_end);
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
