// Conversion plan shared by deepseek4-quantize (HF safetensors -> GGUF) and make-synthetic
// (random weights -> GGUF): the model hyper-parameters, the ds4 GGUF metadata they map to,
// the tensor inventory (GGUF name, GGUF dims, HF source name, type class) and the type policy.
// MODEL-SPEC.md sections 3-4 and GGUF-TOOLS-PEERS.md sections 2-3 are the specification.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "quant/ggml_types.h"

namespace ds4::json { struct Value; }
namespace ds4::gguf { class File; class Writer; }

namespace ds4::convert {

// Every hyper-parameter the GGUF carries (names follow the HF config.json fields).
struct ModelParams {
    std::string name = "DeepSeek-V4-Flash";
    int64_t n_layer = 43;           // num_hidden_layers
    int64_t n_embd = 4096;          // hidden_size
    int64_t n_vocab = 129280;       // vocab_size
    int64_t n_head = 64;            // num_attention_heads
    int64_t n_head_kv = 1;          // num_key_value_heads
    int64_t head_dim = 512;         // head_dim
    int64_t n_rot = 64;             // qk_rope_head_dim
    int64_t q_rank = 1024;          // q_lora_rank
    int64_t o_rank = 1024;          // o_lora_rank
    int64_t o_groups = 8;           // o_groups
    int64_t n_expert = 256;         // n_routed_experts
    int64_t n_expert_used = 6;      // num_experts_per_tok
    int64_t n_ff_exp = 2048;        // moe_intermediate_size
    int64_t n_shared = 1;           // n_shared_experts
    int64_t n_hash = 3;             // num_hash_layers
    int64_t window = 128;           // sliding_window
    int64_t idx_heads = 64;         // index_n_heads
    int64_t idx_head_dim = 128;     // index_head_dim
    int64_t idx_topk = 512;         // index_topk
    int64_t hc = 4;                 // hc_mult
    int64_t hc_iters = 20;          // hc_sinkhorn_iters
    double hc_eps = 1e-6;           // hc_eps
    double rms_eps = 1e-6;          // rms_norm_eps
    double rope_theta = 10000;      // rope_theta
    double compress_rope_theta = 160000;  // compress_rope_theta
    double yarn_factor = 16;        // rope_scaling.factor
    uint64_t yarn_orig_ctx = 65536; // rope_scaling.original_max_position_embeddings
    double yarn_beta_fast = 32;     // rope_scaling.beta_fast
    double yarn_beta_slow = 1;      // rope_scaling.beta_slow
    double routed_scale = 1.5;      // routed_scaling_factor
    bool norm_topk = true;          // norm_topk_prob
    double swiglu_limit = 10;       // swiglu_limit (every layer)
    std::vector<double> swiglu_clamp_exp;  // per layer; empty = swiglu_limit everywhere
    std::vector<double> swiglu_clamp_shexp;  // per layer; empty = 0 everywhere (no shared clamp)
    uint64_t context_length = 1048576;  // max_position_embeddings
    std::vector<uint32_t> compress_ratios;  // per layer, may carry extra (MTP) tail entries

