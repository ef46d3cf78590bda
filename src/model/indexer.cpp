#include "model/indexer.h"

#include <algorithm>
#include <vector>

#include "model/dot.h"
#include "model/torch_cpu.h"
#include "quant/float16.h"

namespace ds4::indexer {

void scores(const float* q, const float* w, const float* keys, int64_t n_rows, int n_heads,
            int dim, bool bf16_scores, float* out) {
    // Official exact: the head sum is torch's bf16 sum over dim 2 of [heads, rows]: columns
    // below seq_cols are summed head after head, the others by 4 interleaved partial sums
    // (SumKernel.cpp, outer reduction: multi_row_sum chunks, then row_sum for the tail).
    const int64_t seq_cols = n_rows >= 16 ? n_rows / 32 * 32 : n_rows / 4 * 4;
    thread_local std::vector<float> term_buf;
    term_buf.resize(size_t(n_heads));
    float* term = term_buf.data();
    for (int64_t c = 0; c < n_rows; ++c) {
        const float* k = keys + size_t(c) * dim;
        if (!bf16_scores) {
            float total = 0;
            for (int h = 0; h < n_heads; ++h) {
                const float dot = dot_f32(q + size_t(h) * dim, k, dim);
                total += (dot > 0 ? dot : 0.0f) * w[h];
            }
            out[c] = total;
            continue;
        }
        // bf16 einsum output (oneDNN bf16 GEMM order), bf16 product with the weight, bf16 sum.
        for (int h = 0; h < n_heads; ++h) {
            const float rd = bf16_to_fp32(fp32_to_bf16(tcpu::dot_bf16(q + size_t(h) * dim, k, dim)));
            term[h] = bf16_to_fp32(fp32_to_bf16((rd > 0 ? rd : 0.0f) * w[h]));
        }
        float total = 0;
        if (c < seq_cols) {
            for (int h = 0; h < n_heads; ++h) total += term[h];
        } else {
            float p[4] = {0, 0, 0, 0};
            const int n4 = n_heads / 4;
            for (int j = 0; j < 4; ++j) p[j] = tcpu::level_sum(n4, [&](int64_t i) { return term[i * 4 + j]; });
            for (int h = n4 * 4; h < n_heads; ++h) p[0] += term[h];
            total = ((p[0] + p[1]) + p[2]) + p[3];
        }
        out[c] = bf16_to_fp32(fp32_to_bf16(total));
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
