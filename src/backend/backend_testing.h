// Test-only helper (header-only, never linked into libds4): a weight matrix stored in any
// type, built from random f32 rows, with what its stored bytes mean. Used by
// backend_test.cpp and kernels/cpu/kernels_float_act_test.cpp.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "quant/quants.h"

namespace ds4::test {

struct StoredMatrix {
    Weight w;
    std::vector<uint8_t> bytes;
    std::vector<float> deq;  // what the stored bytes mean, row-major
    StoredMatrix(GgmlType type, int64_t n_in, int64_t rows, std::mt19937& rng) {
        std::normal_distribution<float> nd(0, 1);
        const size_t rb = size_t(row_size(type, n_in));
        bytes.resize(rb * rows);
        deq.resize(size_t(n_in * rows));
        std::vector<float> x(n_in), imat(n_in, 1.0f);
        for (int64_t r = 0; r < rows; ++r) {
            for (auto& v : x) v = nd(rng);
            quantize_row(type, x.data(), bytes.data() + rb * r, n_in, imat.data());
            dequantize_row(type, bytes.data() + rb * r, deq.data() + n_in * r, n_in);
        }
        w.name = "test";
        w.type = type;
        w.ne[0] = n_in;
        w.ne[1] = rows;
        w.data = bytes.data();
        w.row_bytes = rb;
    }
};

}  // namespace ds4::test
