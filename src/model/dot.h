// f32 dot product over 8 lanes (GCC/Clang vector extension, so it vectorises at -O2 without
// -ffast-math). The summation order is fixed -- lane-wise partial sums, then a fixed tree --
// so the same inputs give the same result on every run and batch size. Shared by the
// reference ops and the CPU backend.
#pragma once
#include <cstdint>
#include <cstring>

namespace ds4 {

inline float dot_f32(const float* a, const float* b, int64_t n) {
    typedef float v8 __attribute__((vector_size(32)));
    v8 acc = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8 va, vb;
        std::memcpy(&va, a + i, sizeof va);
        std::memcpy(&vb, b + i, sizeof vb);
        acc += va * vb;
    }
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

}  // namespace ds4
