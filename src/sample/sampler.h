// Token sampler: greedy, temperature, top-k, min-p, top-p, optional repetition penalty.
//
// Semantics (filters in this order, each renormalising what survives):
//   temperature T  -> p_i ∝ exp((l_i - max) / T); T <= 0 means greedy (argmax)
//   top-k          -> the k highest logits (0 = off)
//   min-p          -> drop p_i < min_p * p_max (relative to the top token, unaffected by top-k)
//   top-p          -> the smallest prefix, by descending probability, whose mass >= top_p
// Defaults are ds4's: T 1, top-p 1, min-p 0.05, top-k off.
// Cost: one pass over the vocabulary plus work on the survivors only. min-p is turned into a
// logit threshold (max + T*ln(min_p)) so no probability is computed for the long tail, and
// top-k/top-p order the survivors with nth_element/partial sorts, never a 129K-entry sort.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "util/rng.h"

namespace ds4::sample {

using Rng = ::ds4::Rng;  // util/rng.h

struct SamplerParams {
    float temp = 1.0f;
    int top_k = 0;
    float top_p = 1.0f;
    float min_p = 0.05f;
    // Repetition guard, off by default (1.0): logits of tokens among the last
    // repeat_last_n accepted ones are divided (if > 0) or multiplied (if <= 0) by it.
    float repeat_penalty = 1.0f;
    int repeat_last_n = 64;
    uint64_t seed = 0;
};

class Sampler {
public:
    explicit Sampler(const SamplerParams& p = {});
    const SamplerParams& params() const { return p_; }

    // Draws a token from logits[0..n_vocab). Does not record it (call accept()).
    int32_t sample(const float* logits, size_t n_vocab);
    // Records a token that was fed to the model (sampled or forced) for the repeat penalty.
    void accept(int32_t token);
    // Forgets history and reseeds (a new question / conversation).
    void reset(uint64_t seed);

private:
    struct Cand {
        int32_t id;
        float logit;
    };
    const float* penalised(const float* logits, size_t n);
    SamplerParams p_;
    Rng rng_;
    std::deque<int32_t> history_;
    std::vector<float> scratch_;
    std::vector<Cand> cand_;
};

// Index of the largest finite logit; ties go to the lowest index. 0 when none is finite.
int32_t argmax(const float* logits, size_t n);

// 1-based rank of `token` by descending logit (ties ordered by index, like argmax), in
// O(n) without sorting. Used by ds4-eval's think cutoff ("is </think> in the top 3?").
// Returns 0 when token is out of range.
int token_rank(const float* logits, size_t n, int32_t token);

}  // namespace ds4::sample
