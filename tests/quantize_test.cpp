// deepseek4-quantize and make-synthetic end to end: every oracle checkpoint (public/publicq,
// top-k 6/4) converted with the default q4 recipe, the q2 recipe, all-f32 and all-f16 by the
// built tool (a subprocess run from the repo root), then re-read and checked tensor by tensor
// against the dequantized source weights, plus metadata, tokenizer, tid2eid and tool behaviour.
// Conversions are cached in build/test-tmp (redone when the inputs or the tool are newer).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "convert/plan.h"
#include "convert/synthetic.h"
#include "gguf/gguf.h"
#include "quant/quants.h"
#include "safetensors/safetensors.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/json.h"
#include "util/mmap_file.h"

using namespace ds4;
using namespace ds4::convert;

namespace {

const char* kTool = "./gguf-tools/deepseek4-quantize";
const char* kSynth = "./gguf-tools/make-synthetic";

double mtime(const std::string& p) {
    struct stat st;
    if (stat(p.c_str(), &st) != 0) return -1;
    return (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec * 1e-9;
}

int run_cmd(const std::string& cmd, std::string* out) {
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return -1;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        if (out) out->append(buf, n);
    const int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string oracle_dir(const std::string& set, int k) {
    return test::shared_dir() + "/vectors/oracle/" + set + "/hf_topk" + std::to_string(k);
}

bool have_inputs(const std::string& dir) {
    if (test::path_exists(dir + "/model.safetensors")) return true;
    if (!test::allow_missing_vectors()) ADD_FAILURE() << "missing oracle checkpoint " << dir;
    return false;
}

enum class Pol { Default, Q2, F32, F16 };
const char* pol_name(Pol p) {
    switch (p) {
        case Pol::Default: return "q4";
        case Pol::Q2: return "q2";
        case Pol::F32: return "f32";
        case Pol::F16: return "f16";
    }
    return "?";
}
std::string pol_args(Pol p) {
    const char* all[] = {"--experts", "--attention-proj", "--attention", "--shared", "--output", "--embedding", "--dense"};
    std::string s;
    switch (p) {
        case Pol::Default: return "";
        case Pol::Q2: return " --experts iq2_xxs --routed-w2 q2_k";
        case Pol::F32:
            for (const char* f : all) s += std::string(" ") + f + " f32";
            return s;
        case Pol::F16:
            for (const char* f : all) s += std::string(" ") + f + " f16";
            return s;
    }
    return s;
}
Policy pol_policy(Pol p) {
    Policy pol = Policy::q4();
    if (p == Pol::Q2) pol = Policy::q2();
    if (p == Pol::F32 || p == Pol::F16)
        for (const char* f : {"--experts", "--attention-proj", "--attention", "--shared", "--output", "--embedding", "--dense"})
            pol.set_flag(f, p == Pol::F32 ? "f32" : "f16");
    return pol;
}

// Converts (or reuses a conversion newer than its inputs and the tool) and returns the path.
std::string convert(const std::string& set, int k, Pol pol) {
    const std::string dir = oracle_dir(set, k);
    const std::string out = test::tmp_dir() + "/quant_" + set + "_k" + std::to_string(k) + "_" + pol_name(pol) + ".gguf";
    const double newest = std::max({mtime(dir + "/model.safetensors"), mtime(dir + "/config.json"),
                                    mtime(dir + "/tokenizer.json"), mtime(kTool)});
    if (mtime(out) > newest) return out;
    std::string log;
    const std::string cmd = std::string(kTool) + " --hf " + dir + " --out " + out + " --overwrite --quiet" + pol_args(pol);
    const int rc = run_cmd(cmd, &log);
    EXPECT_EQ(rc, 0) << cmd << "\n" << log;
    return out;
}

json::Value load_config(const std::string& dir) { return json::parse(read_text_file(dir + "/config.json")); }

// ---------------------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------------------
void check_metadata(const gguf::File& f, const json::Value& cfg, int64_t k_used) {
    auto ci = [&](const char* key) { return cfg.find(key)->as_int(key); };
    auto cf = [&](const char* key) { return cfg.find(key)->as_number(key); };
    EXPECT_EQ(f.get_string("general.architecture"), "deepseek4");
    EXPECT_FALSE(f.get_string("general.name").empty());
    EXPECT_EQ(f.get_u32("general.alignment"), 32u);
    EXPECT_EQ(f.alignment(), 32u);
    const std::string A = "deepseek4.";
    const std::pair<const char*, int64_t> u32s[] = {
        {"block_count", ci("num_hidden_layers")},
        {"embedding_length", ci("hidden_size")},
        {"vocab_size", ci("vocab_size")},
        {"attention.head_count", ci("num_attention_heads")},
        {"attention.head_count_kv", 1},
        {"attention.key_length", ci("head_dim")},
        {"attention.value_length", ci("head_dim")},
        {"rope.dimension_count", ci("qk_rope_head_dim")},
        {"attention.q_lora_rank", ci("q_lora_rank")},
        {"attention.output_lora_rank", ci("o_lora_rank")},
        {"attention.output_group_count", ci("o_groups")},
        {"attention.sliding_window", ci("sliding_window")},
        {"attention.indexer.head_count", ci("index_n_heads")},
        {"attention.indexer.key_length", ci("index_head_dim")},
        {"attention.indexer.top_k", ci("index_topk")},
        {"expert_count", ci("n_routed_experts")},
        {"expert_used_count", k_used},
        {"expert_feed_forward_length", ci("moe_intermediate_size")},
        {"expert_shared_count", ci("n_shared_experts")},
        {"hash_layer_count", ci("num_hash_layers")},
        {"hyper_connection.count", ci("hc_mult")},
        {"hyper_connection.sinkhorn_iterations", ci("hc_sinkhorn_iters")},
        {"expert_gating_func", 4},
    };
    for (const auto& [k, v] : u32s) EXPECT_EQ((int64_t)f.get_u32(A + k), v) << k;  // get_u32 demands type U32
    const json::Value& rs = *cfg.find("rope_scaling");
    const std::pair<const char*, double> f32s[] = {
        {"attention.compress_rope_freq_base", cf("compress_rope_theta")},
        {"attention.layer_norm_rms_epsilon", cf("rms_norm_eps")},
        {"rope.freq_base", cf("rope_theta")},
        {"rope.scaling.factor", rs.find("factor")->as_number()},
        {"rope.scaling.yarn_beta_fast", rs.find("beta_fast")->as_number()},
        {"rope.scaling.yarn_beta_slow", rs.find("beta_slow")->as_number()},
        {"expert_weights_scale", cf("routed_scaling_factor")},
        {"hyper_connection.epsilon", cf("hc_eps")},
    };
    for (const auto& [k, v] : f32s) {
        const gguf::KV* kv = f.find(A + k);
        ASSERT_NE(kv, nullptr) << k;
        EXPECT_EQ(kv->type, gguf::ValueType::F32) << k;
        EXPECT_EQ(f.get_f32(A + k), (float)v) << k;
    }
    for (const char* k : {"context_length", "rope.scaling.original_context_length"}) {
        ASSERT_NE(f.find(A + k), nullptr) << k;
        EXPECT_EQ(f.find(A + k)->type, gguf::ValueType::U32) << k << " (llama.cpp needs u32)";
    }
    EXPECT_EQ((int64_t)f.get_u64(A + "context_length"), ci("max_position_embeddings"));
    EXPECT_EQ((int64_t)f.get_u64(A + "rope.scaling.original_context_length"),
              rs.find("original_max_position_embeddings")->as_int());
    EXPECT_EQ(f.get_string(A + "rope.scaling.type"), "yarn");
    EXPECT_TRUE(f.get_bool(A + "expert_weights_norm"));
    // arrays
    const gguf::KV* cr = f.find(A + "attention.compress_ratios");
    ASSERT_NE(cr, nullptr);
    EXPECT_EQ(cr->arr_type, gguf::ValueType::U32);
    std::vector<int64_t> want_cr;
    for (const auto& x : cfg.find("compress_ratios")->arr) want_cr.push_back(x.integer);
    EXPECT_EQ(f.get_int_array(A + "attention.compress_ratios"), want_cr);  // MTP tail included
    const int64_t L = ci("num_hidden_layers");
    for (const char* k : {"swiglu_clamp_exp", "swiglu_clamp_shexp"}) {
        const gguf::KV* kv = f.find(A + k);
        ASSERT_NE(kv, nullptr) << k;
        EXPECT_EQ(kv->arr_type, gguf::ValueType::F32);
        const std::vector<double> v = f.get_float_array(A + k);
        ASSERT_EQ((int64_t)v.size(), L) << k;
        for (double x : v) EXPECT_EQ(x, std::string(k) == "swiglu_clamp_exp" ? cf("swiglu_limit") : 0.0) << k;
    }
    // tokenizer
    EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
    EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "joyai-llm");
    const auto tokens = f.get_string_array("tokenizer.ggml.tokens");
    EXPECT_EQ((int64_t)tokens.size(), ci("vocab_size"));
    EXPECT_EQ((int64_t)f.get_int_array("tokenizer.ggml.token_type").size(), ci("vocab_size"));
    EXPECT_GT(f.get_string_array("tokenizer.ggml.merges").size(), 100u);
    EXPECT_EQ(f.get_u32("tokenizer.ggml.bos_token_id"), 0u);
    EXPECT_EQ(f.get_u32("tokenizer.ggml.eos_token_id"), 1u);
    EXPECT_FALSE(f.get_bool("tokenizer.ggml.add_bos_token"));
    EXPECT_EQ(tokens[0], "<｜begin▁of▁sentence｜>");
    EXPECT_EQ(tokens[1], "<｜end▁of▁sentence｜>");
    Tokenizer tok = Tokenizer::from_gguf(f);
    const std::string text = "Hello world, 12345!";
    EXPECT_EQ(tok.decode(tok.encode(text)), text);
    EXPECT_GE(tok.find_token("<｜User｜>"), 0);
}

// ---------------------------------------------------------------------------------------
// Tensor data
// ---------------------------------------------------------------------------------------
struct Stats {
    int f16_nonexact = 0;
    std::map<GgmlType, double> max_err;  // worst relative RMS error per stored type
};

double rel_rmse(const float* a, const float* b, int64_t n) {
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)b[i] * b[i];
    }
    return s > 0 ? std::sqrt(e / s) : std::sqrt(e);
}

