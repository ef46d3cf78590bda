// Mixture-of-experts routing and the SwiGLU activation.
//   scores p_e = sqrt(softplus(logit_e)); selection = tid2eid[token][0..k) on hash layers,
//   else the k largest p_e + bias_e (ties: lower expert index); weights are the unbiased
//   p of the chosen experts renormalised to sum 1, times `scale`.
//   SwiGLU clamp is asymmetric: gate <= c only, up in [-c, c]; c <= 0 disables it.
#pragma once
#include <cstdint>

#include "model/torch_cpu.h"

namespace ds4::moe {

// Official (torch-CPU-exact) numerics: the router's softplus runs over a [T, n_expert] tensor
// (token t's elements sit at t*n_expert.. of T*n_expert; see tcpu::vec_lane), the weights are
// normalised with torch's row sum, and silu takes the Sleef lanes (expert hidden sizes are
// multiples of 16).
struct Exact {
    bool on = false;
    int64_t t = 0, T = 1;
};

float sqrt_softplus(float x);

// One token. tid2eid_row: the token's row of the hash table (null on score-routed layers).
void route_token(const float* logits, const float* bias, const int32_t* tid2eid_row, int n_expert,
                 int k, float scale, float* p_scratch, int32_t* sel, float* weight, Exact ex = {});

inline float silu(float x) { return x / (1.0f + __builtin_expf(-x)); }

inline float swiglu(float g, float u, float clamp, bool exact = false) {
    if (clamp > 0) {
        g = g < clamp ? g : clamp;
        u = u < -clamp ? -clamp : (u > clamp ? clamp : u);
    }
    return (exact ? tcpu::silu(g, true) : silu(g)) * u;
}

}  // namespace ds4::moe
