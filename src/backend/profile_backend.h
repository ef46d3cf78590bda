// DS4_PROFILE=1: a Backend decorator that times every op (wall clock; the CPU backend is
// synchronous) and prints a per-op table to stderr when the engine is destroyed. Matmuls are
// keyed by tensor class (the weight name without "blk.N."), so the table reads "attn_q_b",
// "ffn_*_exps" (moe), "output" (head), ... Decode (T == 1) and prefill (T > 1) are separate
// columns. Nothing of this runs unless the engine wraps its backend (engine.cpp).
#pragma once
#include <memory>

#include "backend/backend.h"

namespace ds4 {

std::unique_ptr<Backend> make_profiling_backend(std::unique_ptr<Backend> inner);

// Starts a forward pass of T tokens: the ops that follow count as decode (T == 1) or prefill.
void profile_phase(Backend& be, int T);
// Adds a host-side region (the whole forward pass of T tokens) to a profiling backend's
// table; does nothing for any other backend.
void profile_region(Backend& be, const char* name, int T, double seconds);

}  // namespace ds4