// Per-format relative RMS error bound against the source (random FP4/FP8-decoded weights).
double error_bound(GgmlType t) {
    switch (t) {
        case GgmlType::Q8_0: return 0.01;     // measured 0.0057
        case GgmlType::Q4_K: return 0.1;      // measured 0.065
        case GgmlType::Q2_K: return 0.4;      // measured 0.31
        case GgmlType::IQ2_XXS: return 0.45;  // measured 0.35
        default: return 0;
    }
}

// One matrix (rows x n0 floats of source `x`) against its stored bytes `q`.
// exact_f16: the source format (BF16, FP8, FP4) fits f16 exactly in f16's normal range.
void check_matrix(const PlannedTensor& t, const float* x, int64_t rows, const uint8_t* q, bool byte_compare, bool exact_f16,
                  Stats* st, const std::string& what) {
    const int64_t n0 = t.ne[0];
    const int64_t n = rows * n0;
    if (t.type == GgmlType::F32) {
        ASSERT_EQ(memcmp(x, q, (size_t)n * 4), 0) << what << ": f32 data differs from the source";
        return;
    }
    if (t.type == GgmlType::F16) {
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, q + 2 * i, 2);
            ASSERT_EQ(h, fp32_to_fp16(x[i])) << what << " [" << i << "]";
            const float a = std::fabs(x[i]);
            if (exact_f16 && a >= 0x1p-14f && a <= 65504.0f) ASSERT_EQ(fp16_to_fp32(h), x[i]) << what << " [" << i << "] not exact";
            else if (fp16_to_fp32(h) != x[i]) st->f16_nonexact++;
        }
        return;
    }
    std::vector<float> y((size_t)n);
    const size_t rs = (size_t)row_size(t.type, n0);
    for (int64_t r = 0; r < rows; r++) dequantize_row(t.type, q + r * rs, y.data() + r * n0, n0);
    if (t.type == GgmlType::Q8_0) {  // strict per-block bound: half a step of d = amax/127 (+ f16 rounding of d)
        for (int64_t b = 0; b < n / 32; b++) {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = std::max(amax, std::fabs(x[b * 32 + i]));
            for (int i = 0; i < 32; i++)
                ASSERT_LE(std::fabs(y[b * 32 + i] - x[b * 32 + i]), 0.5f * amax / 127 * 1.002f + amax * 1e-3f)
                    << what << " block " << b;
        }
    }
    const double err = rel_rmse(y.data(), x, n);
    EXPECT_LT(err, error_bound(t.type)) << what;
    st->max_err[t.type] = std::max(st->max_err[t.type], err);
    if (byte_compare) {
        std::vector<float> imat;
        if (t.type == GgmlType::IQ2_XXS) {  // ds4: column sums of squared weights
            std::vector<double> acc((size_t)n0, 0.0);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < n0; c++) acc[c] += (double)x[r * n0 + c] * x[r * n0 + c];
            imat.assign(acc.begin(), acc.end());
        }
        std::vector<uint8_t> want(rs * (size_t)rows);
        quantize_rows(t.type, x, want.data(), rows, n0, imat.empty() ? nullptr : imat.data());
        ASSERT_EQ(memcmp(want.data(), q, want.size()), 0) << what << ": bytes differ from quantize_rows(source)";
    }
}

