// Rotary position embedding, DeepSeek V4 style: only the last 2*n_pairs dims of a head are
// rotated, on adjacent pairs (x[2i], x[2i+1]) -- the complex view, not NeoX half-split.
// Two setups per model: plain (ratio-0 layers, rope.freq_base) and YaRN-interpolated
// (compressed layers, compress_rope_freq_base). The YaRN magnitude factor is never applied.
#pragma once
#include <cstdint>
#include <vector>

namespace ds4::rope {

struct YarnParams {
    float factor = 1;            // s
    int64_t orig_ctx = 0;        // original context; 0 = YaRN off
    float beta_fast = 32, beta_slow = 1;
};

// Pair-index range [lo, hi] over which YaRN ramps from extrapolation to interpolation.
// For base 160000, 64 rotary dims, orig 65536, betas 32/1: lo = 15, hi = 25.
void yarn_corr_range(int rope_dims, float base, const YarnParams& y, int* lo, int* hi);

// Inverse frequencies theta_i (i < rope_dims/2), computed in fp32 in the same operation
// order as the official precompute_freqs_cis so angles pos*theta_i match it bit for bit.
std::vector<float> inv_freqs(int rope_dims, float base, const YarnParams& y);

// Rotates the tail pairs of one head vector (x points at the first rotated element).
// Angle = float(pos) * inv_freq[i] in fp32; inverse rotates by -angle.
void rotate_pairs(float* x, int n_pairs, const float* inv_freq, int64_t pos, bool inverse);

// rotate_pairs in two steps, so that the heads of a token share one table: the factors of
// position pos (cs: 4*n_pairs floats, cos then sin of each angle, each written twice), then
// the rotation of one head vector by them.
void pair_factors(int n_pairs, const float* inv_freq, int64_t pos, bool inverse, float* cs);
void rotate(float* x, int n_pairs, const float* cs);

}  // namespace ds4::rope
