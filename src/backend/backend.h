// Backend interface: device memory plus every operation the DeepSeek V4 forward pass needs.
//
// The model code (src/model/forward.cpp) only allocates buffers here and calls these ops; it
// never touches activation or cache memory itself, so a CUDA or Metal backend implements this
// class and nothing in src/model changes. Pointers returned by alloc() are device pointers:
// the caller may do pointer arithmetic on them but must not dereference them. Arguments named
// *_host are host memory. Weights are described by `Weight` (stored type and bytes, mmapped);
// a backend may mirror them on the device (CPU: uses the mapping in place).
//
// Shapes are always passed in; the backend knows nothing about the model's configuration.
// "T" is the number of tokens in a batch; activations are row-major [T, width].
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "quant/ggml_types.h"

namespace ds4 {

// A tensor as stored in the GGUF. For matrices ne[0] is the input (contiguous) dimension and
// every further dimension enumerates output rows (3-D expert tensors are expert-major, so
// expert e's rows start at row e * ne[1]).
struct Weight {
    std::string name;
    GgmlType type = GgmlType::F32;
    int64_t ne[4] = {1, 1, 1, 1};
    const uint8_t* data = nullptr;  // host bytes (the mmapped file)
    size_t row_bytes = 0;           // bytes of one ne[0]-row
    int64_t n_in() const { return ne[0]; }
    int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
    const uint8_t* row(int64_t r) const { return data + size_t(r) * row_bytes; }
    explicit operator bool() const { return data != nullptr; }
};

// What an attention call reads, for T query tokens at positions pos0 .. pos0+T-1.
struct AttnArgs {
    int n_head = 0, head_dim = 0, window = 0;
    float scale = 0;             // softmax scale (1/sqrt(head_dim))
    int64_t pos0 = 0;
    const float* raw_ring = nullptr;   // [window, head_dim]: row of position p at p % window (p < pos0)
    const float* raw_chunk = nullptr;  // [T, head_dim]: rows of this batch (positions >= pos0)
    // Compressed rows (null on ratio-0 layers). Token t may read rows c < (pos+1)/ratio; when
    // sel is non-null it reads only sel[t*sel_stride .. + sel_n[t]] (indexer choice).
    const float* comp = nullptr;
    int ratio = 0;
    const int32_t* sel = nullptr;
    const int32_t* sel_n = nullptr;
    int sel_stride = 0;
    const float* sinks = nullptr;      // [n_head]
    bool bf16 = false;                 // official exact kernel numerics (see model/attention.h)
    bool exact = false;                // torch-CPU-exact sums and exp (model/torch_cpu.h)
    int win_slots = 0;                 // length of the window part of the official index list
    int comp_slots = -1;               // length of its compressed part (-1: the token's row count)
};

// Compressor state update for one token (see src/model/compressor.cpp for the semantics).
struct CompressorArgs {
    int ratio = 0, dim = 0;            // dim: width of one emitted row
    bool overlap = false;              // ratio == 4: two lanes, state of 2*ratio rows
    const float* ape = nullptr;        // [ratio, lanes*dim], f32
    float* state_kv = nullptr;         // [lanes*ratio, lanes*dim]
    float* state_sc = nullptr;         // same shape, scores (init -inf)
    bool exact = false;                // torch-CPU-exact softmax and sum (model/torch_cpu.h)
};

// The numerics knobs of one matrix multiply (official FP8 activation quantisation emulation).
enum class ActQuant { None, Fp8Block128 };

// The arguments of one Backend::matmul, for Backend::matmuls.
struct MatmulCall {
    const Weight* w = nullptr;
    int64_t row0 = 0, n_rows = 0;
    const float* x = nullptr;
    int64_t ldx = 0;
    float* y = nullptr;
    int64_t ldy = 0;
    ActQuant aq = ActQuant::None;
    int exact_block = 0;
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;
    virtual int n_threads() const = 0;

    // ---- memory
    virtual void* alloc(size_t bytes) = 0;              // zero-filled, lives as long as the backend
    virtual void free(void* p) = 0;
    virtual void upload(void* dst, const void* src_host, size_t bytes) = 0;
    virtual void download(void* dst_host, const void* src, size_t bytes) = 0;
    virtual void copy(void* dst, const void* src, size_t bytes) = 0;
    virtual void fill_f32(float* dst, float value, size_t n) = 0;
    virtual size_t resident_bytes() const = 0;          // bytes allocated through alloc()