void verify_conversion(const std::string& set, int k, Pol pol, const std::string& path) {
    const std::string dir = oracle_dir(set, k);
    const json::Value cfg = load_config(dir);
    auto f = gguf::File::open(path);
    check_metadata(*f, cfg, cfg.find("num_experts_per_tok")->integer);
    const ModelParams p = params_from_hf_config(cfg, dir + "/config.json");
    const auto plan = build_plan(p, pol_policy(pol));
    ASSERT_EQ(f->tensors().size(), plan.size());
    auto ck = safetensors::Checkpoint::open(dir);
    Stats st;
    for (size_t i = 0; i < plan.size(); i++) {
        const PlannedTensor& t = plan[i];
        const gguf::TensorInfo* ti = f->tensor(t.name);
        ASSERT_NE(ti, nullptr) << t.name;
        EXPECT_EQ(f->tensors()[i].name, t.name);
        ASSERT_EQ(ti->type, t.type) << t.name;
        ASSERT_EQ(ti->n_dims, (int)t.ne.size()) << t.name;
        for (size_t d = 0; d < t.ne.size(); d++) ASSERT_EQ(ti->ne[d], t.ne[d]) << t.name;
        ASSERT_EQ(ti->nbytes, t.nbytes()) << t.name;
        if (t.cls == TensorClass::Tid2eid) {
            std::vector<int64_t> shape;
            const auto ids = ck->load_i64(t.hf_name, &shape);
            ASSERT_EQ(shape[0], t.ne[1]);
            ASSERT_EQ(shape[1], t.ne[0]);
            for (int64_t j = 0; j < t.nelements(); j++) {
                int32_t v;
                memcpy(&v, ti->data + 4 * j, 4);
                ASSERT_EQ(v, ids[j]) << t.name << " [" << j << "]";
            }
            continue;
        }
        const int64_t ne = t.experts ? t.ne[2] : 1, rows = t.experts ? t.ne[1] : t.rows();
        const size_t mbytes = (size_t)row_size(t.type, t.ne[0]) * rows;
        for (int64_t e = 0; e < ne; e++) {
            std::vector<int64_t> shape;
            const std::vector<float> x = ck->load_f32(t.hf_expert_name(e), &shape);
            ASSERT_EQ(shape, t.hf_shape()) << t.name;
            const auto dt = ck->logical(t.hf_expert_name(e)).weight->dtype;
            const bool exact_f16 = dt == safetensors::DType::BF16 || dt == safetensors::DType::F8_E4M3 ||
                                   dt == safetensors::DType::I8 || dt == safetensors::DType::F16;
            // IQ2_XXS is slow to quantize: byte-compare the first expert only (all experts get the error bound).
            check_matrix(t, x.data(), rows, ti->data + e * mbytes, t.type != GgmlType::IQ2_XXS || e == 0, exact_f16, &st,
                         t.name + (t.experts ? " expert " + std::to_string(e) : ""));
            if (::testing::Test::HasFatalFailure()) return;
        }
    }
    std::string summary;
    for (const auto& [ty, e] : st.max_err) summary += strfmt(" %s %.4f", type_name((uint32_t)ty), e);
    printf("  %s top-k %d %s: worst rel RMS error:%s; f16 values not exact (F32 sources): %d\n", set.c_str(), k,
           pol_name(pol), summary.empty() ? " none" : summary.c_str(), st.f16_nonexact);
    // the expected class types, fallbacks included
    auto type_of = [&](const char* n) { return f->tensor(n)->type; };
    const bool q = set == "publicq";
    if (pol == Pol::Default) {
        EXPECT_EQ(type_of("blk.2.ffn_gate_exps.weight"), q ? GgmlType::Q4_K : GgmlType::Q8_0);  // public: 128-wide rows fall back
        EXPECT_EQ(type_of("blk.2.ffn_down_exps.weight"), q ? GgmlType::Q4_K : GgmlType::Q8_0);
        EXPECT_EQ(type_of("blk.2.attn_q_a.weight"), GgmlType::Q8_0);
        EXPECT_EQ(type_of("blk.2.attn_compressor_kv.weight"), GgmlType::F16);
        EXPECT_EQ(type_of("token_embd.weight"), GgmlType::F16);
        EXPECT_EQ(type_of("output.weight"), GgmlType::Q8_0);
    } else if (pol == Pol::Q2) {
        EXPECT_EQ(type_of("blk.1.ffn_up_exps.weight"), q ? GgmlType::IQ2_XXS : GgmlType::Q8_0);
        EXPECT_EQ(type_of("blk.1.ffn_down_exps.weight"), q ? GgmlType::Q2_K : GgmlType::Q8_0);
    }
    EXPECT_EQ(type_of("blk.0.attn_norm.weight"), GgmlType::F32);
    EXPECT_EQ(type_of("blk.0.ffn_gate_tid2eid.weight"), GgmlType::I32);
}

