// Attention of one query token over its visible rows, all heads sharing one K=V row set
// (MQA with a single 512-wide head in the real model). Softmax with a per-head sink logit
// that enters only the denominator; values are the same rows as keys, rotated tails included.
#pragma once
#include <cstdint>

namespace ds4::attention {

// Rows of one query: n_win window rows then the compressed rows, in the order the official
// code lists them. For the exact-numerics emulation the position of each row in the official
// index list matters (its online softmax runs in blocks of 64 list slots): window row k sits at
// slot k, compressed row j at slot comp_slot0 + j (the window part of the list is padded).
// n_slots: length of the whole list (padding included), used by the exact emulation.
struct RowSet {
    const float* const* rows;
    int n_rows = 0, n_win = 0, comp_slot0 = 0, n_slots = 0;
};

// Heads [h_begin, h_end) of one token. q/out: [n_head, head_dim]; scratch: n_rows floats.
// bf16 emulates the official kernel: online softmax over blocks of 64 slots with the
// unnormalised probabilities rounded to bf16 before the value product. exact (with bf16): the
// oracle's pure-torch kernel bit for bit -- each block of 64 slots (masked slots included)
// as torch ops: sequential-dot scores, Sleef exp, cascade sum of the probabilities, and a
// sequential P.V added to the rescaled accumulator (model/torch_cpu.h); scratch: 64 floats.
void attend(const float* q, const RowSet& rs, const float* sinks, int h_begin, int h_end, int head_dim,
            float scale, bool bf16, float* scratch, float* out, bool exact = false);

// The scalar exact kernel (bf16 && exact), one head at a time: the reference that the
// head-vectorised kernel behind attend() must match bit for bit. scratch: 64 floats.
void attend_reference(const float* q, const RowSet& rs, const float* sinks, int h_begin, int h_end,
                      int head_dim, float scale, float* scratch, float* out);

}  // namespace ds4::attention
