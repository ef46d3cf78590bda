#include "model/config.h"

#include <cmath>

#include "gguf/gguf.h"
#include "util/error.h"

namespace ds4 {

namespace {

constexpr const char* P = "deepseek4.";

std::string key(const char* k) { return std::string(P) + k; }

int u32(const gguf::File& f, const char* k) {
    const uint32_t v = f.get_u32(key(k));
    if (v > 0x7fffffffu) fail("metadata %s%s = %u is out of range", P, k, v);
    return int(v);
}

void require(bool ok, const char* what) {
    if (!ok) fail("model metadata inconsistent: %s", what);
}

std::vector<float> per_layer_floats(const gguf::File& f, const std::string& k, int n_layer) {
    const std::vector<double> v = f.get_float_array(k);
    if (v.size() < size_t(n_layer))
        fail("metadata %s has %zu entries, block_count is %d", k.c_str(), v.size(), n_layer);
    std::vector<float> out(v.begin(), v.begin() + n_layer);
    for (float x : out)
        if (!std::isfinite(x) || x < 0) fail("metadata %s holds %g (must be finite and >= 0)", k.c_str(), double(x));
    return out;
}

}  // namespace

ModelConfig ModelConfig::from_gguf(const gguf::File& f, int experts_override) {
    ModelConfig c;
    c.arch = f.get_string_or("general.architecture", "deepseek4");
    if (c.arch != "deepseek4") fail("general.architecture is '%s', expected 'deepseek4'", c.arch.c_str());
    c.name = f.get_string_or("general.name", "");
    c.n_layer = u32(f, "block_count");
    c.n_embd = u32(f, "embedding_length");
    c.n_vocab = u32(f, "vocab_size");
    c.n_head = u32(f, "attention.head_count");
    const int n_head_kv = u32(f, "attention.head_count_kv");
    c.head_dim = u32(f, "attention.key_length");
    const int v_len = u32(f, "attention.value_length");
    c.rope_dim = u32(f, "rope.dimension_count");
    c.q_lora = u32(f, "attention.q_lora_rank");
    c.o_lora = u32(f, "attention.output_lora_rank");
    c.o_groups = u32(f, "attention.output_group_count");
    c.window = u32(f, "attention.sliding_window");
    c.compress_rope_base = f.get_f32(key("attention.compress_rope_freq_base"));
    c.idx_heads = u32(f, "attention.indexer.head_count");
    c.idx_dim = u32(f, "attention.indexer.key_length");
    c.idx_topk = u32(f, "attention.indexer.top_k");
    c.norm_eps = f.get_f32(key("attention.layer_norm_rms_epsilon"));
    c.rope_base = f.get_f32(key("rope.freq_base"));
    c.yarn.factor = f.get_f32(key("rope.scaling.factor"));
    c.yarn.orig_ctx = int64_t(f.get_u64(key("rope.scaling.original_context_length")));
    c.yarn.beta_fast = f.get_f32(key("rope.scaling.yarn_beta_fast"));
    c.yarn.beta_slow = f.get_f32(key("rope.scaling.yarn_beta_slow"));
    c.n_expert = u32(f, "expert_count");
    c.n_expert_used = u32(f, "expert_used_count");
    c.ffn_dim = u32(f, "expert_feed_forward_length");
    c.n_shared = u32(f, "expert_shared_count");
    c.expert_scale = f.get_f32(key("expert_weights_scale"));
    if (!f.get_bool(key("expert_weights_norm")))
        fail("metadata %sexpert_weights_norm is false; DeepSeek V4 renormalises the routing weights", P);
    c.n_hash = u32(f, "hash_layer_count");
    c.n_hc = u32(f, "hyper_connection.count");
    c.sinkhorn_iters = u32(f, "hyper_connection.sinkhorn_iterations");
    c.hc_eps = f.get_f32(key("hyper_connection.epsilon"));
    c.n_ctx_train = f.find(key("context_length")) ? int64_t(f.get_u64(key("context_length"))) : 0;

    if (f.get_u32_or(key("expert_group_count"), 0) != 0 || f.get_u32_or(key("expert_group_used_count"), 0) != 0)
        fail("metadata %sexpert_group_count / expert_group_used_count must be 0 or absent (no group-limited routing)", P);
    if (const gguf::KV* g = f.find(key("expert_gating_func"))) {
        const uint32_t v = f.get_u32(key("expert_gating_func"));
        (void)g;
        if (v != 4) fail("metadata %sexpert_gating_func = %u, only 4 (sqrt-softplus) is supported", P, v);
    }

    const std::vector<int64_t> ratios = f.get_int_array(key("attention.compress_ratios"));
    if (ratios.size() < size_t(c.n_layer))
        fail("metadata %sattention.compress_ratios has %zu entries, block_count is %d", P, ratios.size(), c.n_layer);
    for (int il = 0; il < c.n_layer; ++il) {
        if (ratios[il] < 0 || ratios[il] > (1 << 20))
            fail("metadata %sattention.compress_ratios[%d] = %lld is invalid", P, il, (long long)ratios[il]);
        c.ratio.push_back(int(ratios[il]));
    }
    c.clamp_exp = per_layer_floats(f, key("swiglu_clamp_exp"), c.n_layer);
    // Absent: the shared expert is not clamped (official behaviour); 0 entries mean the same.
    if (f.find(key("swiglu_clamp_shexp")))
        c.clamp_shexp = per_layer_floats(f, key("swiglu_clamp_shexp"), c.n_layer);
    else
        c.clamp_shexp.assign(c.n_layer, 0.0f);

    if (experts_override > 0) {
        if (experts_override > c.n_expert)
            fail("--experts %d exceeds the model's expert_count %d", experts_override, c.n_expert);
        c.n_expert_used = experts_override;
    }

    // Structural consistency (the forward pass relies on each of these).
    require(c.n_layer > 0 && c.n_embd > 0 && c.n_vocab > 0 && c.n_head > 0, "zero-sized model");
    if (n_head_kv != 1) fail("metadata %sattention.head_count_kv = %d, DeepSeek V4 has one shared KV head", P, n_head_kv);
    if (v_len != c.head_dim)
        fail("metadata %sattention.value_length %d != key_length %d (K and V are the same row)", P, v_len, c.head_dim);
    require(c.rope_dim > 0 && c.rope_dim % 2 == 0 && c.rope_dim <= c.head_dim, "rope.dimension_count must be even and <= key_length");
    require(c.n_nope() % 64 == 0, "key_length - rope.dimension_count must be a multiple of 64 (FP8 KV blocks)");
    require(c.o_groups > 0 && c.n_head % c.o_groups == 0, "attention.head_count must be a multiple of output_group_count");
    require(c.window > 0, "attention.sliding_window must be > 0");
    require(c.n_expert > 0 && c.n_expert_used > 0 && c.n_expert_used <= c.n_expert, "expert_used_count must be in [1, expert_count]");
    require(c.ffn_dim > 0, "expert_feed_forward_length must be > 0");
    require(c.n_shared <= 1, "expert_shared_count must be 0 or 1");
    require(c.n_hash <= c.n_layer, "hash_layer_count exceeds block_count");
    require(c.n_hc >= 1 && c.n_hc <= 8, "hyper_connection.count must be in [1, 8]");
    require(c.sinkhorn_iters >= 1, "hyper_connection.sinkhorn_iterations must be >= 1");
    require(c.norm_eps > 0 && c.rope_base > 0 && c.compress_rope_base > 0, "epsilon and rope bases must be > 0");
    bool any_indexer = false;
    for (int il = 0; il < c.n_layer; ++il) any_indexer |= c.ratio[il] == 4;
    if (any_indexer) {
        require(c.idx_heads > 0 && c.idx_topk > 0, "indexer head_count and top_k must be > 0");
        require(c.idx_dim >= c.rope_dim && c.idx_dim >= 32 && (c.idx_dim & (c.idx_dim - 1)) == 0,
                "indexer.key_length must be a power of two >= 32 and >= rope.dimension_count (Hadamard, FP4 blocks)");
    }
    return c;
}

std::string ModelConfig::summary() const {
    int n0 = 0, n4 = 0, nh = 0;
    for (int r : ratio) (r == 0 ? n0 : r == 4 ? n4 : nh)++;
    return strfmt("%s: %d layers (%d sliding, %d CSA, %d HCA), dim %d, %d heads x %d, vocab %d, "
                  "%d experts (top %d, ffn %d), %d hash layers, window %d",
                  name.empty() ? "deepseek4" : name.c_str(), n_layer, n0, n4, nh, n_embd, n_head, head_dim, n_vocab,
                  n_expert, n_expert_used, ffn_dim, n_hash, window);
}

}  // namespace ds4