    // ---- dense math
    // y[t*ldy + r] = sum_i W[row0 + r][i] * x[t*ldx + i], r < n_rows, for t < T. The weight
    // is read in its stored type (activations converted once to its dot type).
    // exact_block (float weights only; official numerics): 0 = the backend's own summation
    // order; -1 = one sequential f32 sum per output (reference BLAS: the official fp32 linears);
    // -2 = the official bf16 linears/einsums (oneDNN bf16 GEMM, tcpu::dot_bf16); k > 0 =
    // sequential sums over K blocks of k, added block after block (the official fp8_gemm /
    // fp4_gemm kernels: k = 128 / 32).
    virtual void matmul(const Weight& w, int64_t row0, int64_t n_rows, const float* x, int64_t ldx,
                        int T, float* y, int64_t ldy, ActQuant aq = ActQuant::None, int exact_block = 0) = 0;
    // Several independent products over the same T tokens, as one job where the backend can
    // (decode: one join instead of one per matrix, and the threads balance over all the rows).
    // Same results as matmul() on each call in order; no call's y may overlap another's x.
    virtual void matmuls(const MatmulCall* calls, int n_calls, int T) {
        for (int i = 0; i < n_calls; ++i) {
            const MatmulCall& c = calls[i];
            matmul(*c.w, c.row0, c.n_rows, c.x, c.ldx, T, c.y, c.ldy, c.aq, c.exact_block);
        }
    }
    // G matmuls sharing one weight, as one job: group g multiplies weight rows
    // [g*rows, (g+1)*rows) by columns [g*n, (g+1)*n) of x (n = w.n_in(); x rows hold G*n
    // floats) into columns [g*rows, (g+1)*rows) of y. Same results as the G matmul calls.
    virtual void matmul_groups(const Weight& w, int G, int64_t rows, const float* x, int T, float* y,
                               int64_t ldy, int exact_block = 0) {
        const int64_t n = w.n_in();
        for (int g = 0; g < G; ++g)
            matmul(w, g * rows, rows, x + size_t(g) * n, G * n, T, y + size_t(g) * rows, ldy, ActQuant::None,
                   exact_block);
    }
    // Rows of `table` (any stored type) selected by ids_host, as f32 [T, ne0].
    virtual void get_rows(const Weight& table, const int32_t* ids_host, int T, float* y) = 0;
    // Row-wise RMS norm over n values: y = x / sqrt(mean(x^2) + eps) (* w when w != null).
    // exact: the official numerics' torch kernels (f32 cascade sum of the squares).
    virtual void rms_norm(const float* x, const float* w, int rows, int n, float eps, float* y,
                          bool exact = false) = 0;
    // Unweighted RMS norm in place, in bf16 arithmetic as the official per-head q norm runs it
    // (bf16 squares, f32 mean rounded once, bf16 rsqrt and product; torch's kernels bit for bit,
    // so the result depends on `rows`, the official tensor's length). x is first rounded to
    // bf16 (the official input is a bf16 tensor), so the caller need not.
    virtual void rms_norm_bf16(float* x, int rows, int n, float eps) = 0;
    // y[i] += x[i]
    virtual void add(float* y, const float* x, size_t n) = 0;
    // x[i] *= s
    virtual void scale(float* x, size_t n, float s) = 0;
    // Round to bf16 and back (official exact-mode activation storage).
    virtual void round_bf16(float* x, size_t n) = 0;

