// Tensor element types and quant block layouts, defined once for every backend.
// Layouts and type codes are ggml's (GGUF files carry these codes), so the structs
// below must stay byte-compatible with ggml-common.h. Plain structs, no methods:
// CPU, CUDA and Metal code all include this header.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ds4 {

enum class GgmlType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
    COUNT = 40,
};

constexpr int QK8_0 = 32;
constexpr int QK_K = 256;
constexpr int K_SCALE_SIZE = 12;

using ggml_half = uint16_t;  // IEEE binary16 bits
using ggml_bf16 = uint16_t;  // bfloat16 bits

struct block_q8_0 {
    ggml_half d;
    int8_t qs[QK8_0];
};
static_assert(sizeof(block_q8_0) == 34);

struct block_q2_K {
    uint8_t scales[QK_K / 16];  // low nibble: scale, high nibble: min
    uint8_t qs[QK_K / 4];       // 2-bit quants
    ggml_half d;
    ggml_half dmin;
};
static_assert(sizeof(block_q2_K) == 84);

struct block_q4_K {
    ggml_half d;
    ggml_half dmin;
    uint8_t scales[K_SCALE_SIZE];  // 8 x (6-bit scale, 6-bit min)
    uint8_t qs[QK_K / 2];          // 4-bit quants
};
static_assert(sizeof(block_q4_K) == 144);

struct block_q8_K {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];  // sums of groups of 16 quants
};
static_assert(sizeof(block_q8_K) == 292);

struct block_iq2_xxs {
    ggml_half d;
    uint16_t qs[QK_K / 8];
};
static_assert(sizeof(block_iq2_xxs) == 66);

// Size facts per type. block_size elements occupy type_size bytes.
struct TypeTraits {
    const char* name;
    int64_t block_size;  // 0 = type unknown / unsupported
    int64_t type_size;
};

// Traits for any ggml type code (known types get their real sizes even when this
// engine cannot compute with them, so a GGUF holding them can still be listed).
TypeTraits type_traits(uint32_t type);
inline TypeTraits type_traits(GgmlType t) { return type_traits(static_cast<uint32_t>(t)); }
const char* type_name(uint32_t type);
// Bytes for one row of n elements (n must be a multiple of the block size).
int64_t row_size(GgmlType t, int64_t n);
// Parses "f32", "q4_k", "iq2_xxs", ... (case-insensitive). Returns false if unknown.
bool parse_type_name(const char* s, GgmlType* out);

}  // namespace ds4
