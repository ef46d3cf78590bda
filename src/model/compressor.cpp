#include "model/compressor.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "model/torch_cpu.h"
#include "model/vec16.h"

namespace ds4::compressor {

void reset_state(const CompressorArgs& a) {
    const size_t n = size_t(state_rows(a.ratio, a.overlap)) * state_width(a.dim, a.overlap);
    for (size_t i = 0; i < n; ++i) {
        a.state_kv[i] = 0.0f;
        a.state_sc[i] = -INFINITY;
    }
}

namespace {

// The softmax's exp: official numerics Sleef (tcpu::expf), else the C library, per lane.
// Always inlined: a 16-float vector never crosses a call (see model/vec16.h).
inline float exp_of(float x, bool exact) { return exact ? tcpu::expf(x) : std::exp(x); }
[[gnu::always_inline]] inline vec::v16 exp_of(vec::v16 x, bool exact) {
    if (exact) return vec::expf(x);
    for (int l = 0; l < 16; ++l) x[l] = std::exp(x[l]);
    return x;
}

// The pooled value of channels [j0, j0 + lanes of V) for V = vec::v16, or of channel j0 for
// V = float (the tail), vectorised across channels: lane l's candidates are rows c of column
// col(c) + l. Per channel: the max score, softmax weights p_c = ex(s_c - max) / den with
// den = sum_c ex(s_c - max) (summed in c order), then sum_c kv_c * p_c (official numerics:
// torch's cascade sum, tcpu::level_sum), written to out[j0..]. A channel that has no scores
// yet (max -inf; cannot happen once a window is complete) gives 0. ex: a copy of the exps
// (n_cand values of V).
template <class V>
void pool(const CompressorArgs& a, int j0, V* ex, float* out) {
    const int r = a.ratio, d = a.dim, w = state_width(d, a.overlap), n_cand = state_rows(r, a.overlap);
    // Lane A (previous window) reads column j of rows 0..r-1, lane B (current window) column
    // d+j of rows r..2r-1.
    auto at = [&](const float* m, int c) {
        return vec::load<V>(m + size_t(c) * w + ((a.overlap && c >= r) ? d : 0) + j0);
    };
    V mx = V{} - INFINITY;
    for (int c = 0; c < n_cand; ++c) {
        const V s = at(a.state_sc, c);
        mx = s > mx ? s : mx;
    }
    V den = {};
    for (int c = 0; c < n_cand; ++c) {
        ex[c] = exp_of(at(a.state_sc, c) - mx, a.exact);
        den += ex[c];
    }
    auto term = [&](int64_t c) { return at(a.state_kv, int(c)) * (ex[c] / den); };
    V acc = {};
    if (a.exact) {
        acc = vec::level_sum<V>(n_cand, term);
    } else {
        for (int c = 0; c < n_cand; ++c) acc += term(c);
    }
    vec::store(out + j0, mx == -INFINITY ? V{} : acc);
}

}  // namespace

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

    // Official numerics: torch's softmax over a non-last dim (Sleef exp, division by the sum).
    thread_local std::vector<vec::v16> ex;
    ex.resize(size_t(state_rows(r, a.overlap)));
    int j = 0;
    for (; j + 16 <= d; j += 16) pool<vec::v16>(a, j, ex.data(), out);
    for (; j < d; ++j) pool<float>(a, j, reinterpret_cast<float*>(ex.data()), out);
    if (a.overlap) {
        // The current window becomes the previous one (all columns; only lane A's are read).
        std::memcpy(a.state_kv, a.state_kv + size_t(r) * w, sizeof(float) * size_t(r) * w);
        std::memcpy(a.state_sc, a.state_sc + size_t(r) * w, sizeof(float) * size_t(r) * w);
    }
    return true;
}

}  // namespace ds4::compressor
