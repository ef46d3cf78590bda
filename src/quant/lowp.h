// DeepSeek's official low-precision formats, bit-exact:
//   E4M3FN (FP8)   : s.eeee.mmm, bias 7, subnormals m*2^-9, max 448, no Inf, 0x7F/0xFF = NaN
//   E2M1   (FP4)   : s.ee.m, values {0, 0.5, 1, 1.5, 2, 3, 4, 6}, code = sign<<3 | index
//   E8M0   (scale) : byte e -> 2^(e-127) (e = 0 -> 2^-127; e = 0xFF -> NaN)
// plus the in-graph activation-quantization emulations of the official model
// (kernel.py act_quant / fp4_act_quant with scale_fmt "ue8m0", MODEL-SPEC 6.3 / 6.4) and a
// Sylvester-order Walsh-Hadamard transform.
//
// Rounding: every encoder rounds to nearest with ties to the even code (RNE) after
// clamping to the format's max magnitude (saturation). NaN inputs encode to NaN
// (E4M3: 0x7F | sign; E2M1 has no NaN: 0).
#pragma once
#include <cstdint>

namespace ds4 {

// ---- E4M3FN -----------------------------------------------------------------------------
float e4m3_to_f32(uint8_t code);               // exact; 0x7F / 0xFF -> NaN
uint8_t f32_to_e4m3(float v);                  // RNE, saturating to +-448; NaN -> 0x7F|sign
// Converter convention (MODEL-SPEC 4.2, deepseek4-quantize e4m3fn_to_f32): NaN codes -> 0.
inline float e4m3_to_f32_nan_as_zero(uint8_t code) {
    return (code & 0x7F) == 0x7F ? 0.0f : e4m3_to_f32(code);
}

// ---- E2M1 (FP4) -------------------------------------------------------------------------
float e2m1_to_f32(uint8_t code);               // low 4 bits used; exact
uint8_t f32_to_e2m1(float v);                  // RNE on the code index, saturating to +-6
// Packed FP4 weights: two codes per byte, low nibble = even element.
inline float e2m1_packed_get(const uint8_t* packed, int64_t i) {
    return e2m1_to_f32((uint8_t)(packed[i >> 1] >> ((i & 1) * 4)));
}

// ---- E8M0 -------------------------------------------------------------------------------
float e8m0_to_f32(uint8_t e);                  // 2^(e-127); 0xFF -> NaN

// ue8m0 block scale as the official fast_round_scale: t = amax * max_inv (float32 multiply),
// scale = 2^(exponent(t) + (mantissa(t) != 0)), i.e. 2^ceil(log2 t) computed on the bits.
// t must be a positive normal float (the callers floor amax so that it is).
float ue8m0_round_scale(float amax, float max_inv);

// Float32 constants the official code uses: fp32(1/448) and fp32(1/6).
constexpr float kE4M3MaxInv = 1.0f / 448.0f;
constexpr float kE2M1MaxInv = 1.0f / 6.0f;
constexpr float kFp8AmaxFloor = 1e-4f;
constexpr float kFp4AmaxFloor = 6.0f * 0x1p-126f;

// ---- Block quantization (codes + scales) --------------------------------------------------
// FP8 act_quant of one block of n values: returns the ue8m0 scale s and writes
// codes[i] = e4m3(clamp(x[i] / s, +-448)).  amax is floored at 1e-4.
float fp8_e4m3_quantize_block(const float* x, int n, uint8_t* codes);
// FP4 fp4_act_quant of one block: amax floored at 6*2^-126, s = ue8m0(amax * fp32(1/6)),
// codes[i] = e2m1(clamp(x[i] / s, +-6)) (one code per byte, not packed).
float fp4_e2m1_quantize_block(const float* x, int n, uint8_t* codes);

// ---- In-place emulations (quantize, then scale back to float) -----------------------------
// x[i] <- e4m3(clamp(x[i]/s, +-448)) * s for each block of `block` values (the last block may
// be shorter when n % block != 0). The official in-place act_quant writes bf16(fp32(e4m3) * s);
// that rounding never changes the value (an e4m3 value times a power of two is representable in
// bf16), so no bf16 step is needed here.
void fp8_e4m3_block_roundtrip(float* x, int n, int block);

// x[i] <- e2m1(clamp(x[i]/s, +-6)) * s per block of `block` (32 in the model); exact in bf16.
void fp4_e2m1_block_roundtrip(float* x, int n, int block = 32);

// ---- Walsh-Hadamard ------------------------------------------------------------------------
// Unnormalised Sylvester-order WHT in float32 (n a power of two): for stride = 1, 2, 4, ...,
// n/2, each pair (a, b) = (x[k], x[k+stride]) inside blocks of 2*stride becomes (a+b, a-b);
// then every value is multiplied by `scale` (1/sqrt(n) for the orthonormal transform).
void hadamard_inplace(float* x, int n, float scale);

}  // namespace ds4
