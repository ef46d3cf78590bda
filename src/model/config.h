// DeepSeek V4 hyper-parameters, read from GGUF metadata (MODEL-SPEC section 3) and checked
// for internal consistency. Nothing about the real Flash shapes is hard-coded: a tiny test
// model and the 43-layer release load through the same path.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/rope.h"

namespace ds4 {

namespace gguf { class File; }

struct ModelConfig {
    std::string arch, name;
    int n_layer = 0, n_embd = 0, n_vocab = 0;
    int n_head = 0, head_dim = 0, rope_dim = 0;
    int q_lora = 0, o_lora = 0, o_groups = 0, window = 0;
    std::vector<int> ratio;             // per layer (MTP tail of the metadata array dropped)
    float rope_base = 10000, compress_rope_base = 160000;
    rope::YarnParams yarn;              // used on compressed layers only
    int idx_heads = 0, idx_dim = 0, idx_topk = 0;
    float norm_eps = 1e-6f;
    int n_expert = 0, n_expert_used = 0, ffn_dim = 0, n_shared = 0;
    float expert_scale = 1;
    int n_hash = 0;
    std::vector<float> clamp_exp;       // per layer, routed experts
    std::vector<float> clamp_shexp;     // per layer, shared expert (0 = no clamp)
    int n_hc = 0, sinkhorn_iters = 0;
    float hc_eps = 1e-6f;
    int64_t n_ctx_train = 0;

    // Reads and validates; throws Error naming the key. experts_override > 0 replaces
    // expert_used_count (the 4Expert recipe on a 6-expert file, or experiments).
    static ModelConfig from_gguf(const gguf::File& f, int experts_override = 0);

    bool has_indexer(int il) const { return ratio[il] == 4; }
    bool overlap(int il) const { return ratio[il] == 4; }
    int comp_lanes(int il) const { return overlap(il) ? 2 : 1; }
    bool hash_layer(int il) const { return il < n_hash; }
    int n_nope() const { return head_dim - rope_dim; }
    int mix_hc() const { return (2 + n_hc) * n_hc; }
    std::string summary() const;
};

}  // namespace ds4
