// Attention of one query token over its visible rows, all heads sharing one K=V row set
// (MQA with a single 512-wide head in the real model). Softmax with a per-head sink logit
// that enters only the denominator; values are the same rows as keys, rotated tails included.
#pragma once
#include <cstdint>

namespace ds4::attention {

// Heads [h_begin, h_end) of one token. rows: n_rows pointers to head_dim-wide rows.
// q/out: [n_head, head_dim]; scratch: n_rows floats. bf16_probs rounds the normalised
// probabilities to bf16 before the value product (official exact numerics).
void attend(const float* q, const float* const* rows, int n_rows, const float* sinks, int h_begin,
            int h_end, int head_dim, float scale, bool bf16_probs, float* scratch, float* out);

}  // namespace ds4::attention