struct Case {
    std::string set;
    int k;
    Pol pol;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.set << " top-k " << c.k << " " << pol_name(c.pol); }

class QuantizeOracle : public ::testing::TestWithParam<Case> {};

TEST_P(QuantizeOracle, ConvertsAndMatchesSource) {
    const Case& c = GetParam();
    if (!have_inputs(oracle_dir(c.set, c.k))) return;
    ASSERT_TRUE(test::path_exists(kTool)) << "build " << kTool << " first";
    const std::string out = convert(c.set, c.k, c.pol);
    if (HasFailure()) return;
    verify_conversion(c.set, c.k, c.pol, out);
}

std::vector<Case> all_cases() {
    std::vector<Case> v;
    for (const char* s : {"public", "publicq"})
        for (int k : {6, 4})
            for (Pol p : {Pol::F32, Pol::F16, Pol::Default, Pol::Q2}) v.push_back({s, k, p});
    return v;
}

INSTANTIATE_TEST_SUITE_P(, QuantizeOracle, ::testing::ValuesIn(all_cases()), [](const auto& info) {
    return info.param.set + "_topk" + std::to_string(info.param.k) + "_" + pol_name(info.param.pol);
});

// ---------------------------------------------------------------------------------------
// Tool behaviour
// ---------------------------------------------------------------------------------------
std::string fresh(const std::string& name) {
    const std::string p = test::tmp_dir() + "/" + name;
    unlink(p.c_str());
    return p;
}

