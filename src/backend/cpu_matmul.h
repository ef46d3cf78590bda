// Dense math of the CPU backend: activation conversion and the cache-blocked GEMM driver over
// the kernels/cpu kernels. Used by CpuBackend::matmul and CpuBackend::moe.
//
// Float weights (F32/F16/BF16) keep f32 activations (gemm_f32act widens the weight in
// registers); quantized weights get their activations converted once per call to ggml's dot
// type (quantize_act_row, byte-identical to quantize_row). Every kernel used here computes a
// given output with a fixed instruction sequence whatever the batch, so prefill in any
// chunking and decode agree bit for bit.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "backend/thread_pool.h"
#include "quant/ggml_types.h"

namespace ds4::cpu {

// T activation rows in the dot type of one weight type: f32 rows (float weights, `data` points
// at the caller's floats) or quantized rows in a backend buffer.
struct Act {
    const uint8_t* data = nullptr;
    size_t row_bytes = 0;  // stride between rows
    bool f32 = false;
    Act rows_from(int64_t r) const { return {data + size_t(r) * row_bytes, row_bytes, f32}; }
};

// x: T rows of n floats at stride ldx. Quantized weight types: rows converted into buf (grown
// as needed, never shrunk), in parallel over tokens when T is large.
Act convert_act(ThreadPool& pool, GgmlType wt, const float* x, int64_t ldx, int T, int64_t n,
                std::vector<uint8_t>& buf);

// Copies rows src[idx[i]] (i < n_idx) contiguously into buf (f32 rows packed to n floats);
// the result has the same dot type as src.
Act gather_act(const Act& src, const int32_t* idx, int n_idx, int64_t n, std::vector<uint8_t>& buf);

// Rows per work item for a matrix of n_rows rows of row_bytes each, T tokens, split over
// `threads`; total_rows (>= n_rows) counts rows of every matrix sharing the parallel job (MoE).
int64_t row_grain(int64_t total_rows, size_t row_bytes, int T, int threads);

// y[t*ldy + r] = dot(w row r, act row t) for r < n_rows, t < T; w: the first row's bytes.
// Tokens are processed in blocks whose activations fit in L2 (the weight rows stay in cache
// across blocks: give it an L2-sized row range).
void gemm_rows(GgmlType wt, const uint8_t* w, size_t w_row_bytes, int64_t n_rows, const Act& a, int64_t T,
               int64_t n, float* y, int64_t ldy);

}  // namespace ds4::cpu
