// Hand-written SIMD CPU kernels: dots, GEMV/GEMM tiles and activation quantizers for every
// weight type ds4 computes with (Q8_0, Q4_K, Q2_K, IQ2_XXS, F16, BF16, F32).
//
// ISA levels, chosen at RUN TIME by CPUID (one binary, even when built with PORTABLE=1, i.e.
// -march=x86-64-v3, carries every level; each SIMD function has its own target attribute):
//   Scalar  the reference code of quant/quants.h (any machine)
//   AVX2    AVX2 + FMA + F16C (+BMI2)                        -> kernels_avx2.cpp
//   AVX512  AVX-512 F/BW/DQ/VL + VNNI (+BMI2, F16C); its BF16 dot uses AVX512-BF16
//           (vdpbf16ps) and its IQ2_XXS dot AVX512-VBMI when the CPU has them
//           -> kernels_avx512.cpp (float types, activation quantizers, dispatch table),
//              kernels_avx512_q8_0.cpp, kernels_avx512_q4_k.cpp, kernels_avx512_iq2.cpp (IQ2_XXS, Q2_K)
// DS4_CPU_ISA=scalar|avx2|avx512 (environment, read once) caps the level, for A/B checks.
//
// Semantics: every kernel computes what the scalar reference computes.
//  - dots / gemv / gemm: sum_i w[i]*a[i] with a = the activation row in vec_dot_type(t)
//    (Q8_0 for Q8_0, Q8_K for the K/IQ quants, F16/BF16/F32 for the float types). Integer
//    block sums are exact. The AVX-512 Q8_0, Q4_K, Q2_K and IQ2_XXS kernels (the {level, type} pairs
//    listed in kernels_test.cpp's kExactKernels) are bit-identical to vec_dot_*_ref: same integer
//    block sums, same f32 operations in the same order. The others differ from the
//    reference only in the f32 summation order (relative error ~1e-6 of sum|w_i a_i|). The
//    AVX512-BF16 dot treats bf16 subnormals as zero (vdpbf16ps is DAZ/FTZ); bf16
//    weights/activations are never subnormal in practice.
//  - activation quantizers: byte-identical to quantize_row (Q8_K: for every input, NaN/Inf
//    included; Q8_0: for finite inputs) and to the float16.h converters (every input).
//
// Threading: everything is reentrant; split rows across threads in the caller.
// Setup: call kernels_cpu_init() once at load (idempotent, thread-safe): it registers the best
// dot per type with quant's register_vec_dot, so plain vec_dot() gets the SIMD kernels too.
// gemv/gemm/quantize_act_row dispatch on their own (they work before init as well).
//
// Benchmark: kernels/cpu/bench/kernel_bench_main.cpp (build line at its top).
#pragma once
#include <cstddef>
#include <cstdint>

#include "quant/quants.h"