TEST(QuantizeTool, VocabOnly) {
    const std::string dir = oracle_dir("publicq", 6);
    if (!have_inputs(dir)) return;
    const std::string out = fresh("quant_vocab_only.gguf");
    std::string log;
    ASSERT_EQ(run_cmd(std::string(kTool) + " --hf " + dir + " --out " + out + " --vocab-only --quiet", &log), 0) << log;
    auto f = gguf::File::open(out);
    EXPECT_EQ(f->tensors().size(), 0u);
    check_metadata(*f, load_config(dir), 6);
}

TEST(QuantizeTool, ExpertsUsedOverrideCutsTid2eid) {
    const std::string dir = oracle_dir("public", 6);
    if (!have_inputs(dir)) return;
    const std::string out = fresh("quant_k4_override.gguf");
    std::string log;
    ASSERT_EQ(run_cmd(std::string(kTool) + " --hf " + dir + " --out " + out + " --experts-used 4 --quiet" + pol_args(Pol::F32), &log), 0)
        << log;
    auto f = gguf::File::open(out);
    EXPECT_EQ(f->get_u32("deepseek4.expert_used_count"), 4u);
    auto ck = safetensors::Checkpoint::open(dir);
    for (int il = 0; il < 3; il++) {
        const std::string n = "blk." + std::to_string(il) + ".ffn_gate_tid2eid.weight";
        const gguf::TensorInfo* t = f->tensor(n);
        ASSERT_NE(t, nullptr);
        EXPECT_EQ(t->ne[0], 4);
        EXPECT_EQ(t->ne[1], 4096);
        std::vector<int64_t> shape;
        const auto ids = ck->load_i64("layers." + std::to_string(il) + ".ffn.gate.tid2eid", &shape);
        for (int64_t v = 0; v < 4096; v++)
            for (int j = 0; j < 4; j++) {
                int32_t x;
                memcpy(&x, t->data + 4 * (v * 4 + j), 4);
                ASSERT_EQ(x, ids[v * 6 + j]);
            }
    }
    EXPECT_NE(run_cmd(std::string(kTool) + " --hf " + dir + " --out " + fresh("quant_k99.gguf") + " --experts-used 99", &log), 0);
}

TEST(QuantizeTool, DryRunListsEveryTensor) {
    const std::string dir = oracle_dir("public", 6);
    if (!have_inputs(dir)) return;
    const std::string out = fresh("quant_dry.gguf");
    std::string log;
    ASSERT_EQ(run_cmd(std::string(kTool) + " --hf " + dir + " --out " + out + " --dry-run", &log), 0) << log;
    EXPECT_FALSE(test::path_exists(out));
    const ModelParams p = params_from_hf_config(load_config(dir), "config.json");
    for (const auto& t : build_plan(p, Policy::q4())) EXPECT_NE(log.find(t.name + " "), std::string::npos) << t.name;
    EXPECT_NE(log.find("mtp.* tensors"), std::string::npos) << log;
    EXPECT_NE(log.find("q4_k -> q8_0"), std::string::npos);
    EXPECT_NE(log.find("approx file bytes"), std::string::npos);
    EXPECT_NE(log.find("FP4"), std::string::npos);
}

