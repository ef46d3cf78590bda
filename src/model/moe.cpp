#include "model/moe.h"

#include <cmath>
#include <vector>

namespace ds4::moe {

float sqrt_softplus(float x) {
    // torch softplus (beta 1, threshold 20): x above the threshold, log1p(exp(x)) otherwise.
    const float sp = x > 20.0f ? x : std::log1p(std::exp(x));
    return std::sqrt(sp);
}

void route_token(const float* logits, const float* bias, const int32_t* tid2eid_row, int n_expert,
                 int k, float scale, float* p, int32_t* sel, float* weight, Exact ex) {
    for (int e = 0; e < n_expert; ++e)
        p[e] = ex.on ? std::sqrt(tcpu::softplus(logits[e], tcpu::vec_lane(ex.t * n_expert + e, ex.T * n_expert)))
                     : sqrt_softplus(logits[e]);
    if (tid2eid_row) {
        for (int i = 0; i < k; ++i) sel[i] = tid2eid_row[i];
    } else {
        // Selection sort of the k best biased scores: k and n_expert are small (6 of 256).
        for (int i = 0; i < k; ++i) {
            int best = -1;
            float bv = 0;
            for (int e = 0; e < n_expert; ++e) {
                bool taken = false;
                for (int j = 0; j < i; ++j) taken |= sel[j] == e;
                if (taken) continue;
                const float v = p[e] + (bias ? bias[e] : 0.0f);
                if (best < 0 || v > bv) {
                    best = e;
                    bv = v;
                }
            }
            sel[i] = best;
        }
    }
    float sum = 0;
    if (ex.on) {
        thread_local std::vector<float> w;
        w.resize(size_t(k));
        for (int i = 0; i < k; ++i) w[size_t(i)] = p[sel[i]];
        sum = tcpu::sum(w.data(), k);
    } else {
        for (int i = 0; i < k; ++i) sum += p[sel[i]];
    }
    for (int i = 0; i < k; ++i) weight[i] = p[sel[i]] / sum * scale;
}

}  // namespace ds4::moe
