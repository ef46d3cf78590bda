#include "model/attention.h"

#include <cmath>

#include "quant/float16.h"

namespace ds4::attention {

void attend(const float* q, const float* const* rows, int n_rows, const float* sinks, int h_begin,
            int h_end, int head_dim, float scale, bool bf16_probs, float* scratch, float* out) {
    for (int h = h_begin; h < h_end; ++h) {
        const float* qh = q + size_t(h) * head_dim;
        float* oh = out + size_t(h) * head_dim;
        float mx = -INFINITY;
        for (int j = 0; j < n_rows; ++j) {
            const float* k = rows[j];
            float s = 0;
            for (int i = 0; i < head_dim; ++i) s += qh[i] * k[i];
            s *= scale;
            scratch[j] = s;
            mx = s > mx ? s : mx;
        }
        float den = 0;
        for (int j = 0; j < n_rows; ++j) {
            scratch[j] = std::exp(scratch[j] - mx);
            den += scratch[j];
        }
        den += std::exp(sinks[h] - mx);
        for (int i = 0; i < head_dim; ++i) oh[i] = 0.0f;
        for (int j = 0; j < n_rows; ++j) {
            float p = scratch[j] / den;
            if (bf16_probs) p = bf16_to_fp32(fp32_to_bf16(p));
            const float* v = rows[j];
            for (int i = 0; i < head_dim; ++i) oh[i] += p * v[i];
        }
    }
}

}  // namespace ds4::attention