TEST(QuantizeTool, TemplateCopiesMetadata) {
    const std::string dir = oracle_dir("public", 4);
    if (!have_inputs(dir)) return;
    const std::string tmpl = convert("public", 4, Pol::F32);
    const std::string out = fresh("quant_from_template.gguf");
    std::string log;
    ASSERT_EQ(run_cmd(std::string(kTool) + " --hf " + dir + " --template " + tmpl + " --out " + out + " --quiet", &log), 0) << log;
    auto a = gguf::File::open(tmpl);
    auto b = gguf::File::open(out);
    ASSERT_EQ(a->kvs().size(), b->kvs().size());
    for (size_t i = 0; i < a->kvs().size(); i++) {
        const gguf::KV &x = a->kvs()[i], *y = b->find(x.key);
        ASSERT_NE(y, nullptr) << x.key;
        EXPECT_EQ(x.type, y->type) << x.key;
        EXPECT_EQ(x.u, y->u) << x.key;
        EXPECT_EQ(x.str, y->str) << x.key;
        EXPECT_EQ(x.arr_n, y->arr_n) << x.key;
        if (x.arr_bytes == y->arr_bytes && x.arr_bytes) {
            EXPECT_EQ(memcmp(x.arr_data, y->arr_data, x.arr_bytes), 0) << x.key;
        }
    }
    EXPECT_EQ(a->tensors().size(), b->tensors().size());
    EXPECT_EQ(b->tensor("blk.0.ffn_gate_exps.weight")->type, GgmlType::Q8_0);
}

TEST(QuantizeTool, ImatrixFeedsKQuants) {
    const std::string dir = oracle_dir("publicq", 6);
    if (!have_inputs(dir)) return;
    // entries: a whole-stack vector (ncols * n_expert, ncall 2) and an HF-named per-expert one
    const std::string im = test::tmp_dir() + "/quant_test.imatrix";
    std::vector<float> stack(256 * 8), one(256);
    for (size_t i = 0; i < stack.size(); i++) stack[i] = 0.5f + (float)((i * 7919) % 97);
    for (size_t i = 0; i < one.size(); i++) one[i] = 1.0f + (float)(i % 13);
    {
        std::ofstream o(im, std::ios::binary);
        auto i32 = [&](int32_t v) { o.write((const char*)&v, 4); };
        auto entry = [&](const std::string& n, int32_t ncall, const std::vector<float>& v) {
            i32((int32_t)n.size());
            o.write(n.data(), (std::streamsize)n.size());
            i32(ncall);
            i32((int32_t)v.size());
            o.write((const char*)v.data(), (std::streamsize)(v.size() * 4));
        };
        i32(2);
        entry("blk.2.ffn_gate_exps.weight", 2, stack);
        entry("layers.3.ffn.experts.1.w2.weight", 1, one);
        i32(10);
        i32(4);
        o.write("test", 4);
    }
    const std::string out = fresh("quant_imatrix.gguf");
    std::string log;
    ASSERT_EQ(run_cmd(std::string(kTool) + " --hf " + dir + " --out " + out + " --imatrix " + im + " --quiet", &log), 0) << log;
    auto f = gguf::File::open(out);
    EXPECT_EQ(f->get_u64("quantize.imatrix.entries_count"), 2u);
    EXPECT_EQ(f->get_string("quantize.imatrix.file"), "quant_test.imatrix");
    EXPECT_EQ(f->get_string("quantize.imatrix.dataset"), "test");
    EXPECT_EQ(f->get_u64("quantize.imatrix.chunks_count"), 10u);
    auto ck = safetensors::Checkpoint::open(dir);
    const size_t eb = (size_t)row_size(GgmlType::Q4_K, 256) * 256;
    auto check = [&](const char* gname, const std::string& hf, int e, const float* imat) {
        const auto x = ck->load_f32(hf);
        std::vector<uint8_t> want(eb);
        quantize_rows(GgmlType::Q4_K, x.data(), want.data(), 256, 256, imat);
        EXPECT_EQ(memcmp(want.data(), f->tensor(gname)->data + e * eb, eb), 0) << gname << " expert " << e;
    };
    std::vector<float> slice(256);
    for (int e : {0, 5}) {
        for (int i = 0; i < 256; i++) slice[i] = stack[e * 256 + i] / 2;
        check("blk.2.ffn_gate_exps.weight", "layers.2.ffn.experts." + std::to_string(e) + ".w1.weight", e, slice.data());
    }
    check("blk.3.ffn_down_exps.weight", "layers.3.ffn.experts.1.w2.weight", 1, one.data());
    check("blk.3.ffn_down_exps.weight", "layers.3.ffn.experts.0.w2.weight", 0, nullptr);
}

