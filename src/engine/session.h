// Public engine API: load a DeepSeek V4 GGUF, run token sequences, get logits.
// The CLI, ds4-eval and ds4-bench use only this header. The model code and the backend
// live behind it (src/model, src/backend, kernels/).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ds4 {

namespace gguf { class File; }

// What the in-graph low-precision emulation does.
//   Official: the official DeepSeek inference numerics (default): FP8 E4M3 round trip of KV
//             rows, Hadamard+FP4 of indexer inputs, FP8 act_quant before the FP8/FP4 GEMMs,
//             bf16 activations and the sparse-attention kernel's bf16 probabilities.
//   Fp32:     every in-graph quantisation emulation off (matches the reference's fp32 mode).
enum class Numerics { Official, Fp32 };

struct LoadOptions {
    std::string path;
    int n_threads = 0;            // 0 = number of cores
    int experts = 0;              // top-k override; 0 = expert_used_count from metadata
    Numerics numerics = Numerics::Official;
    bool verbose = true;          // print load summary (memory, KV bytes) to stderr
    // Progress while validating/touching weights: (done_bytes, total_bytes).
    std::function<void(uint64_t, uint64_t)> progress;
};

struct ModelSummary {
    std::string name;
    int n_layer = 0, n_embd = 0, n_vocab = 0, n_head = 0, head_dim = 0;
    int n_expert = 0, n_expert_used = 0;
    int64_t n_ctx_train = 0;
    uint64_t weight_bytes = 0;
};

class Session;

class Engine {
public:
    virtual ~Engine() = default;
    // Throws ds4::Error with a one-line message naming the key/tensor on any problem.
    static std::unique_ptr<Engine> load(const LoadOptions& opts);
    virtual const ModelSummary& summary() const = 0;
    virtual const gguf::File& file() const = 0;  // metadata (tokenizer lives there too)
    // New KV state for up to n_ctx positions; prefill runs in chunks of ubatch tokens.
    virtual std::unique_ptr<Session> new_session(int n_ctx, int ubatch = 512) = 0;
};

class Session {
public:
    virtual ~Session() = default;
    // Appends tokens at positions n_past().. through batched prefill (chunks of ubatch).
    // If logits is non-null it receives n*n_vocab floats (row i = logits after token i);
    // the last row is always available through logits() afterwards.
    // Throws Error when the context would overflow.
    virtual void prefill(const int32_t* tokens, int n, float* logits = nullptr) = 0;
    // Appends one token through the single-token decode path; returns its logits.
    virtual const float* decode(int32_t token) = 0;
    virtual const float* logits() const = 0;   // logits of the last processed token
    virtual int n_past() const = 0;
    virtual int n_ctx() const = 0;
    virtual int n_vocab() const = 0;
    virtual void reset() = 0;                  // empty the KV state
    virtual size_t kv_bytes() const = 0;       // bytes of KV/compressor/indexer state
    // Snapshot/restore of the whole state (ds4-bench; chat rewinds).
    virtual std::vector<uint8_t> save_state() const = 0;
    virtual void load_state(const std::vector<uint8_t>& s) = 0;
};

}  // namespace ds4
