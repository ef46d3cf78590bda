// Conversion plan: tensor inventory (names, GGUF dims, classes, types) against MODEL-SPEC
// sections 3-4 for the real Flash shape, the type policy and its fallbacks, config.json parsing.
#include "convert/plan.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "util/error.h"
#include "util/json.h"

using namespace ds4;
using namespace ds4::convert;

namespace {

ModelParams flash() {
    ModelParams p;  // defaults are the Flash values
    p.compress_ratios = {0, 0};
    for (int i = 0; i < 20; i++) {
        p.compress_ratios.push_back(4);
        p.compress_ratios.push_back(128);
    }
    p.compress_ratios.push_back(4);
    p.compress_ratios.push_back(0);  // MTP tail
    return p;
}

std::map<std::string, PlannedTensor> by_name(const std::vector<PlannedTensor>& v) {
    std::map<std::string, PlannedTensor> m;
    for (const auto& t : v) m.emplace(t.name, t);
    return m;
}

const char* kConfig = R"({
  "hidden_size": 256, "num_hidden_layers": 3, "num_attention_heads": 4, "head_dim": 128,
  "qk_rope_head_dim": 64, "q_lora_rank": 128, "o_lora_rank": 128, "o_groups": 2,
  "n_routed_experts": 8, "num_experts_per_tok": 4, "moe_intermediate_size": 256,
  "n_shared_experts": 1, "num_hash_layers": 2, "sliding_window": 128, "compress_ratios": [0, 4, 128, 0],
  "compress_rope_theta": 160000, "rope_theta": 10000, "index_n_heads": 16, "index_head_dim": 128,
  "index_topk": 16, "hc_mult": 4, "hc_sinkhorn_iters": 20, "hc_eps": 1e-6, "routed_scaling_factor": 1.5,
  "swiglu_limit": 10.0, "rms_norm_eps": 1e-6, "vocab_size": 1280, "max_position_embeddings": 4096,
  "num_key_value_heads": 1, "scoring_func": "sqrtsoftplus", "norm_topk_prob": true,
  "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 16, "original_max_position_embeddings": 65536, "type": "yarn"}
})";