// A copy of the public checkpoint directory with an edited config.json.
std::string edited_checkpoint(const std::string& name, const std::string& from, const std::string& to) {
    const std::string src = oracle_dir("public", 6);
    const std::string d = test::tmp_dir() + "/" + name;
    mkdir(d.c_str(), 0755);
    for (const char* f : {"model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
        const std::string link = d + "/" + f;
        unlink(link.c_str());
        char abs[4096];
        EXPECT_NE(realpath((src + "/" + f).c_str(), abs), nullptr);
        EXPECT_EQ(symlink(abs, link.c_str()), 0);
    }
    std::string cfg = read_text_file(src + "/config.json");
    const size_t at = cfg.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    cfg.replace(at, from.size(), to);
    std::ofstream(d + "/config.json") << cfg;
    return d;
}

TEST(QuantizeTool, ClearErrors) {
    if (!have_inputs(oracle_dir("public", 6))) return;
    auto expect_fail = [](const std::string& args, const std::string& needle) {
        const std::string out = fresh("quant_err.gguf");
        std::string log;
        const int rc = run_cmd(std::string(kTool) + " " + args + " --out " + out, &log);
        EXPECT_NE(rc, 0) << args;
        EXPECT_EQ(log.rfind("deepseek4-quantize: ", 0), 0u) << log;
        EXPECT_NE(log.find(needle), std::string::npos) << "want '" << needle << "' in: " << log;
        EXPECT_FALSE(test::path_exists(out));
        EXPECT_FALSE(test::path_exists(out + ".tmp"));
    };
    const std::string ok = oracle_dir("public", 6);
    expect_fail("--hf " + edited_checkpoint("quant_err_key", "\"o_groups\": 2,", ""), "missing key 'o_groups'");
    expect_fail("--hf " + edited_checkpoint("quant_err_ratio", "\"o_groups\": 2,", "\"o_groups\": 3,"), "o_groups");
    expect_fail("--hf " + edited_checkpoint("quant_err_missing", "\"num_hidden_layers\": 6,", "\"num_hidden_layers\": 7,"),
                "missing tensor 'layers.6.");
    expect_fail("--hf " + edited_checkpoint("quant_err_shape", "\"moe_intermediate_size\": 128,", "\"moe_intermediate_size\": 256,"),
                "has shape [128, 128], want [256, 128]");
    expect_fail("--hf " + ok + " --experts q5_k", "unsupported tensor type 'q5_k'");
    expect_fail("--hf " + ok + " --bogus", "unknown argument '--bogus'");
    expect_fail("--hf " + test::tmp_dir() + "/nonexistent-dir", "config.json");
    // refuses to overwrite
    const std::string out = fresh("quant_exists.gguf");
    std::ofstream(out) << "x";
    std::string log;
    EXPECT_NE(run_cmd(std::string(kTool) + " --hf " + ok + " --out " + out, &log), 0);
    EXPECT_NE(log.find("--overwrite"), std::string::npos) << log;
    EXPECT_EQ(read_text_file(out), "x");
}

// ---------------------------------------------------------------------------------------
// make-synthetic
// ---------------------------------------------------------------------------------------
TEST(QuantizeSynthetic, TinyPresetFollowsThePlan) {
    ASSERT_TRUE(test::path_exists(kSynth)) << "build " << kSynth << " first";
    const std::string a = fresh("synth_tiny_a.gguf"), b = fresh("synth_tiny_b.gguf"), c = fresh("synth_tiny_c.gguf");
    std::string log;
    ASSERT_EQ(run_cmd(std::string(kSynth) + " --preset tiny --out " + a + " --quiet", &log), 0) << log;
    ASSERT_EQ(run_cmd(std::string(kSynth) + " --preset tiny --out " + b + " --quiet --threads 1", &log), 0) << log;
    ASSERT_EQ(run_cmd(std::string(kSynth) + " --preset tiny --seed 7 --out " + c + " --quiet", &log), 0) << log;
    EXPECT_EQ(read_text_file(a), read_text_file(b));  // deterministic, thread-count independent
    EXPECT_NE(read_text_file(a), read_text_file(c));
    auto f = gguf::File::open(a);
    const SyntheticPreset ps = synthetic_preset("tiny");
    const auto plan = build_plan(ps.params, ps.policy);
    ASSERT_EQ(f->tensors().size(), plan.size());
    for (const auto& t : plan) {
        const gguf::TensorInfo* ti = f->tensor(t.name);
        ASSERT_NE(ti, nullptr) << t.name;
        EXPECT_EQ(ti->type, t.type) << t.name;
        EXPECT_EQ(ti->n_dims, (int)t.ne.size()) << t.name;
    }
    EXPECT_EQ(f->get_u32("deepseek4.block_count"), 6u);
    EXPECT_EQ(f->get_int_array("deepseek4.attention.compress_ratios"), (std::vector<int64_t>{0, 4, 128, 0, 4, 128, 0}));
    EXPECT_EQ(f->get_u32("deepseek4.expert_gating_func"), 4u);
    EXPECT_LT(f->file_size(), 16u << 20);
    // tid2eid rows hold K distinct experts
    const gguf::TensorInfo* tid = f->tensor("blk.0.ffn_gate_tid2eid.weight");
    ASSERT_NE(tid, nullptr);
    for (int64_t v = 0; v < tid->ne[1]; v++) {
        const int32_t* row = (const int32_t*)(tid->data) + v * tid->ne[0];
        for (int i = 0; i < tid->ne[0]; i++) {
            ASSERT_GE(row[i], 0);
            ASSERT_LT(row[i], 16);
            for (int j = 0; j < i; j++) ASSERT_NE(row[i], row[j]);
        }
    }
    // weights are O(1)-scaled: embedding ~N(0,1), matrices ~N(0, 1/fan_in)
    std::vector<float> emb(128);
    dequantize_row(GgmlType::F16, f->tensor("token_embd.weight")->data, emb.data(), 128);
    double s = 0;
    for (float x : emb) s += x * x;
    EXPECT_GT(s / 128, 0.5);
    EXPECT_LT(s / 128, 2.0);
    Tokenizer tok = Tokenizer::from_gguf(*f);
    EXPECT_EQ(tok.decode(tok.encode("hi <think>")), "hi <think>");
}

TEST(QuantizeSynthetic, OverridesTokenizerAndBenchPlan) {
    const std::string dir = oracle_dir("publicq", 6);
    const std::string out = fresh("synth_custom.gguf");
    std::string log;
    std::string cmd = std::string(kSynth) + " --preset tiny --out " + out +
                      " --quiet --layers 3 --embd 256 --ff 256 --experts-count 8 --experts-used 4 --ratios 0,4,128 "
                      "--hash-layers 1 --experts iq2_xxs --routed-w2 q2_k";
    if (test::path_exists(dir + "/tokenizer.json")) cmd += " --vocab 1280 --tokenizer " + dir + "/tokenizer.json";
    ASSERT_EQ(run_cmd(cmd, &log), 0) << log;
    auto f = gguf::File::open(out);
    EXPECT_EQ(f->tensor("blk.1.ffn_gate_exps.weight")->type, GgmlType::IQ2_XXS);
    EXPECT_EQ(f->tensor("blk.1.ffn_down_exps.weight")->type, GgmlType::Q2_K);
    EXPECT_EQ(f->tensor("blk.1.ffn_down_exps.weight")->ne[2], 8);
    EXPECT_EQ(f->tensor("blk.0.ffn_gate_tid2eid.weight")->ne[0], 4);
    EXPECT_EQ(f->tensor("blk.1.ffn_gate_tid2eid.weight"), nullptr);
    EXPECT_NE(f->tensor("blk.1.exp_probs_b.bias"), nullptr);
    // k-quant experts come from the block pool: valid blocks of ~N(0, 1/256) values
    for (const char* n : {"blk.1.ffn_gate_exps.weight", "blk.2.ffn_down_exps.weight"}) {
        const gguf::TensorInfo* t = f->tensor(n);
        std::vector<float> y((size_t)t->nelements());
        const size_t rs = (size_t)row_size(t->type, 256);
        for (int64_t r = 0; r < t->nelements() / 256; r++) dequantize_row(t->type, t->data + r * rs, y.data() + r * 256, 256);
        double s2 = 0;
        for (float v : y) s2 += (double)v * v;
        EXPECT_GT(s2 / y.size() * 256, 0.5) << n;
        EXPECT_LT(s2 / y.size() * 256, 1.5) << n;
    }
    // the bench presets plan ~4 GB with the Flash widths (dry run only: too big for a unit test)
    log.clear();
    ASSERT_EQ(run_cmd(std::string(kSynth) + " --preset bench-q2 --dry-run", &log), 0) << log;
    const size_t at = log.find("blk.3.ffn_gate_exps.weight");
    ASSERT_NE(at, std::string::npos) << log;
    EXPECT_NE(log.substr(at, log.find('\n', at) - at).find(" iq2_xxs "), std::string::npos);
    EXPECT_NE(log.find("[4096, 2048, 32]"), std::string::npos);
    const SyntheticPreset q4 = synthetic_preset("bench-q4");
    uint64_t total = 0;
    for (const auto& t : build_plan(q4.params, q4.policy)) total += t.nbytes();
    EXPECT_GT(total, 3.5e9);
    EXPECT_LT(total, 4.5e9);
}

}  // namespace
