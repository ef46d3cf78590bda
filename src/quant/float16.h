// IEEE binary16 (f16) and bfloat16 (bf16) <-> float32 conversions, bit-exact with ggml's
// scalar converters (the ones ggml_quantize_chunk and the base library use).
//
//  fp32_to_fp16: round to nearest even, keeps f16 subnormals, |x| >= 65520 -> +-Inf,
//                every NaN -> sign | 0x7E00 (payload dropped).
//  fp16_to_fp32: exact widening; a NaN keeps sign and payload and gets the quiet bit set
//                (as ggml's scalar converter and F16C both do).
//  fp32_to_bf16: (u + 0x7FFF + ((u >> 16) & 1)) >> 16 (nearest even, overflow to Inf by
//                rounding, no subnormal flush); NaN -> (u >> 16) | 0x40 (quieted, payload top kept).
//  bf16_to_fp32: u << 16 (exact, NaNs unchanged).
//
// Header-only and inline: the engine calls these in inner loops.
#pragma once
#include <cstdint>
#include <cstring>

namespace ds4 {

inline uint32_t f32_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}
inline float f32_from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

inline float fp16_to_fp32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0x1F) {
        bits = 0x7F800000u | (mant << 13);
        if (mant) bits |= 0x00400000u;  // NaN: quiet it
    } else if (exp != 0) {
        bits = ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = 0;
    } else {
        // subnormal half: value = mant * 2^-24; normalise.
        int e = 113;  // biased float exponent of 2^-14
        while (!(mant & 0x400u)) {
            mant <<= 1;
            --e;
        }
        bits = ((uint32_t)e << 23) | ((mant & 0x3FFu) << 13);
    }
    return f32_from_bits(sign | bits);
}

inline uint16_t fp32_to_fp16(float f) {
    const uint32_t u = f32_bits(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return sign | 0x7E00u;  // NaN
    if (a >= 0x477FF000u) return sign | 0x7C00u;  // >= 65520 (incl. Inf) rounds to Inf
    if (a >= 0x38800000u) {                       // normal half range (>= 2^-14)
        // rebias the exponent (127 -> 15) and round the 13 dropped bits to nearest even;
        // a carry out of the mantissa correctly bumps the exponent.
        const uint32_t r = a - 0x38000000u;
        const uint32_t half = r >> 13;
        const uint32_t rem = r & 0x1FFFu;
        const uint32_t up = (rem > 0x1000u) || (rem == 0x1000u && (half & 1u));
        return sign | (uint16_t)(half + up);
    }
    if (a < 0x33000000u) return sign;  // < 2^-25: rounds to zero (2^-25 itself ties to 0)
    // subnormal half: result = round(value / 2^-24) with full 24-bit significand
    const uint32_t e = a >> 23;              // 102..112
    const uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126u - e;         // value/2^-24 = m * 2^(e-150+24) = m >> (126-e)
    const uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1u);
    const uint32_t up = (rem > halfway) || (rem == halfway && (q & 1u));
    return sign | (uint16_t)(q + up);
}

inline float bf16_to_fp32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

inline uint16_t fp32_to_bf16(float f) {
    const uint32_t u = f32_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + (0x7FFFu + ((u >> 16) & 1u))) >> 16);
}

}  // namespace ds4