std::string config_error(const std::string& from, const std::string& to) {
    std::string c = kConfig;
    const size_t at = c.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    c.replace(at, from.size(), to);
    try {
        params_from_hf_config(json::parse(c), "config.json");
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(QuantizePlan, FlashInventoryMatchesSpec) {
    const ModelParams p = flash();
    validate_params(p, "flash");
    const auto plan = build_plan(p, Policy::q2());
    // 1328 tensors: hash layers 0-2 carry tid2eid and no exp_probs_b (GGUF-TOOLS-PEERS 2.2)
    EXPECT_EQ(plan.size(), 1328u);
    auto m = by_name(plan);
    struct Want {
        const char* name;
        std::vector<int64_t> ne;
        GgmlType type;
    };
    const Want want[] = {
        {"token_embd.weight", {4096, 129280}, GgmlType::F16},
        {"output.weight", {4096, 129280}, GgmlType::Q8_0},
        {"output_norm.weight", {4096}, GgmlType::F32},
        {"output_hc_fn.weight", {16384, 4}, GgmlType::F16},
        {"output_hc_base.weight", {4}, GgmlType::F32},
        {"output_hc_scale.weight", {1}, GgmlType::F32},
        {"blk.0.hc_attn_fn.weight", {16384, 24}, GgmlType::F16},
        {"blk.0.hc_attn_base.weight", {24}, GgmlType::F32},
        {"blk.0.hc_attn_scale.weight", {3}, GgmlType::F32},
        {"blk.0.attn_q_a.weight", {4096, 1024}, GgmlType::Q8_0},
        {"blk.0.attn_q_a_norm.weight", {1024}, GgmlType::F32},
        {"blk.0.attn_q_b.weight", {1024, 32768}, GgmlType::Q8_0},
        {"blk.0.attn_kv.weight", {4096, 512}, GgmlType::Q8_0},
        {"blk.0.attn_kv_a_norm.weight", {512}, GgmlType::F32},
        {"blk.0.attn_sinks.weight", {64}, GgmlType::F32},
        {"blk.0.attn_output_a.weight", {4096, 8192}, GgmlType::Q8_0},
        {"blk.0.attn_output_b.weight", {8192, 4096}, GgmlType::Q8_0},
        {"blk.2.attn_compressor_ape.weight", {1024, 4}, GgmlType::F16},
        {"blk.2.attn_compressor_kv.weight", {4096, 1024}, GgmlType::F16},
        {"blk.2.attn_compressor_gate.weight", {4096, 1024}, GgmlType::F16},
        {"blk.2.attn_compressor_norm.weight", {512}, GgmlType::F32},
        {"blk.3.attn_compressor_ape.weight", {512, 128}, GgmlType::F16},
        {"blk.3.attn_compressor_kv.weight", {4096, 512}, GgmlType::F16},
        {"blk.2.indexer.attn_q_b.weight", {1024, 8192}, GgmlType::F16},
        {"blk.2.indexer.proj.weight", {4096, 64}, GgmlType::F16},
        {"blk.2.indexer_compressor_ape.weight", {256, 4}, GgmlType::F16},
        {"blk.2.indexer_compressor_kv.weight", {4096, 256}, GgmlType::F16},
        {"blk.2.indexer_compressor_gate.weight", {4096, 256}, GgmlType::F16},
        {"blk.2.indexer_compressor_norm.weight", {128}, GgmlType::F32},
        {"blk.0.hc_ffn_fn.weight", {16384, 24}, GgmlType::F16},
        {"blk.0.ffn_norm.weight", {4096}, GgmlType::F32},
        {"blk.0.ffn_gate_inp.weight", {4096, 256}, GgmlType::F16},
        {"blk.3.exp_probs_b.bias", {256}, GgmlType::F32},
        {"blk.2.ffn_gate_tid2eid.weight", {6, 129280}, GgmlType::I32},
        {"blk.5.ffn_gate_exps.weight", {4096, 2048, 256}, GgmlType::IQ2_XXS},
        {"blk.5.ffn_up_exps.weight", {4096, 2048, 256}, GgmlType::IQ2_XXS},
        {"blk.5.ffn_down_exps.weight", {2048, 4096, 256}, GgmlType::Q2_K},
        {"blk.5.ffn_gate_shexp.weight", {4096, 2048}, GgmlType::Q8_0},
        {"blk.5.ffn_down_shexp.weight", {2048, 4096}, GgmlType::Q8_0},
    };
    for (const Want& w : want) {
        auto it = m.find(w.name);
        ASSERT_NE(it, m.end()) << w.name;
        EXPECT_EQ(it->second.ne, w.ne) << w.name;
        EXPECT_EQ(it->second.type, w.type) << w.name;
        EXPECT_TRUE(it->second.note.empty()) << w.name;
    }
    EXPECT_EQ(m.count("blk.2.exp_probs_b.bias"), 0u);
    EXPECT_EQ(m.count("blk.3.ffn_gate_tid2eid.weight"), 0u);
    EXPECT_EQ(m.count("blk.0.attn_compressor_kv.weight"), 0u);
    EXPECT_EQ(m.count("blk.3.indexer.proj.weight"), 0u);  // ratio 128: no indexer
    EXPECT_EQ(m.count("blk.42.indexer.proj.weight"), 1u);
    EXPECT_EQ(m.count("blk.43.attn_norm.weight"), 0u);    // the MTP ratio entry makes no layer
    // HF names and shapes
    EXPECT_EQ(m["blk.7.attn_output_a.weight"].hf_name, "layers.7.attn.wo_a.weight");
    EXPECT_EQ(m["blk.7.attn_output_a.weight"].hf_shape(), (std::vector<int64_t>{8192, 4096}));
    EXPECT_EQ(m["blk.7.ffn_up_exps.weight"].hf_expert_name(17), "layers.7.ffn.experts.17.w3.weight");
    EXPECT_EQ(m["blk.7.ffn_down_exps.weight"].hf_expert_name(3), "layers.7.ffn.experts.3.w2.weight");
    EXPECT_EQ(m["blk.7.ffn_down_exps.weight"].hf_shape(), (std::vector<int64_t>{4096, 2048}));
    EXPECT_EQ(m["blk.2.indexer_compressor_ape.weight"].hf_name, "layers.2.attn.indexer.compressor.ape");
    EXPECT_EQ(m["blk.1.ffn_gate_tid2eid.weight"].hf_name, "layers.1.ffn.gate.tid2eid");
    EXPECT_EQ(m["output_hc_fn.weight"].hf_name, "hc_head_fn");
    // q4 recipe: all experts q4_k, the published file is ~153 GiB; q2 ~81 GB (GGUF-TOOLS-PEERS 2)
    uint64_t total = 0;
    for (const auto& t : build_plan(p, Policy::q4())) {
        if (t.experts) {
            EXPECT_EQ(t.type, GgmlType::Q4_K) << t.name;
        }
        total += t.nbytes();
    }
    EXPECT_GT(total / 1073741824.0, 152.0);
    EXPECT_LT(total / 1073741824.0, 154.5);
    uint64_t total2 = 0;
    for (const auto& t : plan) total2 += t.nbytes();
    printf("flash plan: q4 %.2f GiB, q2 %.2f GiB (%.2f GB)\n", total / 1073741824.0, total2 / 1073741824.0, total2 / 1e9);
    EXPECT_GT(total2 / 1073741824.0, 79.0);
    EXPECT_LT(total2 / 1073741824.0, 82.5);
}

TEST(QuantizePlan, PolicyFlagsAndFallbacks) {
    Policy pol;
    EXPECT_TRUE(pol.set_flag("--experts", "IQ2_XXS"));
    EXPECT_EQ(pol.for_class(TensorClass::ExpertDown), GgmlType::IQ2_XXS);  // routed-w2 follows --experts
    EXPECT_TRUE(pol.set_flag("--routed-w2", "q2-k"));
    EXPECT_EQ(pol.for_class(TensorClass::ExpertDown), GgmlType::Q2_K);
    EXPECT_TRUE(pol.set_flag("--attention-proj", "f32"));
    EXPECT_TRUE(pol.set_flag("--dense", "bf16"));
    EXPECT_FALSE(pol.set_flag("--threads", "4"));
    EXPECT_THROW(pol.set_flag("--shared", "q5_k"), Error);
    EXPECT_EQ(pol.for_class(TensorClass::Vector), GgmlType::F32);
    EXPECT_EQ(pol.for_class(TensorClass::Tid2eid), GgmlType::I32);

    ModelParams p = flash();
    p.n_embd = 128;      // experts' ne0 128: k-quants fall back to q8_0
    p.n_ff_exp = 48;     // down ne0 48: q8_0 falls back to f16
    p.n_layer = 2;
    Policy all_f16;
    for (const char* f : {"--experts", "--attention-proj", "--attention", "--shared", "--output", "--embedding", "--dense"})
        all_f16.set_flag(f, "f16");
    for (const auto& t : build_plan(p, all_f16)) {
        if (t.ne.size() == 1 || t.cls == TensorClass::Vector) EXPECT_EQ(t.type, GgmlType::F32) << t.name;
        else if (t.cls == TensorClass::Tid2eid) EXPECT_EQ(t.type, GgmlType::I32) << t.name;
        else EXPECT_EQ(t.type, GgmlType::F16) << t.name;
    }
    auto m = by_name(build_plan(p, Policy::q4()));
    EXPECT_EQ(m["blk.0.ffn_gate_exps.weight"].type, GgmlType::Q8_0);
    EXPECT_EQ(m["blk.0.ffn_gate_exps.weight"].requested, GgmlType::Q4_K);
    EXPECT_NE(m["blk.0.ffn_gate_exps.weight"].note.find("q4_k -> q8_0"), std::string::npos);
    EXPECT_EQ(m["blk.0.ffn_down_exps.weight"].type, GgmlType::F16);
    EXPECT_NE(m["blk.0.ffn_down_exps.weight"].note.find("-> f16"), std::string::npos);
    EXPECT_EQ(m["blk.0.ffn_down_shexp.weight"].type, GgmlType::F16);  // q8_0 with ne0 48
}

TEST(QuantizePlan, ParsesConfigJson) {
    ModelParams p = params_from_hf_config(json::parse(kConfig), "config.json");
    EXPECT_EQ(p.n_layer, 3);
    EXPECT_EQ(p.n_embd, 256);
    EXPECT_EQ(p.n_vocab, 1280);
    EXPECT_EQ(p.n_expert, 8);
    EXPECT_EQ(p.n_expert_used, 4);
    EXPECT_EQ(p.n_hash, 2);
    EXPECT_EQ(p.compress_ratios, (std::vector<uint32_t>{0, 4, 128, 0}));
    EXPECT_EQ(p.yarn_orig_ctx, 65536u);
    EXPECT_EQ(p.context_length, 4096u);
    EXPECT_DOUBLE_EQ(p.swiglu_limit, 10.0);
    EXPECT_DOUBLE_EQ(p.compress_rope_theta, 160000.0);

    EXPECT_NE(config_error(R"("o_groups": 2,)", "").find("missing key 'o_groups'"), std::string::npos);
    EXPECT_NE(config_error(R"("o_groups": 2,)", R"("o_groups": 3,)").find("not divisible by o_groups"), std::string::npos);
    EXPECT_NE(config_error("[0, 4, 128, 0]", "[0, 4]").find("compress_ratios has 2 entries"), std::string::npos);
    EXPECT_NE(config_error("[0, 4, 128, 0]", "[0, 8, 128, 0]").find("compress_ratios[1] = 8"), std::string::npos);
    EXPECT_NE(config_error(R"("num_experts_per_tok": 4)", R"("num_experts_per_tok": 9)").find("exceeds"), std::string::npos);
    EXPECT_NE(config_error(R"("num_hash_layers": 2)", R"("num_hash_layers": 4)").find("num_hash_layers"), std::string::npos);
    EXPECT_NE(config_error(R"("hidden_size": 256)", R"("hidden_size": "256")").find("'hidden_size' must be an integer"),
              std::string::npos);
    EXPECT_NE(config_error(R"("type": "yarn")", R"("type": "linear")").find("yarn"), std::string::npos);
    EXPECT_NE(config_error(R"("num_key_value_heads": 1)", R"("num_key_value_heads": 2)").find("num_key_value_heads"),
              std::string::npos);
    EXPECT_NE(config_error(R"("factor": 16,)", "").find("missing key 'factor'"), std::string::npos);
    EXPECT_NE(config_error(R"("scoring_func": "sqrtsoftplus")", R"("scoring_func": "softmax")").find("scoring_func"),
              std::string::npos);
}