    int64_t ratio(int64_t il) const { return compress_ratios.at((size_t)il); }
    int64_t mix() const { return (2 + hc) * hc; }  // HC mix width (24)
};

// config.json -> params. Errors name the missing / inconsistent key ("config.json: ...").
ModelParams params_from_hf_config(const json::Value& cfg, const std::string& label);
// GGUF metadata (deepseek4.*) -> params (for --template).
ModelParams params_from_gguf(const gguf::File& f);
// Structural checks shared by every producer (ratios in {0,4,128}, divisibility, ranges).
void validate_params(const ModelParams& p, const std::string& label);

// Writes the deepseek4.* and general.* keys (not the tokenizer).
void write_model_metadata(gguf::Writer& w, const ModelParams& p);

// ---------------------------------------------------------------------------------------
// Tensor classes and the type policy
// ---------------------------------------------------------------------------------------
enum class TensorClass {
    Embedding,   // token_embd
    Output,      // output.weight
    AttnProj,    // attn_q_a, attn_q_b, attn_kv, attn_output_a, attn_output_b
    Attention,   // hc_attn_fn, compressor, indexer (ds4: names with attn_/indexer)
    Shared,      // *_shexp
    ExpertGU,    // ffn_gate_exps, ffn_up_exps (--experts)
    ExpertDown,  // ffn_down_exps (--routed-w2, defaults to --experts)
    Dense,       // ffn_gate_inp, hc_ffn_fn, output_hc_fn
    Vector,      // every 1-D tensor (norms, sinks, HC base/scale, exp_probs_b): always F32
    Tid2eid,     // ffn_gate_tid2eid: always I32
};
const char* class_name(TensorClass c);

struct Policy {
    GgmlType experts = GgmlType::Q4_K;
    GgmlType routed_w2 = GgmlType::COUNT;  // COUNT = same as experts
    GgmlType attn_proj = GgmlType::Q8_0;
    GgmlType attention = GgmlType::F16;
    GgmlType shared = GgmlType::Q8_0;
    GgmlType output = GgmlType::Q8_0;
    GgmlType embedding = GgmlType::F16;
    GgmlType dense = GgmlType::F16;

    static Policy q4() { return Policy(); }
    static Policy q2() {
        Policy p;
        p.experts = GgmlType::IQ2_XXS;
        p.routed_w2 = GgmlType::Q2_K;
        return p;
    }
    GgmlType for_class(TensorClass c) const;
    // Handles --experts/--routed-w2/--attention-proj/--attention/--shared/--output/--embedding/
    // --dense (and ds4's aliases); returns false if `flag` is not a policy flag. Throws on an
    // unsupported type name.
    bool set_flag(const std::string& flag, const std::string& value);
};
// "f32|f16|bf16|q8_0|q4_k|q2_k|iq2_xxs" (case-insensitive, '-' ignored); throws otherwise.
GgmlType parse_target_type(const std::string& s);
// Help text for the policy flags (shared by both tools).
const char* policy_help();

// ---------------------------------------------------------------------------------------
// The tensor inventory
// ---------------------------------------------------------------------------------------
struct PlannedTensor {
    std::string name;           // GGUF name
    std::vector<int64_t> ne;    // GGUF dims (ne[0] contiguous = reverse of the HF shape)
    TensorClass cls;
    int layer = -1;             // -1 for global tensors
    // Source in the official checkpoint. For stacked experts: "layers.N.ffn.experts.%d.w1.weight"
    // style prefix/suffix (hf_name = prefix, hf_suffix = suffix, expert id in between).
    std::string hf_name;
    std::string hf_suffix;
    bool experts = false;       // 3-D expert-major stack of ne[2] per-expert matrices
    GgmlType requested = GgmlType::F32;  // what the policy asked for
    GgmlType type = GgmlType::F32;       // what is written (after fallbacks)
    std::string note;           // fallback explanation, empty if none

    int64_t nelements() const;
    int64_t rows() const { return nelements() / ne[0]; }
    uint64_t nbytes() const;
    // HF tensor name of expert e (stacked) or hf_name.
    std::string hf_expert_name(int64_t e) const;
    // HF (PyTorch-order) logical shape of one source matrix (one expert for stacks).
    std::vector<int64_t> hf_shape() const;
};

// Builds the full inventory in file order (global tensors, then each layer) with types from
// the policy: 1-D -> F32, tid2eid -> I32, a k-quant whose ne0 % 256 != 0 -> Q8_0, a Q8_0 whose
// ne0 % 32 != 0 -> F16 (noted in PlannedTensor::note).
std::vector<PlannedTensor> build_plan(const ModelParams& p, const Policy& policy);

// Applies a type to one planned tensor with the fallbacks above (used by build_plan and by
// per-layer overrides in make-synthetic).
void assign_type(PlannedTensor& t, GgmlType requested);

}  // namespace ds4::convert
