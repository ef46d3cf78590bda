#include "convert/plan.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "gguf/gguf.h"
#include "util/error.h"
#include "util/json.h"

namespace ds4::convert {

// ---------------------------------------------------------------------------------------
// config.json
// ---------------------------------------------------------------------------------------
namespace {

struct Cfg {
    const json::Value& v;
    const std::string& label;
    const json::Value& need(const char* key) const {
        const json::Value* x = v.find(key);
        if (!x || x->is_null()) fail("%s: missing key '%s'", label.c_str(), key);
        return *x;
    }
    int64_t i(const char* key) const {
        const json::Value& x = need(key);
        if (!x.is_number() || !x.is_int) fail("%s: key '%s' must be an integer", label.c_str(), key);
        return x.integer;
    }
    int64_t i_or(const char* key, int64_t def) const { return v.find(key) && !v.find(key)->is_null() ? i(key) : def; }
    double f(const char* key) const {
        const json::Value& x = need(key);
        if (!x.is_number()) fail("%s: key '%s' must be a number", label.c_str(), key);
        return x.number;
    }
};

}  // namespace

ModelParams params_from_hf_config(const json::Value& cfg, const std::string& label) {
    if (!cfg.is_object()) fail("%s: not a JSON object", label.c_str());
    Cfg c{cfg, label};
    ModelParams p;
    p.n_layer = c.i("num_hidden_layers");
    p.n_embd = c.i("hidden_size");
    p.n_vocab = c.i("vocab_size");
    p.n_head = c.i("num_attention_heads");
    p.n_head_kv = c.i_or("num_key_value_heads", 1);
    p.head_dim = c.i("head_dim");
    p.n_rot = c.i("qk_rope_head_dim");
    p.q_rank = c.i("q_lora_rank");
    p.o_rank = c.i("o_lora_rank");
    p.o_groups = c.i("o_groups");
    p.n_expert = c.i("n_routed_experts");
    p.n_expert_used = c.i("num_experts_per_tok");
    p.n_ff_exp = c.i("moe_intermediate_size");
    p.n_shared = c.i("n_shared_experts");
    p.n_hash = c.i("num_hash_layers");
    p.window = c.i("sliding_window");
    p.idx_heads = c.i("index_n_heads");
    p.idx_head_dim = c.i("index_head_dim");
    p.idx_topk = c.i("index_topk");
    p.hc = c.i("hc_mult");
    p.hc_iters = c.i("hc_sinkhorn_iters");
    p.hc_eps = c.f("hc_eps");
    p.rms_eps = c.f("rms_norm_eps");
    p.rope_theta = c.f("rope_theta");
    p.compress_rope_theta = c.f("compress_rope_theta");
    p.routed_scale = c.f("routed_scaling_factor");
    p.swiglu_limit = c.f("swiglu_limit");
    if (const json::Value* n = cfg.find("norm_topk_prob"); n && !n->is_null()) p.norm_topk = n->as_bool("norm_topk_prob");
    if (const json::Value* s = cfg.find("scoring_func"); s && !s->is_null()) {
        if (!s->is_string() || s->str != "sqrtsoftplus")
            fail("%s: scoring_func '%s' unsupported (deepseek4 needs sqrtsoftplus)", label.c_str(),
                 s->is_string() ? s->str.c_str() : "?");
    }
    const json::Value& rs = c.need("rope_scaling");
    if (!rs.is_object()) fail("%s: rope_scaling must be an object", label.c_str());
    std::string rlabel = label + " rope_scaling";
    Cfg r{rs, rlabel};
    const json::Value* rt = rs.find("type");
    if (!rt) rt = rs.find("rope_type");
    if (rt && (!rt->is_string() || rt->str != "yarn"))
        fail("%s: rope_scaling type '%s' unsupported (deepseek4 uses yarn)", label.c_str(), rt->is_string() ? rt->str.c_str() : "?");
    p.yarn_factor = r.f("factor");
    const int64_t orig = r.i("original_max_position_embeddings");
    if (orig <= 0) fail("%s: rope_scaling.original_max_position_embeddings must be positive", label.c_str());
    p.yarn_orig_ctx = (uint64_t)orig;
    p.yarn_beta_fast = r.f("beta_fast");
    p.yarn_beta_slow = r.f("beta_slow");
    const int64_t ctx = c.i_or("max_position_embeddings", (int64_t)(p.yarn_orig_ctx * p.yarn_factor));
    if (ctx <= 0) fail("%s: max_position_embeddings must be positive", label.c_str());
    p.context_length = (uint64_t)ctx;
    const json::Value& cr = c.need("compress_ratios");
    if (!cr.is_array()) fail("%s: compress_ratios must be an array", label.c_str());
    for (const auto& x : cr.arr) {
        if (!x.is_number() || !x.is_int || x.integer < 0 || x.integer > UINT32_MAX)
            fail("%s: compress_ratios entries must be non-negative integers", label.c_str());
        p.compress_ratios.push_back((uint32_t)x.integer);
    }
    p.name = "DeepSeek-V4";
    validate_params(p, label);
    return p;
}

void validate_params(const ModelParams& p, const std::string& L) {
    auto pos = [&](const char* what, int64_t v) {
        if (v <= 0) fail("%s: %s must be positive (got %lld)", L.c_str(), what, (long long)v);
    };
    pos("num_hidden_layers", p.n_layer);
    pos("hidden_size", p.n_embd);
    pos("vocab_size", p.n_vocab);
    pos("num_attention_heads", p.n_head);
    pos("head_dim", p.head_dim);
    pos("qk_rope_head_dim", p.n_rot);
    pos("q_lora_rank", p.q_rank);
    pos("o_lora_rank", p.o_rank);
    pos("o_groups", p.o_groups);
    pos("n_routed_experts", p.n_expert);
    pos("num_experts_per_tok", p.n_expert_used);
    pos("moe_intermediate_size", p.n_ff_exp);
    pos("sliding_window", p.window);
    pos("index_n_heads", p.idx_heads);
    pos("index_head_dim", p.idx_head_dim);
    pos("index_topk", p.idx_topk);
    pos("hc_mult", p.hc);
    pos("hc_sinkhorn_iters", p.hc_iters);
    if (p.n_layer > 100000 || p.n_embd > (1 << 20) || p.n_vocab > (1 << 24) || p.n_expert > 65536 ||
        p.head_dim > 65536 || p.n_head > 65536)
        fail("%s: implausibly large hyper-parameters", L.c_str());
    if (p.n_head_kv != 1) fail("%s: num_key_value_heads must be 1 (got %lld)", L.c_str(), (long long)p.n_head_kv);
    if (p.n_shared < 0) fail("%s: n_shared_experts must be >= 0", L.c_str());
    if (p.n_hash < 0 || p.n_hash > p.n_layer)
        fail("%s: num_hash_layers %lld outside [0, %lld]", L.c_str(), (long long)p.n_hash, (long long)p.n_layer);
    if (p.n_expert_used > p.n_expert)
        fail("%s: num_experts_per_tok %lld exceeds n_routed_experts %lld", L.c_str(), (long long)p.n_expert_used, (long long)p.n_expert);
    if (p.n_rot > p.head_dim || p.n_rot % 2)
        fail("%s: qk_rope_head_dim %lld must be even and <= head_dim %lld", L.c_str(), (long long)p.n_rot, (long long)p.head_dim);
    if (p.n_head % p.o_groups)
        fail("%s: num_attention_heads %lld not divisible by o_groups %lld", L.c_str(), (long long)p.n_head, (long long)p.o_groups);
    if ((int64_t)p.compress_ratios.size() < p.n_layer)
        fail("%s: compress_ratios has %zu entries, need at least num_hidden_layers = %lld", L.c_str(),
             p.compress_ratios.size(), (long long)p.n_layer);
    for (size_t i = 0; i < p.compress_ratios.size(); i++) {
        const uint32_t r = p.compress_ratios[i];
        if (r != 0 && r != 4 && r != 128)
            fail("%s: compress_ratios[%zu] = %u (deepseek4 supports 0, 4 and 128)", L.c_str(), i, r);
    }
    if (!p.swiglu_clamp_exp.empty() && (int64_t)p.swiglu_clamp_exp.size() < p.n_layer)
        fail("%s: swiglu_clamp_exp has %zu entries, need %lld", L.c_str(), p.swiglu_clamp_exp.size(), (long long)p.n_layer);
    if (!p.swiglu_clamp_shexp.empty() && (int64_t)p.swiglu_clamp_shexp.size() < p.n_layer)
        fail("%s: swiglu_clamp_shexp has %zu entries, need %lld", L.c_str(), p.swiglu_clamp_shexp.size(), (long long)p.n_layer);
    auto finite_pos = [&](const char* what, double v) {
        if (!(v > 0) || !std::isfinite(v)) fail("%s: %s must be a positive number", L.c_str(), what);
    };
    finite_pos("rms_norm_eps", p.rms_eps);
    finite_pos("hc_eps", p.hc_eps);
    finite_pos("rope_theta", p.rope_theta);
    finite_pos("compress_rope_theta", p.compress_rope_theta);
    finite_pos("rope_scaling.factor", p.yarn_factor);
    finite_pos("routed_scaling_factor", p.routed_scale);
}

// ---------------------------------------------------------------------------------------
// GGUF metadata
// ---------------------------------------------------------------------------------------
namespace {
constexpr const char* A = "deepseek4.";
std::string K(const char* k) { return std::string(A) + k; }
}  // namespace

void write_model_metadata(gguf::Writer& w, const ModelParams& p) {
    w.set_string("general.architecture", "deepseek4");
    w.set_string("general.name", p.name);
    w.set_alignment(32);
    // Every count is a u32 key (ds4 requires the type; llama.cpp also for the context lengths).
    auto u32 = [&](const char* k, int64_t v) {
        if (v < 0 || v > (int64_t)UINT32_MAX) fail("%s = %lld does not fit in a u32 key", k, (long long)v);
        w.set_u32(K(k), (uint32_t)v);
    };
    auto f32 = [&](const char* k, double v) { w.set_f32(K(k), (float)v); };
    u32("block_count", p.n_layer);
    u32("context_length", (int64_t)std::min<uint64_t>(p.context_length, uint64_t(INT64_MAX)));
    u32("embedding_length", p.n_embd);
    u32("vocab_size", p.n_vocab);
    u32("attention.head_count", p.n_head);
    u32("attention.head_count_kv", p.n_head_kv);
    u32("attention.key_length", p.head_dim);
    u32("attention.value_length", p.head_dim);
    u32("rope.dimension_count", p.n_rot);
    u32("attention.q_lora_rank", p.q_rank);
    u32("attention.output_lora_rank", p.o_rank);
    u32("attention.output_group_count", p.o_groups);
    u32("attention.sliding_window", p.window);
    w.set_array_u32(K("attention.compress_ratios"), p.compress_ratios);
    f32("attention.compress_rope_freq_base", p.compress_rope_theta);
    u32("attention.indexer.head_count", p.idx_heads);
    u32("attention.indexer.key_length", p.idx_head_dim);
    u32("attention.indexer.top_k", p.idx_topk);
    f32("attention.layer_norm_rms_epsilon", p.rms_eps);
    f32("rope.freq_base", p.rope_theta);
    w.set_string(K("rope.scaling.type"), "yarn");
    f32("rope.scaling.factor", p.yarn_factor);
    u32("rope.scaling.original_context_length", (int64_t)p.yarn_orig_ctx);
    f32("rope.scaling.yarn_beta_fast", p.yarn_beta_fast);
    f32("rope.scaling.yarn_beta_slow", p.yarn_beta_slow);
    u32("expert_count", p.n_expert);
    u32("expert_used_count", p.n_expert_used);
    u32("expert_feed_forward_length", p.n_ff_exp);
    u32("expert_shared_count", p.n_shared);
    f32("expert_weights_scale", p.routed_scale);
    w.set_bool(K("expert_weights_norm"), p.norm_topk);
    u32("expert_gating_func", 4);  // sqrt(softplus), llama.cpp's LLAMA_EXPERT_GATING_FUNC_TYPE 4
    u32("hash_layer_count", p.n_hash);
    std::vector<float> clamp_exp((size_t)p.n_layer), clamp_sh((size_t)p.n_layer);
    for (int64_t i = 0; i < p.n_layer; i++) {
        clamp_exp[i] = (float)(p.swiglu_clamp_exp.empty() ? p.swiglu_limit : p.swiglu_clamp_exp[i]);
        clamp_sh[i] = (float)(p.swiglu_clamp_shexp.empty() ? 0.0 : p.swiglu_clamp_shexp[i]);
    }
    w.set_array_f32(K("swiglu_clamp_exp"), clamp_exp);
    w.set_array_f32(K("swiglu_clamp_shexp"), clamp_sh);
    u32("hyper_connection.count", p.hc);
    u32("hyper_connection.sinkhorn_iterations", p.hc_iters);
    f32("hyper_connection.epsilon", p.hc_eps);
}

ModelParams params_from_gguf(const gguf::File& f) {
    ModelParams p;
    p.name = f.get_string_or("general.name", "DeepSeek-V4");
    p.n_layer = f.get_u32(K("block_count"));
    p.context_length = f.find(K("context_length")) ? f.get_u64(K("context_length")) : 0;
    p.n_embd = f.get_u32(K("embedding_length"));
    p.n_vocab = f.get_u32(K("vocab_size"));
    p.n_head = f.get_u32(K("attention.head_count"));
    p.n_head_kv = f.get_u32(K("attention.head_count_kv"));
    p.head_dim = f.get_u32(K("attention.key_length"));
    if (f.get_u32(K("attention.value_length")) != p.head_dim)
        fail("%s: attention.value_length differs from key_length", f.path().c_str());
    p.n_rot = f.get_u32(K("rope.dimension_count"));
    p.q_rank = f.get_u32(K("attention.q_lora_rank"));
    p.o_rank = f.get_u32(K("attention.output_lora_rank"));
    p.o_groups = f.get_u32(K("attention.output_group_count"));
    p.window = f.get_u32(K("attention.sliding_window"));
    for (int64_t r : f.get_int_array(K("attention.compress_ratios"))) {
        if (r < 0 || r > UINT32_MAX) fail("%s: bad compress_ratios entry", f.path().c_str());
        p.compress_ratios.push_back((uint32_t)r);
    }
    p.compress_rope_theta = f.get_f32(K("attention.compress_rope_freq_base"));
    p.idx_heads = f.get_u32(K("attention.indexer.head_count"));
    p.idx_head_dim = f.get_u32(K("attention.indexer.key_length"));
    p.idx_topk = f.get_u32(K("attention.indexer.top_k"));
    p.rms_eps = f.get_f32(K("attention.layer_norm_rms_epsilon"));
    p.rope_theta = f.get_f32(K("rope.freq_base"));
    p.yarn_factor = f.get_f32(K("rope.scaling.factor"));
    p.yarn_orig_ctx = f.get_u64(K("rope.scaling.original_context_length"));
    p.yarn_beta_fast = f.get_f32(K("rope.scaling.yarn_beta_fast"));
    p.yarn_beta_slow = f.get_f32(K("rope.scaling.yarn_beta_slow"));
    p.n_expert = f.get_u32(K("expert_count"));
    p.n_expert_used = f.get_u32(K("expert_used_count"));
    p.n_ff_exp = f.get_u32(K("expert_feed_forward_length"));
    p.n_shared = f.get_u32(K("expert_shared_count"));
    p.routed_scale = f.get_f32(K("expert_weights_scale"));
    p.norm_topk = f.get_bool(K("expert_weights_norm"));
    p.n_hash = f.get_u32(K("hash_layer_count"));
    p.swiglu_clamp_exp = f.get_float_array(K("swiglu_clamp_exp"));
    p.swiglu_limit = p.swiglu_clamp_exp.empty() ? 10.0 : p.swiglu_clamp_exp[0];
    if (f.find(K("swiglu_clamp_shexp"))) p.swiglu_clamp_shexp = f.get_float_array(K("swiglu_clamp_shexp"));
    p.hc = f.get_u32(K("hyper_connection.count"));
    p.hc_iters = f.get_u32(K("hyper_connection.sinkhorn_iterations"));
    p.hc_eps = f.get_f32(K("hyper_connection.epsilon"));
    if (!p.context_length) p.context_length = (uint64_t)(p.yarn_orig_ctx * p.yarn_factor);
    validate_params(p, f.path());
    return p;
}

// ---------------------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------------------
const char* class_name(TensorClass c) {
    switch (c) {
        case TensorClass::Embedding: return "embedding";
        case TensorClass::Output: return "output";
        case TensorClass::AttnProj: return "attention-proj";
        case TensorClass::Attention: return "attention";
        case TensorClass::Shared: return "shared";
        case TensorClass::ExpertGU: return "experts";
        case TensorClass::ExpertDown: return "routed-w2";
        case TensorClass::Dense: return "dense";
        case TensorClass::Vector: return "vector";
        case TensorClass::Tid2eid: return "tid2eid";
    }
    return "?";
}

GgmlType Policy::for_class(TensorClass c) const {
    switch (c) {
        case TensorClass::Embedding: return embedding;
        case TensorClass::Output: return output;
        case TensorClass::AttnProj: return attn_proj;
        case TensorClass::Attention: return attention;
        case TensorClass::Shared: return shared;
        case TensorClass::ExpertGU: return experts;
        case TensorClass::ExpertDown: return routed_w2 == GgmlType::COUNT ? experts : routed_w2;
        case TensorClass::Dense: return dense;
        case TensorClass::Vector: return GgmlType::F32;
        case TensorClass::Tid2eid: return GgmlType::I32;
    }
    return GgmlType::F32;
}

GgmlType parse_target_type(const std::string& s) {
    std::string n;
    for (char ch : s)
        if (ch != '-' && ch != '_') n += (char)tolower((unsigned char)ch);
    if (n == "f32") return GgmlType::F32;
    if (n == "f16") return GgmlType::F16;
    if (n == "bf16") return GgmlType::BF16;
    if (n == "q80") return GgmlType::Q8_0;
    if (n == "q4k") return GgmlType::Q4_K;
    if (n == "q2k") return GgmlType::Q2_K;
    if (n == "iq2xxs") return GgmlType::IQ2_XXS;
    fail("unsupported tensor type '%s' (want f32, f16, bf16, q8_0, q4_k, q2_k or iq2_xxs)", s.c_str());
}

bool Policy::set_flag(const std::string& flag, const std::string& value) {
    GgmlType* dst = nullptr;
    if (flag == "--experts" || flag == "--routed") dst = &experts;
    else if (flag == "--routed-w2" || flag == "--routed-down") dst = &routed_w2;
    else if (flag == "--attention-proj" || flag == "--attn-proj") dst = &attn_proj;
    else if (flag == "--attention") dst = &attention;
    else if (flag == "--shared") dst = &shared;
    else if (flag == "--output") dst = &output;
    else if (flag == "--embedding") dst = &embedding;
    else if (flag == "--dense") dst = &dense;
    if (!dst) return false;
    *dst = parse_target_type(value);
    return true;
}

const char* policy_help() {
    return "Type policy (each TYPE one of f32 f16 bf16 q8_0 q4_k q2_k iq2_xxs; defaults = ds4 q4 recipe):\n"
           "  --experts TYPE         routed experts ffn_{gate,up,down}_exps           (q4_k)\n"
           "  --routed-w2 TYPE       routed ffn_down_exps only                        (= --experts)\n"
           "  --attention-proj TYPE  attn_q_a, attn_q_b, attn_kv, attn_output_{a,b}   (q8_0)\n"
           "  --attention TYPE       hc_attn_fn, compressor and indexer tensors       (f16)\n"
           "  --shared TYPE          ffn_{gate,up,down}_shexp                         (q8_0)\n"
           "  --output TYPE          output.weight                                    (q8_0)\n"
           "  --embedding TYPE       token_embd.weight                                (f16)\n"
           "  --dense TYPE           ffn_gate_inp, hc_ffn_fn, output_hc_fn            (f16)\n"
           "  1-D tensors are always f32 and ffn_gate_tid2eid i32. A q4_k/q2_k/iq2_xxs target whose\n"
           "  rows (ne0) are not a multiple of 256 falls back to q8_0; q8_0 with ne0 % 32 != 0 to f16.\n"
           "  q2 recipe: --experts iq2_xxs --routed-w2 q2_k.\n";
}

// ---------------------------------------------------------------------------------------
// Inventory
// ---------------------------------------------------------------------------------------
int64_t PlannedTensor::nelements() const {
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    return n;
}

uint64_t PlannedTensor::nbytes() const { return (uint64_t)row_size(type, ne[0]) * (uint64_t)rows(); }

std::string PlannedTensor::hf_expert_name(int64_t e) const {
    return experts ? hf_name + std::to_string(e) + hf_suffix : hf_name;
}

std::vector<int64_t> PlannedTensor::hf_shape() const {
    const size_t nd = experts ? 2 : ne.size();
    std::vector<int64_t> s;
    for (size_t i = nd; i-- > 0;) s.push_back(ne[i]);
    return s;
}

static bool is_kquant(GgmlType t) { return t == GgmlType::Q4_K || t == GgmlType::Q2_K || t == GgmlType::IQ2_XXS; }

void assign_type(PlannedTensor& t, GgmlType req) {
    if (t.cls == TensorClass::Vector) req = GgmlType::F32;
    if (t.cls == TensorClass::Tid2eid) req = GgmlType::I32;
    t.requested = req;
    t.type = req;
    t.note.clear();
    const int64_t n0 = t.ne[0];
    if (is_kquant(t.type) && n0 % 256 != 0) {
        t.type = GgmlType::Q8_0;
        t.note = strfmt("ne0 %lld is not a multiple of 256: %s -> q8_0", (long long)n0, type_name((uint32_t)req));
    }
    if (t.type == GgmlType::Q8_0 && n0 % 32 != 0) {
        t.type = GgmlType::F16;
        t.note = strfmt("ne0 %lld is not a multiple of 32: %s -> f16", (long long)n0, type_name((uint32_t)req));
    }
}

std::vector<PlannedTensor> build_plan(const ModelParams& p, const Policy& policy) {
    std::vector<PlannedTensor> out;
    auto add = [&](std::string name, std::vector<int64_t> ne, TensorClass cls, int layer, std::string hf,
                   std::string suffix = "", bool experts = false) {
        PlannedTensor t;
        t.name = std::move(name);
        t.ne = std::move(ne);
        t.cls = cls;
        t.layer = layer;
        t.hf_name = std::move(hf);
        t.hf_suffix = std::move(suffix);
        t.experts = experts;
        assign_type(t, policy.for_class(cls));
        out.push_back(std::move(t));
    };
    using C = TensorClass;
    const int64_t D = p.n_embd, hcD = p.hc * p.n_embd, mix = p.mix();
    add("token_embd.weight", {D, p.n_vocab}, C::Embedding, -1, "embed.weight");
    add("output_hc_base.weight", {p.hc}, C::Vector, -1, "hc_head_base");
    add("output_hc_fn.weight", {hcD, p.hc}, C::Dense, -1, "hc_head_fn");
    add("output_hc_scale.weight", {1}, C::Vector, -1, "hc_head_scale");
    add("output_norm.weight", {D}, C::Vector, -1, "norm.weight");
    add("output.weight", {D, p.n_vocab}, C::Output, -1, "head.weight");

    const int64_t qdim = p.n_head * p.head_dim;
    const int64_t group_in = qdim / p.o_groups;
    const int64_t F = p.n_ff_exp, Fs = p.n_ff_exp * p.n_shared;
    for (int il = 0; il < p.n_layer; il++) {
        const std::string b = "blk." + std::to_string(il) + ".";
        const std::string h = "layers." + std::to_string(il) + ".";
        const int64_t ratio = p.ratio(il);
        add(b + "hc_attn_fn.weight", {hcD, mix}, C::Attention, il, h + "hc_attn_fn");
        add(b + "hc_attn_scale.weight", {3}, C::Vector, il, h + "hc_attn_scale");
        add(b + "hc_attn_base.weight", {mix}, C::Vector, il, h + "hc_attn_base");
        add(b + "attn_norm.weight", {D}, C::Vector, il, h + "attn_norm.weight");
        add(b + "attn_q_a.weight", {D, p.q_rank}, C::AttnProj, il, h + "attn.wq_a.weight");
        add(b + "attn_q_a_norm.weight", {p.q_rank}, C::Vector, il, h + "attn.q_norm.weight");
        add(b + "attn_q_b.weight", {p.q_rank, qdim}, C::AttnProj, il, h + "attn.wq_b.weight");
        add(b + "attn_kv.weight", {D, p.head_dim}, C::AttnProj, il, h + "attn.wkv.weight");
        add(b + "attn_kv_a_norm.weight", {p.head_dim}, C::Vector, il, h + "attn.kv_norm.weight");
        add(b + "attn_sinks.weight", {p.n_head}, C::Vector, il, h + "attn.attn_sink");
        add(b + "attn_output_a.weight", {group_in, p.o_groups * p.o_rank}, C::AttnProj, il, h + "attn.wo_a.weight");
        add(b + "attn_output_b.weight", {p.o_groups * p.o_rank, D}, C::AttnProj, il, h + "attn.wo_b.weight");
        if (ratio != 0) {
            const int64_t cw = (ratio == 4 ? 2 : 1) * p.head_dim;
            add(b + "attn_compressor_ape.weight", {cw, ratio}, C::Attention, il, h + "attn.compressor.ape");
            add(b + "attn_compressor_kv.weight", {D, cw}, C::Attention, il, h + "attn.compressor.wkv.weight");
            add(b + "attn_compressor_gate.weight", {D, cw}, C::Attention, il, h + "attn.compressor.wgate.weight");
            add(b + "attn_compressor_norm.weight", {p.head_dim}, C::Vector, il, h + "attn.compressor.norm.weight");
        }
        if (ratio == 4) {
            const int64_t iw = 2 * p.idx_head_dim;
            add(b + "indexer.attn_q_b.weight", {p.q_rank, p.idx_heads * p.idx_head_dim}, C::Attention, il,
                h + "attn.indexer.wq_b.weight");
            add(b + "indexer.proj.weight", {D, p.idx_heads}, C::Attention, il, h + "attn.indexer.weights_proj.weight");
            add(b + "indexer_compressor_ape.weight", {iw, 4}, C::Attention, il, h + "attn.indexer.compressor.ape");
            add(b + "indexer_compressor_kv.weight", {D, iw}, C::Attention, il, h + "attn.indexer.compressor.wkv.weight");
            add(b + "indexer_compressor_gate.weight", {D, iw}, C::Attention, il, h + "attn.indexer.compressor.wgate.weight");
            add(b + "indexer_compressor_norm.weight", {p.idx_head_dim}, C::Vector, il, h + "attn.indexer.compressor.norm.weight");
        }
        add(b + "hc_ffn_fn.weight", {hcD, mix}, C::Dense, il, h + "hc_ffn_fn");
        add(b + "hc_ffn_scale.weight", {3}, C::Vector, il, h + "hc_ffn_scale");
        add(b + "hc_ffn_base.weight", {mix}, C::Vector, il, h + "hc_ffn_base");
        add(b + "ffn_norm.weight", {D}, C::Vector, il, h + "ffn_norm.weight");
        add(b + "ffn_gate_inp.weight", {D, p.n_expert}, C::Dense, il, h + "ffn.gate.weight");
        if (il < p.n_hash)
            add(b + "ffn_gate_tid2eid.weight", {p.n_expert_used, p.n_vocab}, C::Tid2eid, il, h + "ffn.gate.tid2eid");
        else
            add(b + "exp_probs_b.bias", {p.n_expert}, C::Vector, il, h + "ffn.gate.bias");
        const std::string ex = h + "ffn.experts.";
        add(b + "ffn_gate_exps.weight", {D, F, p.n_expert}, C::ExpertGU, il, ex, ".w1.weight", true);
        add(b + "ffn_up_exps.weight", {D, F, p.n_expert}, C::ExpertGU, il, ex, ".w3.weight", true);
        add(b + "ffn_down_exps.weight", {F, D, p.n_expert}, C::ExpertDown, il, ex, ".w2.weight", true);
        if (p.n_shared > 0) {
            add(b + "ffn_gate_shexp.weight", {D, Fs}, C::Shared, il, h + "ffn.shared_experts.w1.weight");
            add(b + "ffn_up_shexp.weight", {D, Fs}, C::Shared, il, h + "ffn.shared_experts.w3.weight");
            add(b + "ffn_down_shexp.weight", {Fs, D}, C::Shared, il, h + "ffn.shared_experts.w2.weight");
        }
    }
    return out;
}

}  // namespace ds4::convert
