// Binding of GGUF tensors to the model's weights, with every tensor's presence, shape and type
// checked against the config (MODEL-SPEC section 4). Weights stay in the mmapped file.
#pragma once
#include <vector>

#include "backend/backend.h"
#include "model/config.h"

namespace ds4 {

namespace gguf { class File; }

struct LayerWeights {
    Weight hc_attn_fn, hc_attn_scale, hc_attn_base, attn_norm;
    Weight q_a, q_a_norm, q_b, kv, kv_norm, sinks, out_a, out_b;
    // compressor (ratio != 0)
    Weight comp_ape, comp_kv, comp_gate, comp_norm;
    // indexer (ratio == 4)
    Weight idx_q_b, idx_proj, idx_ape, idx_kv, idx_gate, idx_norm;
    Weight hc_ffn_fn, hc_ffn_scale, hc_ffn_base, ffn_norm;
    Weight gate_inp, gate_bias, tid2eid;
    Weight up_exps, gate_exps, down_exps;
    Weight gate_sh, up_sh, down_sh;
};

struct ModelWeights {
    Weight tok_embd, out_hc_fn, out_hc_base, out_hc_scale, out_norm, output;
    std::vector<LayerWeights> layers;
    uint64_t total_bytes = 0;

    // Throws Error("tensor <name>: expected <shape> <types>, found <shape> <type>") on any
    // mismatch, or naming a missing tensor.
    static ModelWeights bind(const gguf::File& f, const ModelConfig& c);
};

}  // namespace ds4