    // ---- hyper-connections (state: [T, n_hc, dim])
    // mix: [T, (2+n_hc)*n_hc] = hc_fn . state (un-normalised); splits, Sinkhorn, collapses.
    virtual void hc_pre(const float* mix, const float* state, const float* scale, const float* base,
                        int T, int n_hc, int dim, int sinkhorn_iters, float hc_eps, float norm_eps,
                        float* x, float* post, float* comb, bool exact = false) = 0;
    // state[t][dst] = post[t][dst] * y[t] + sum_src comb[t][src*n_hc + dst] * state[t][src];
    // bf16: the new state is rounded to bf16 (official numerics).
    virtual void hc_post(float* state, const float* y, const float* post, const float* comb, int T,
                         int n_hc, int dim, bool bf16 = false) = 0;
    // Output head collapse: mix [T, n_hc]; no Sinkhorn. exact_T > 0: official numerics, these T
    // rows are rows exact_row0.. of a batch of exact_T tokens (torch's kernel choice depends on it).
    virtual void hc_head(const float* mix, const float* state, const float* scale, const float* base,
                         int T, int n_hc, int dim, float hc_eps, float norm_eps, float* x,
                         int exact_row0 = 0, int exact_T = 0) = 0;
    virtual void broadcast_streams(const float* x, int T, int n_hc, int dim, float* state) = 0;

    // ---- positions
    // Rotates the last inv_freq_n*2 dims of each of n_heads head vectors of token t at
    // position pos0 + t*pos_step (adjacent pairs). inv_freq is a device f32 table.
    // bf16: the rotated dims are then rounded to bf16 (official numerics; on bf16 input that is
    // round_bf16 of the whole rows, without the pass over the dims left as they are).
    virtual void rope_tail(float* x, int T, int n_heads, int head_dim, int64_t pos0, int64_t pos_step,
                           const float* inv_freq, int n_pairs, bool inverse, bool bf16 = false) = 0;

    // ---- low-precision emulation (official numerics)
    // FP8 E4M3 round trip of the first n dims of each row (blocks of 64, pow2 scales).
    virtual void fp8_rows(float* x, int rows, int64_t ld, int n) = 0;
    // Orthonormal Walsh-Hadamard transform of each n-wide row (n a power of two).
    virtual void hadamard_rows(float* x, int rows, int n) = 0;
    // FP4 E2M1 round trip of each n-wide row in blocks of 32 (pow2 scales).
    virtual void fp4_rows(float* x, int rows, int n) = 0;

    // ---- compression and sparse attention
    // Pushes one token's kv/score rows (lanes*dim each; APE is added here) into the state at
    // position pos; when pos closes a window writes the pooled (un-normalised) row to out and
    // returns true.
    virtual bool compressor_push(const CompressorArgs& a, const float* kv, const float* score,
                                 int64_t pos, float* out) = 0;
    // Indexer top-k for T tokens at pos0..: scores of rows c < (pos+1)/ratio,
    // sum_h relu(q_h . k_c) * w_h; writes the chosen rows (ties: lower index) and their count.
    // bf16_scores: official exact numerics, and the rows always come in descending score order.
    virtual void indexer_select(const float* q, const float* w, const float* keys, int T, int64_t pos0,
                                int ratio, int n_heads, int dim, int top_k, bool bf16_scores,
                                int32_t* sel, int32_t* sel_n) = 0;
    virtual void attention(const AttnArgs& a, const float* q, int T, float* out) = 0;

    // ---- mixture of experts
    // Router: p = sqrt(softplus(logits)); selection by tid2eid[token][0..k) (hash layers, when
    // tid2eid is set) or top-k of p + bias; weights p[sel] / sum * scale.
    virtual void route(const float* logits, const float* bias, const Weight* tid2eid,
                       const int32_t* tokens_host, int T, int n_expert, int k, float scale,
                       int32_t* sel, float* weight, bool exact = false) = 0;
    // Routed experts: out[t] = sum_k W2_e (silu(min(W1_e x, c)) * clamp(W3_e x, -c, c) * w_k),
    // summed in ascending expert order. c <= 0: no clamp. exact: the official FP4 GEMM's K blocks
    // of 32 and torch's silu (model/torch_cpu.h).
    virtual void moe(const Weight& gate, const Weight& up, const Weight& down, const float* x, int T,
                     const int32_t* sel, const float* weight, int k, float clamp, ActQuant aq,
                     bool bf16_hidden, float* out, bool exact = false) = 0;
    // h = silu(min(g, c)) * clamp(u, -c, c) elementwise (c <= 0: no clamp), written into g.
    virtual void swiglu(float* g, const float* u, size_t n, float clamp, bool exact = false) = 0;
};

std::unique_ptr<Backend> make_cpu_backend(int n_threads);

}  // namespace ds4
