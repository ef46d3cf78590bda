#include "model/indexer.h"

#include <algorithm>

#include "model/dot.h"
#include "quant/float16.h"

namespace ds4::indexer {

void scores(const float* q, const float* w, const float* keys, int64_t n_rows, int n_heads,
            int dim, bool bf16_scores, float* out) {
    for (int64_t c = 0; c < n_rows; ++c) {
        const float* k = keys + size_t(c) * dim;
        float total = 0;
        for (int h = 0; h < n_heads; ++h) {
            const float* qh = q + size_t(h) * dim;
            const float dot = dot_f32(qh, k, dim);
            if (bf16_scores) {
                // Official exact: bf16 einsum output, bf16 product with the weight, bf16 sum.
                const float rd = bf16_to_fp32(fp32_to_bf16(dot));
                total += bf16_to_fp32(fp32_to_bf16((rd > 0 ? rd : 0.0f) * w[h]));
            } else {
                total += (dot > 0 ? dot : 0.0f) * w[h];
            }
        }
        out[c] = bf16_scores ? bf16_to_fp32(fp32_to_bf16(total)) : total;
    }
}

int top_k(const float* score, int64_t n, int k, int32_t* out, int32_t* heap) {
    if (k <= 0) return 0;
    // "a ranks above b": higher score, or equal score and lower index.
    auto above = [score](int32_t a, int32_t b) {
        return score[a] > score[b] || (score[a] == score[b] && a < b);
    };
    // Min-heap (by rank) of the best k seen so far: the root is the weakest kept entry.
    int m = 0;
    for (int64_t i = 0; i < n; ++i) {
        const int32_t c = int32_t(i);
        if (m < k) {
            heap[m++] = c;
            std::push_heap(heap, heap + m, above);
        } else if (above(c, heap[0])) {
            std::pop_heap(heap, heap + m, above);
            heap[m - 1] = c;
            std::push_heap(heap, heap + m, above);
        }
    }
    std::copy(heap, heap + m, out);
    std::sort(out, out + m, above);
    return m;
}

}  // namespace ds4::indexer
