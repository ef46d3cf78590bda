#include "quant/lowp.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>

#include "quant/float16.h"

namespace ds4 {

namespace {

// Round a non-negative float that is an exact multiple of 0.5 or finer to the nearest
// integer, ties to even (independent of the FP rounding mode).
inline int rne_int(float v) {
    const float f = std::floor(v);
    const float r = v - f;  // exact for the ranges used here
    int i = (int)f;
    if (r > 0.5f || (r == 0.5f && (i & 1))) ++i;
    return i;
}

}  // namespace

// ---- E4M3FN -----------------------------------------------------------------------------

float e4m3_to_f32(uint8_t code) {
    const float sign = (code & 0x80) ? -1.0f : 1.0f;
    const int e = (code >> 3) & 0xF;
    const int m = code & 7;
    if (e == 15 && m == 7) return std::numeric_limits<float>::quiet_NaN();
    if (e == 0) return sign * std::ldexp((float)m, -9);
    return sign * std::ldexp((float)(8 + m), e - 10);  // (1 + m/8) * 2^(e-7)
}

uint8_t f32_to_e4m3(float v) {
    const uint8_t sign = std::signbit(v) ? 0x80 : 0x00;
    if (std::isnan(v)) return sign | 0x7F;
    float a = std::fabs(v);
    if (a >= 448.0f) return sign | 0x7E;  // saturate (Inf included)
    int code;
    if (a < 0x1p-6f) {
        code = rne_int(a * 512.0f);  // subnormal grid m*2^-9; 8 -> 0x08 = 2^-6 (carry works)
    } else {
        int e;
        const float m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
        // a = (1 + f) * 2^(e-1), f = 2m - 1 in [0, 1); mantissa index = f * 8
        const int r = rne_int((2.0f * m - 1.0f) * 8.0f);
        code = (e - 1 + 7) * 8 + r;  // r == 8 carries into the exponent
    }
    if (code > 0x7E) code = 0x7E;
    return sign | (uint8_t)code;
}

// ---- E2M1 -------------------------------------------------------------------------------

float e2m1_to_f32(uint8_t code) {
    static constexpr float kVal[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
    const float v = kVal[code & 7];
    return (code & 8) ? -v : v;
}

uint8_t f32_to_e2m1(float v) {
    if (std::isnan(v)) return 0;
    const uint8_t sign = std::signbit(v) ? 0x8 : 0x0;
    const float a = std::fabs(v);
    int idx;
    if (a >= 6.0f) idx = 7;
    else if (a < 2.0f) idx = rne_int(a * 2.0f);           // step 0.5: codes 0..4
    else if (a < 4.0f) idx = 4 + rne_int(a - 2.0f);        // step 1: codes 4..6
    else idx = 6 + rne_int((a - 4.0f) * 0.5f);             // step 2: codes 6..7
    return sign | (uint8_t)idx;
}

// ---- E8M0 -------------------------------------------------------------------------------

float e8m0_to_f32(uint8_t e) {
    if (e == 0xFF) return std::numeric_limits<float>::quiet_NaN();
    if (e == 0) return 0x1p-127f;  // subnormal float32 0x00400000
    return f32_from_bits((uint32_t)e << 23);
}

float ue8m0_round_scale(float amax, float max_inv) {
    const float t = amax * max_inv;
    const uint32_t bits = f32_bits(t);
    const int exp = (int)((bits >> 23) & 0xFF) - 127 + ((bits & 0x7FFFFF) != 0 ? 1 : 0);
    return f32_from_bits((uint32_t)(exp + 127) << 23);
}

// ---- Blocks -------------------------------------------------------------------------------

float fp8_e4m3_quantize_block(const float* x, int n, uint8_t* codes) {
    float amax = 0.0f;
    for (int i = 0; i < n; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    amax = std::fmax(amax, kFp8AmaxFloor);
    const float s = ue8m0_round_scale(amax, kE4M3MaxInv);
    for (int i = 0; i < n; ++i) {
        float v = x[i] / s;
        v = v < -448.0f ? -448.0f : (v > 448.0f ? 448.0f : v);  // NaN passes through
        codes[i] = f32_to_e4m3(v);
    }
    return s;
}

float fp4_e2m1_quantize_block(const float* x, int n, uint8_t* codes) {
    float amax = 0.0f;
    for (int i = 0; i < n; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    amax = std::fmax(amax, kFp4AmaxFloor);
    const float s = ue8m0_round_scale(amax, kE2M1MaxInv);
    for (int i = 0; i < n; ++i) {
        float v = x[i] / s;
        v = v < -6.0f ? -6.0f : (v > 6.0f ? 6.0f : v);
        codes[i] = f32_to_e2m1(v);
    }
    return s;
}

namespace {
// Quantizes each block of `block` values to codes with its scale, then writes code * scale back.
template <class QuantizeBlock, class Decode>
void block_roundtrip(float* x, int n, int block, const char* what, QuantizeBlock quantize, Decode decode) {
    if (block <= 0) throw std::invalid_argument(std::string(what) + ": block must be > 0");
    uint8_t codes[1024];
    std::unique_ptr<uint8_t[]> heap;  // blocks are 32-128 in the model; larger ones use the heap
    uint8_t* cb = codes;
    if (block > (int)sizeof codes) {
        heap.reset(new uint8_t[(size_t)block]);
        cb = heap.get();
    }
    for (int b0 = 0; b0 < n; b0 += block) {
        const int len = (n - b0 < block) ? n - b0 : block;
        float* xb = x + b0;
        const float s = quantize(xb, len, cb);
        for (int i = 0; i < len; ++i) xb[i] = decode(cb[i]) * s;
    }
}
}  // namespace

void fp8_e4m3_block_roundtrip(float* x, int n, int block) {
    block_roundtrip(x, n, block, "fp8_e4m3_block_roundtrip", fp8_e4m3_quantize_block, e4m3_to_f32);
}

void fp4_e2m1_block_roundtrip(float* x, int n, int block) {
    block_roundtrip(x, n, block, "fp4_e2m1_block_roundtrip", fp4_e2m1_quantize_block, e2m1_to_f32);
}

// ---- Hadamard -----------------------------------------------------------------------------

void hadamard_inplace(float* x, int n, float scale) {
    if (n <= 0 || (n & (n - 1)) != 0)
        throw std::invalid_argument("hadamard_inplace: n must be a power of two");
    for (int stride = 1; stride < n; stride *= 2) {
        for (int base = 0; base < n; base += 2 * stride) {
            for (int k = base; k < base + stride; ++k) {
                const float a = x[k];
                const float b = x[k + stride];
                x[k] = a + b;
                x[k + stride] = a - b;
            }
        }
    }
    for (int i = 0; i < n; ++i) x[i] *= scale;
}

}  // namespace ds4