namespace ds4 {

enum class CpuIsa : int { Scalar = 0, AVX2 = 1, AVX512 = 2 };
constexpr int kCpuIsaCount = 3;

// Registers the best dot kernel per weight type via register_vec_dot. Idempotent, thread-safe.
void kernels_cpu_init();

// The level the dispatched entry points use (best supported, capped by DS4_CPU_ISA).
CpuIsa kernels_cpu_isa();
// True if this CPU (and build) can run kernels of that level.
bool cpu_isa_supported(CpuIsa isa);
const char* cpu_isa_name(CpuIsa isa);
// Optional extensions the AVX512 level uses when present: AVX512-BF16 (vdpbf16ps BF16 dot)
// and AVX512-VBMI (IQ2_XXS grid decode in registers; without it, GPR table loads).
bool cpu_has_avx512_bf16();
bool cpu_has_avx512_vbmi();

// y[tok * ldy + r] = dot(w row r, act row tok) for r < n_rows, tok < n_tok.
//   w:   n_rows rows of type t, row r at (const char*)w + r * w_row_bytes
//   act: n_tok rows of type vec_dot_type(t), row tok at (const char*)act + tok * act_row_bytes
//   n:   elements per row (multiple of t's block size)
// Prefill (n_tok > 1): the AVX-512 Q8_0 / Q4_K kernels are "lane = row" panel GEMMs: 16
// weight rows are rearranged into a transient per-thread panel (4 consecutive values of each
// row per 32-bit lane) so one vpdpbusd with a broadcast activation dword feeds 16 rows, and
// the panel is reused by every token of the call (kernels_avx512_q8_0.cpp / _q4_k.cpp; no
// resident copy of the weights). The other types use NR x NC register tiles (gemm_tiled)
// that decode each weight block once for NC activation rows. Either way each output is
// computed with the same float operations as the one-token path, so prefill in any chunking
// and decode agree bit for bit. Give it a whole prefill chunk: the activations
// (n_tok * act_row_bytes) are re-read per row panel/tile, so keep them L2-sized.
// Decode (n_tok == 1) walks the rows one at a time: each row is one sequential stream, which
// the hardware prefetchers follow at full DRAM speed. Interleaving 2-4 row streams (to share
// activation loads, which hit L1 anyway) measured 2-3x SLOWER from DRAM on the dev machine.
// Split rows across threads in contiguous ranges.
using GemmFn = void (*)(const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                        size_t act_row_bytes, int64_t n_tok, int64_t n, float* y, int64_t ldy);
void gemm(GgmlType t, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
          size_t act_row_bytes, int64_t n_tok, int64_t n, float* y, int64_t ldy);

// Decode: y[r] = dot(w row r, act) for r < n_rows (several rows per step share act loads).
void gemv(GgmlType t, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
          int64_t n, float* y);

// Float weights (F32, F16, BF16) times f32 activations (the weights are widened in registers,
// activations keep full precision): y[tok * ldy + r] = sum_i w_r[i] * act[tok * lda + i].
// Batch-invariant: each output's summation order is fixed, independent of n_rows, n_tok and
// the tiling (AVX-512: 2x4 tiles; AVX2: 1x4; decode: one row stream at a time).
// kernels_float_act.cpp. Throws std::invalid_argument for other types.
bool gemm_f32act_supported(GgmlType t);
void gemm_f32act(GgmlType t, const void* w, size_t w_row_bytes, int64_t n_rows, const float* act, int64_t lda,
                 int64_t n_tok, int64_t n, float* y, int64_t ldy);
// Same product in a prescribed summation order (official-numerics emulation of reference BLAS
// and of the official K-blocked GEMMs): per output, sequential f32 sums (each product rounded,
// then added) over K blocks of `block` elements, the block sums added in order (block <= 0:
// one block); block == -2: one sequential sum taking each pair (i, i+1) odd element first
// (oneDNN's bf16 GEMM). Bit-identical on every level; AVX-512 vectorises across 16 rows.
void gemm_f32act_seq(GgmlType t, const void* w, size_t w_row_bytes, int64_t n_rows, const float* act, int64_t lda,
                     int64_t n_tok, int64_t n, float* y, int64_t ldy, int block);

// Activation conversion: x (n floats) -> dst in type at (Q8_0, Q8_K, F16, BF16 or F32),
// byte-identical to quantize_row(at, x, dst, n, nullptr). n a multiple of at's block size.
// Throws std::invalid_argument for other types or a bad n.
void quantize_act_row(GgmlType at, const float* x, void* dst, int64_t n);

// Row conversions, bit-identical to the float16.h scalar converters (NaNs included).
void fp32_to_fp16_row_fast(const float* x, uint16_t* y, int64_t n);
void fp32_to_bf16_row_fast(const float* x, uint16_t* y, int64_t n);
void fp16_to_fp32_row_fast(const uint16_t* x, float* y, int64_t n);
void bf16_to_fp32_row_fast(const uint16_t* x, float* y, int64_t n);

// ---------------------------------------------------------------------------------------
// Per-level access (tests, benchmarks). Each returns null when the level is not supported by
// this CPU or has no kernel of its own for the type. Scalar returns the reference functions.
// ---------------------------------------------------------------------------------------
using QuantizeRowFn = void (*)(const float* x, void* dst, int64_t n);  // no n validation
using F32ToHalfFn = void (*)(const float* x, uint16_t* y, int64_t n);
using HalfToF32Fn = void (*)(const uint16_t* x, float* y, int64_t n);

VecDotFn kernel_vec_dot(CpuIsa isa, GgmlType t);
GemmFn kernel_gemm(CpuIsa isa, GgmlType t);
QuantizeRowFn kernel_quantize_row(CpuIsa isa, GgmlType act_type);  // Q8_0, Q8_K
F32ToHalfFn kernel_fp32_to_fp16(CpuIsa isa);
F32ToHalfFn kernel_fp32_to_bf16(CpuIsa isa);
HalfToF32Fn kernel_fp16_to_fp32(CpuIsa isa);
HalfToF32Fn kernel_bf16_to_fp32(CpuIsa isa);

}  // namespace ds4
