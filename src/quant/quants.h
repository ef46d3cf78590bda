// Scalar reference quantization, dequantization and dot products for the tensor formats
// ds4 uses, byte-identical to ggml (ggml-quants.c at the commit named in
// shared/vectors/quants/README.md):
//
//   F32, F16, BF16, I32, Q8_0, Q4_K, Q2_K, IQ2_XXS, and Q8_K (activation type only).
//
// Layouts come from quant/ggml_types.h (the single source of truth). Everything here is
// plain scalar C++ compiled with -ffp-contract=off; the quantizers reproduce ggml's float
// searches operation by operation, so their bytes match ggml exactly.
//
// Error handling: unsupported types, n not a multiple of the block size, or a missing
// importance matrix where ggml requires one throw std::invalid_argument.
//
// Threading: all functions are reentrant. IQ2_XXS quantization builds ggml's neighbour
// tables on first use (thread-safe, ~0.2 s); call iq2xxs_init() up front to pay that early.
#pragma once
#include <cstddef>
#include <cstdint>

#include "quant/float16.h"  // fp32_to_fp16, fp16_to_fp32, fp32_to_bf16, bf16_to_fp32
#include "quant/ggml_types.h"

namespace ds4 {

// ---------------------------------------------------------------------------------------
// Type queries
// ---------------------------------------------------------------------------------------

// True if this module can quantize / dequantize the type
// (F32, F16, BF16, I32, Q8_0, Q4_K, Q2_K, IQ2_XXS, Q8_K).
bool quant_supported(GgmlType t);

// True if ggml refuses to quantize the type without an importance matrix (IQ2_XXS here;
// ggml also lists IQ2_XS and IQ1_S, which this module does not implement).
bool quant_requires_imatrix(GgmlType t);

// The activation type a weight row of type t is dotted with (ggml's vec_dot_type):
// Q4_K/Q2_K/IQ2_XXS -> Q8_K, Q8_0 -> Q8_0, F16 -> F16, BF16 -> BF16, F32 -> F32.
// Returns GgmlType::COUNT for types without a dot kernel (I32, Q8_K).
GgmlType vec_dot_type(GgmlType t);

// ---------------------------------------------------------------------------------------
// Quantization (float32 -> type)
// ---------------------------------------------------------------------------------------

// Quantizes n floats (n a multiple of the block size) into row_size(t, n) bytes at dst.
// imatrix (importance weights, length n) may be null except for IQ2_XXS; it is ignored by
// F32/F16/BF16/I32/Q8_0/Q8_K. For Q4_K/Q2_K a null imatrix selects ggml's reference
// quantizer (quantize_row_q*_K_ref) and a non-null one the weighted search
// (quantize_row_q*_K_impl) -- different algorithms, different bytes, both as ggml.
// Q8_0 uses ggml's reference rounding (roundf, half away from zero).
// Q8_K is ggml's quantize_row_q8_K_ref (an all-zero block gets d = 0, qs = 0, bsums = 0).
// I32 (not a ggml quantization type) stores nearest-even integers, saturated to int32.
void quantize_row(GgmlType t, const float* x, void* dst, int64_t n, const float* imatrix);

// Like ggml_quantize_chunk: nrows rows of n_per_row floats, each row quantized on its own
// with the same imatrix (length n_per_row, nullable as above). Returns bytes written
// (nrows * row_size(t, n_per_row)).
size_t quantize_rows(GgmlType t, const float* x, void* dst, int64_t nrows, int64_t n_per_row,
                     const float* imatrix);

// ---------------------------------------------------------------------------------------
// Dequantization (type -> float32), bit-identical to ggml's to_float
// ---------------------------------------------------------------------------------------

void dequantize_row(GgmlType t, const void* src, float* y, int64_t n);

// ---------------------------------------------------------------------------------------
// Dot products: weight row (type t) . activation row (type vec_dot_type(t)), n elements
// ---------------------------------------------------------------------------------------

// Signature of a dot kernel: returns sum_i w[i]*a[i] over n elements.
using VecDotFn = float (*)(const void* w_row, const void* act_row, int64_t n);

// Scalar reference dot (integer sums per block as ggml's *_generic kernels; f16/bf16/f32
// accumulate exact products in double). Agrees with ggml's SIMD kernels to within
// 1e-5 * sum|w_i a_i|.
float vec_dot_ref(GgmlType t, const void* w_row, const void* act_row, int64_t n);

// Dispatching dot: uses the kernel registered for t (a SIMD version, once there is one),
// else the scalar reference. Hot path: n is not validated here (vec_dot_ref validates it);
// it must be a multiple of the block size of t.
float vec_dot(GgmlType t, const void* w_row, const void* act_row, int64_t n);

// Returns the scalar reference kernel for t (null if t has no dot).
VecDotFn vec_dot_ref_fn(GgmlType t);
// Returns the kernel vec_dot() currently uses for t (null if t has no dot).
VecDotFn vec_dot_fn(GgmlType t);
// Plugs in a kernel for t (e.g. AVX2 at startup); null restores the reference.
// Thread-safe (atomic), but meant to be called once before inference starts.
void register_vec_dot(GgmlType t, VecDotFn fn);

// ---------------------------------------------------------------------------------------
// Per-type entry points (the same functions the generic API dispatches to), for callers
// that want to skip the switch. Sizes follow ggml_types.h; n is a multiple of the block.
// ---------------------------------------------------------------------------------------

void quantize_row_q8_0_ref(const float* x, block_q8_0* y, int64_t n);
void quantize_row_q8_K_ref(const float* x, block_q8_K* y, int64_t n);
void quantize_row_q4_K_ref(const float* x, block_q4_K* y, int64_t n);
void quantize_row_q4_K_imatrix(const float* x, block_q4_K* y, int64_t n, const float* qw);
void quantize_row_q2_K_ref(const float* x, block_q2_K* y, int64_t n);
void quantize_row_q2_K_imatrix(const float* x, block_q2_K* y, int64_t n, const float* qw);
void quantize_row_iq2_xxs(const float* x, block_iq2_xxs* y, int64_t n, const float* qw);

void dequantize_row_q8_0(const block_q8_0* x, float* y, int64_t n);
void dequantize_row_q8_K(const block_q8_K* x, float* y, int64_t n);
void dequantize_row_q4_K(const block_q4_K* x, float* y, int64_t n);
void dequantize_row_q2_K(const block_q2_K* x, float* y, int64_t n);
void dequantize_row_iq2_xxs(const block_iq2_xxs* x, float* y, int64_t n);

float vec_dot_q8_0_q8_0_ref(const void* w, const void* a, int64_t n);
float vec_dot_q4_K_q8_K_ref(const void* w, const void* a, int64_t n);
float vec_dot_q2_K_q8_K_ref(const void* w, const void* a, int64_t n);
float vec_dot_iq2_xxs_q8_K_ref(const void* w, const void* a, int64_t n);
float vec_dot_f16_ref(const void* w, const void* a, int64_t n);
float vec_dot_bf16_ref(const void* w, const void* a, int64_t n);
float vec_dot_f32_ref(const void* w, const void* a, int64_t n);

// Builds the IQ2_XXS quantization tables (grid map and neighbour lists, as ggml's
// iq2xs_init_impl). Idempotent and thread-safe; quantize_row_iq2_xxs calls it itself.
void iq2xxs_init();

// The IQ2_XXS data tables (iq2xxs_grid, ksigns_iq2xs, kmask_iq2xs, kgrid_2bit_256) are
// constexpr arrays in quant/iq2_tables.h.

// Row conversions (element-wise, exactly the scalar helpers in float16.h).
void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n);
void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n);
void fp32_to_bf16_row(const float* x, uint16_t* y, int64_t n);
void bf16_to_fp32_row(const uint16_t* x, float* y, int64_t n);

}  // namespace ds4
