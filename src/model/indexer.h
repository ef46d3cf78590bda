// Lightning indexer (ratio-4 layers): picks which compressed rows a query attends to.
// score_c = sum_h relu(q_h . k_c) * w_h over the rows visible to the query; the top_k
// highest scores win, equal scores resolved toward the lower row index (the oracle's stable
// descending sort). Query heads and keys are Hadamard-rotated (and FP4-emulated under official
// numerics) before they get here; w already carries 1/sqrt(dim * n_heads).
#pragma once
#include <cstdint>

namespace ds4::indexer {

// Scores of rows [row_begin, row_end) of the n_rows visible to one query, written to
// out[row_begin..row_end). q: [n_heads, dim], keys: [n_rows, dim]. bf16_scores rounds each
// head's dot product to bf16 (the official exact-mode einsum output). Vectorised, one key row
// per lane (16 rows per pass), each lane in the scalar reference's operation order: any row
// split gives results bit-identical to scores_reference.
void scores(const float* q, const float* w, const float* keys, int64_t n_rows, int64_t row_begin,
            int64_t row_end, int n_heads, int dim, bool bf16_scores, float* out);

// The scalar kernel scores() must match bit for bit (all n_rows rows).
void scores_reference(const float* q, const float* w, const float* keys, int64_t n_rows, int n_heads,
                      int dim, bool bf16_scores, float* out);

// Indices of the k largest scores (ties: lower index first), written in descending score
// order; returns min(k, n). `heap` is scratch of k entries.
int top_k(const float* score, int64_t n, int k, int32_t* out, int32_t* heap);

}  // namespace ds4::indexer
