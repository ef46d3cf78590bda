// Mixture-of-experts routing and the SwiGLU activation.
//   scores p_e = sqrt(softplus(logit_e)); selection = tid2eid[token][0..k) on hash layers,
//   else the k largest p_e + bias_e (ties: lower expert index); weights are the unbiased
//   p of the chosen experts renormalised to sum 1, times `scale`.
//   SwiGLU clamp is asymmetric: gate <= c only, up in [-c, c]; c <= 0 disables it.
#pragma once
#include <cstdint>

namespace ds4::moe {

float sqrt_softplus(float x);

// One token. tid2eid_row: the token's row of the hash table (null on score-routed layers).
void route_token(const float* logits, const float* bias, const int32_t* tid2eid_row, int n_expert,
                 int k, float scale, float* p_scratch, int32_t* sel, float* weight);

inline float silu(float x) { return x / (1.0f + __builtin_expf(-x)); }

inline float swiglu(float g, float u, float clamp) {
    if (clamp > 0) {
        g = g < clamp ? g : clamp;
        u = u < -clamp ? -clamp : (u > clamp ? clamp : u);
    }
    return silu(g) * u;
}

}  // namespace ds4::moe
