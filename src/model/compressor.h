// KV compressor: gated pooling of `ratio` consecutive tokens into one cache row.
//
// Per token: kv = Wkv x, score = Wgate x + ape[pos % ratio], both lanes*dim wide, stored in
// the state. When (pos+1) % ratio == 0 one row is emitted: per channel, a softmax over the
// window's scores weights the window's kv values. Ratio 4 uses two overlapping lanes: the
// candidates for channel j are the previous window's rows at channel j (lane A) and the
// current window's rows at channel dim+j (lane B); afterwards the current rows become the
// previous ones. Rows never written keep score -inf (weight 0). The caller then normalises,
// RoPEs (at the window's first position) and quantisation-emulates the row by role.
#pragma once
#include <cstdint>

#include "backend/backend.h"

namespace ds4::compressor {

inline int lanes(bool overlap) { return overlap ? 2 : 1; }
inline int state_rows(int ratio, bool overlap) { return lanes(overlap) * ratio; }
inline int state_width(int dim, bool overlap) { return lanes(overlap) * dim; }
inline bool emits_at(int64_t pos, int ratio) { return (pos + 1) % ratio == 0; }
// Position whose RoPE angle an emitted row gets: the first token of its window.
inline int64_t row_position(int64_t pos, int ratio) { return pos + 1 - ratio; }

// Resets the state to "nothing seen" (kv 0, scores -inf).
void reset_state(const CompressorArgs& a);

// One token; returns true and writes the pooled dim-wide row when pos closes a window.
bool push(const CompressorArgs& a, const float* kv, const float* score, int64_t pos, float* out);

}  // namespace ds4::compressor
