// Hyper-connections (mHC): the residual stream is n_hc parallel copies of the hidden state.
// Before each sublayer the copies are collapsed with learned weights ("pre"); after it the
// output is spread back with "post" weights plus a doubly-stochastic stream mix ("comb",
// from a Sinkhorn iteration). These are the reference definitions, one token at a time;
// the CPU backend runs them per token in parallel.
#pragma once
#include <cstdint>

namespace ds4::hc {

// Size of the mix vector a hc_fn matrix produces: pre (n) + post (n) + comb (n*n).
inline int mix_size(int n_hc) { return (2 + n_hc) * n_hc; }

// Official numerics, torch's CPU kernels bit for bit (model/torch_cpu.h): f32 cascade sums,
// Sleef exp in the softmax, and a sigmoid over the [T, n] tensor of a T-token forward whose
// first T*n/16*16 elements take the Sleef lanes and the rest glibc (token t owns t*n..t*n+n-1).
struct Exact {
    bool on = false;
    int64_t t = 0, T = 1;
};

// 1/sqrt(mean(x^2) + eps) over n values. Default: sum in double (at least as close to the
// exact value as the reference's fp32 sum); exact: torch's fp32 cascade sum.
float rsqrt_mean_square(const float* x, int64_t n, float eps, bool exact = false);

// Splits mix (already multiplied by the rsqrt of the state) into pre [n], post [n] and the
// Sinkhorn-normalised comb [n*n] (comb[src*n + dst]), exactly as the official
// hc_split_sinkhorn: softmax over each row + eps, one column normalisation, then
// (iters-1) x (row, column) normalisations, every denominator + eps.
void split_sinkhorn(const float* mix, const float* scale, const float* base, int n, int iters,
                    float eps, float* pre, float* post, float* comb, Exact ex = {});

// x[d] = sum_h w[h] * streams[h*dim + d], summed from 0 in h order (n <= 16).
void weighted_streams(const float* w, const float* streams, int n, int dim, float* x);

// One token: x = sum_h pre[h] * state[h] (state: [n, dim]); also returns post and comb.
// mix_raw = hc_fn . state (not yet normalised).
void pre_token(const float* mix_raw, const float* state, const float* scale, const float* base,
               int n, int dim, int iters, float hc_eps, float norm_eps, float* x, float* post,
               float* comb, Exact ex = {});

// One token: state[dst] = post[dst] * y + sum_src comb[src*n + dst] * state[src] (in place;
// n <= 16), each sum from 0 in src order; bf16: the new state is rounded to bf16 (the official
// numerics store it so). Each column depends only on itself: [d_begin, d_end) updates only
// those (d_end -1: dim), to split a token across threads.
void post_token(float* state, const float* y, const float* post, const float* comb, int n, int dim,
                bool bf16 = false, int d_begin = 0, int d_end = -1);

// Output head collapse: a_h = sigmoid(mix_h * rsqrt * scale[0] + base[h]) + eps; x = sum a_h state[h].
void head_token(const float* mix_raw, const float* state, const float* scale, const float* base,
                int n, int dim, float hc_eps, float norm_eps, float* x, Exact ex = {});

}  // namespace ds4::hc
