// Internal helpers shared by the quantizer translation units (not part of the public API).
// These are ggml's helper formulas; see quants.h for the rules they follow.
#pragma once
#include <cstdint>
#include <cstring>

namespace ds4::qimpl {

// ggml's k-quant "all zero" threshold for a group's max |x|.
constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest, ties to even, via the 1.5*2^23 magic constant (valid for |x| <= 4194303).
inline int nearest_int(float fval) {
    float val = fval + 12582912.f;
    int i;
    std::memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

// ggml make_qp_quants: positive-only scale search with importance weights.
float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* quant_weights);

// Throws std::invalid_argument with a message naming the function.
[[noreturn]] void fail(const char* what);

}  // namespace ds4::qimpl
