#include "model/compressor.h"

#include <cmath>
#include <cstring>

#include "model/torch_cpu.h"

namespace ds4::compressor {

void reset_state(const CompressorArgs& a) {
    const size_t n = size_t(state_rows(a.ratio, a.overlap)) * state_width(a.dim, a.overlap);
    for (size_t i = 0; i < n; ++i) {
        a.state_kv[i] = 0.0f;
        a.state_sc[i] = -INFINITY;
    }
}

bool push(const CompressorArgs& a, const float* kv, const float* score, int64_t pos, float* out) {
    const int r = a.ratio, d = a.dim;
    const int w = state_width(d, a.overlap);
    const int slot = int(pos % r);
    const int row = a.overlap ? r + slot : slot;
    const float* ape = a.ape + size_t(slot) * w;
    float* skv = a.state_kv + size_t(row) * w;
    float* ssc = a.state_sc + size_t(row) * w;
    for (int i = 0; i < w; ++i) {
        skv[i] = kv[i];
        ssc[i] = score[i] + ape[i];
    }
    if (!emits_at(pos, r)) return false;

    // Candidates per channel j: (row, column) pairs; lane A (previous window) reads column j of
    // rows 0..r-1, lane B (current window) column d+j of rows r..2r-1.
    const int n_cand = state_rows(r, a.overlap);
    for (int j = 0; j < d; ++j) {
        float mx = -INFINITY;
        for (int c = 0; c < n_cand; ++c) {
            const int col = (a.overlap && c >= r) ? d + j : j;
            const float s = a.state_sc[size_t(c) * w + col];
            mx = s > mx ? s : mx;
        }
        if (mx == -INFINITY) {  // cannot happen once a window is complete; keep it finite
            out[j] = 0.0f;
            continue;
        }
        // Official numerics: torch's softmax over a non-last dim (Sleef exp, division by the
        // sum) and its cascade sum of the weighted rows (tcpu::level_sum).
        auto ex = [&](float v) { return a.exact ? tcpu::expf(v) : std::exp(v); };
        auto col = [&](int c) { return (a.overlap && c >= r) ? d + j : j; };
        float den = 0;
        for (int c = 0; c < n_cand; ++c) den += ex(a.state_sc[size_t(c) * w + col(c)] - mx);
        auto term = [&](int64_t c) {
            const float p = ex(a.state_sc[size_t(c) * w + col(int(c))] - mx) / den;
            return a.state_kv[size_t(c) * w + col(int(c))] * p;
        };
        if (a.exact) {
            out[j] = tcpu::level_sum(n_cand, term);
            continue;
        }
        float acc = 0;
        for (int c = 0; c < n_cand; ++c) acc += term(c);
        out[j] = acc;
    }
    if (a.overlap) {
        // The current window becomes the previous one (all columns; only lane A's are read).
        std::memcpy(a.state_kv, a.state_kv + size_t(r) * w, sizeof(float) * size_t(r) * w);
        std::memcpy(a.state_sc, a.state_sc + size_t(r) * w, sizeof(float) * size_t(r) * w);
    }
    return true;
}

}  // namespace ds4::compressor
