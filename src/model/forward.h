// The DeepSeek V4 forward pass over a batch of consecutive tokens (prefill chunk or a single
// decode token; both take the same path, so chunked prefill and decode agree exactly).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace ds4 {

// Which in-graph emulations of the official low-precision numerics are on.
struct NumericsFlags {
    bool kv_fp8 = false;    // FP8 E4M3 round trip of raw and compressed KV rows (non-rope dims)
    bool idx_fp4 = false;   // FP4 E2M1 round trip of Hadamard-rotated indexer queries and keys
    bool act_fp8 = false;   // FP8 act_quant (block 128) of the inputs of the official FP8/FP4 GEMMs
    bool bf16 = false;      // bf16 activations where the official code keeps them in bf16
    bool ops = false;       // the reference's torch-CPU kernels bit for bit: summation orders,
                            // Sleef exp/log1p, GEMM block sums (model/torch_cpu.h)
    static NumericsFlags fp32() { return {}; }
    static NumericsFlags official() { return {true, true, true, true, true}; }
};

// Optional per-layer trace (tests, debugging): called after each layer with host copies.
struct LayerTrace {
    int layer = 0, T = 0;
    int64_t pos0 = 0;
    const float* state = nullptr;        // [T, state_width] residual streams after the layer
    int state_width = 0;                 // n_hc * n_embd
    const int32_t* experts = nullptr;    // [T, k] routed experts
    const float* expert_w = nullptr;     // [T, k]
    int k = 0;
    const int32_t* idx_sel = nullptr;    // [T, idx_topk] indexer choice (ratio-4 layers), else null
    const int32_t* idx_n = nullptr;      // [T]
    int idx_stride = 0;
};
using LayerHook = std::function<void(const LayerTrace&)>;

// Model-lifetime device data: small f32 tables mirrored into backend memory.
struct ModelDevice {
    std::vector<const float*> attn_norm, q_a_norm, kv_norm, sinks, comp_norm, idx_norm, ffn_norm, gate_bias;
    std::vector<const float*> hc_attn_scale, hc_attn_base, hc_ffn_scale, hc_ffn_base;
    std::vector<float*> comp_ape, idx_ape;
    const float* out_norm = nullptr;
    const float* out_hc_scale = nullptr;
    const float* out_hc_base = nullptr;
    const float* rope_main = nullptr;     // inverse frequencies, ratio-0 layers
    const float* rope_comp = nullptr;     // inverse frequencies (YaRN), compressed layers
};
ModelDevice upload_model_tables(Backend& be, const ModelConfig& c, const ModelWeights& w);

class Forward {
public:
    Forward(Backend& be, const ModelConfig& c, const ModelWeights& w, const ModelDevice& dev,
            NumericsFlags nf, int max_tokens);
    ~Forward();
    Forward(const Forward&) = delete;
    Forward& operator=(const Forward&) = delete;

    // Runs tokens[0..T) at positions pos0.. (T <= max_tokens) through every layer, updating
    // the cache. Logits of the last want_rows tokens go to logits_host ([want_rows, vocab]).
    void run(KvCache& cache, const int32_t* tokens, int T, int64_t pos0, int want_rows, float* logits_host);

    LayerHook hook;

private:
    void attention_layer(int il, KvCache& cache, const int32_t* tokens, int T, int64_t pos0);
    void ffn_layer(int il, const int32_t* tokens, int T);
    void trace(int il, int T, int64_t pos0);
    float* buf(size_t floats);
    void bf16(float* x, size_t n);
    ActQuant aq() const { return nf_.act_fp8 ? ActQuant::Fp8Block128 : ActQuant::None; }
    // Backend::matmul's exact_block under the exact ops: k for the official FP8 GEMMs (128),
    // -1 for the fp32 linears (reference BLAS order).
    int eb(int k) const { return nf_.ops ? k : 0; }

    Backend& be_;
    const ModelConfig& c_;
    const ModelWeights& w_;
    const ModelDevice& dev_;
    NumericsFlags nf_;
    int max_T_;
    std::vector<void*> allocs_;
    // activations, [max_T, width]
    float *state_, *mix_, *x_, *xn_, *post_, *comb_, *qn_, *q_, *kv_, *ckv_, *cgate_, *ikv_, *igate_, *iq_, *iw_;
    float *o_, *low_, *y_, *rlogits_, *rw_, *sh_g_, *sh_u_, *ffn_out_, *head_x_, *logits_, *comp_row_;
    int32_t *sel_, *sel_n_, *rsel_;
    // host copies for traces
    std::vector<float> h_state_, h_rw_;
    std::vector<int32_t> h_rsel_, h_sel_, h_sel_n_;
};

}  // namespace ds4
