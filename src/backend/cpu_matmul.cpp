#include "backend/cpu_matmul.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/kernels.h"
#include "quant/quants.h"

namespace ds4::cpu {
namespace {

constexpr size_t kActBlockBytes = 384 << 10;   // activations of one token block (L2: 1 MiB)
constexpr size_t kPrefillRowBytes = 512 << 10;  // weights of one prefill work item (packed per 16-row panel)
constexpr size_t kDecodeMinBytes = 32 << 10;   // smallest decode work item (one row stream)

inline bool is_float(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }

}  // namespace

Act convert_act(ThreadPool& pool, GgmlType wt, const float* x, int64_t ldx, int T, int64_t n,
                std::vector<uint8_t>& buf) {
    if (is_float(wt)) return {reinterpret_cast<const uint8_t*>(x), size_t(ldx) * sizeof(float), true};
    const GgmlType at = vec_dot_type(wt);
    const size_t rb = size_t(row_size(at, n));
    if (buf.size() < rb * size_t(T)) buf.resize(rb * size_t(T));
    uint8_t* dst = buf.data();
    pool.parallel_for(T, 16, [&](int64_t b, int64_t e, int) {
        for (int64_t t = b; t < e; ++t) quantize_act_row(at, x + size_t(t) * ldx, dst + rb * t, n);
    });
    return {dst, rb, false};
}

Act gather_act(const Act& src, const int32_t* idx, int n_idx, int64_t n, std::vector<uint8_t>& buf) {
    const size_t rb = src.f32 ? size_t(n) * sizeof(float) : src.row_bytes;
    if (buf.size() < rb * size_t(n_idx)) buf.resize(rb * size_t(n_idx));
    for (int i = 0; i < n_idx; ++i) std::memcpy(buf.data() + rb * i, src.data + src.row_bytes * size_t(idx[i]), rb);
    return {buf.data(), rb, src.f32};
}

int64_t row_grain(int64_t total_rows, size_t row_bytes, int T, int threads) {
    const int64_t rb = int64_t(std::max<size_t>(row_bytes, 1));
    int64_t g;
    if (T >= 4) {
        // Prefill: the panel kernels repack 16 rows at a time into L1/L2 and pay a per-call
        // activation preparation, so items are large (many panels per call); at least 2
        // items per thread for balance.
        g = std::max<int64_t>(1, int64_t(kPrefillRowBytes) / rb);
        g = std::min(g, std::max<int64_t>(1, total_rows / (2 * threads)));
    } else {
        // Decode: each item is one sequential stream; ~8 items per thread balance a shared
        // machine, but an item never drops below kDecodeMinBytes (dispatch cost).
        g = std::max<int64_t>(total_rows / (8 * threads), int64_t(kDecodeMinBytes) / rb);
    }
    g = std::max<int64_t>(1, g);
    if (g >= 16) g &= ~int64_t(15);  // whole 16-row panels
    else if (g > 4) g &= ~int64_t(3);  // whole 2x4 / 4x4 row tiles
    return g;
}

void gemm_rows(GgmlType wt, const uint8_t* w, size_t w_row_bytes, int64_t n_rows, const Act& a, int64_t T,
               int64_t n, float* y, int64_t ldy) {
    if (n_rows <= 0 || T <= 0) return;
    int64_t tb = std::max<int64_t>(4, int64_t(kActBlockBytes / std::max<size_t>(a.row_bytes, 1)));
    tb &= ~int64_t(3);
    for (int64_t t0 = 0; t0 < T; t0 += tb) {
        const int64_t nt = std::min(tb, T - t0);
        const uint8_t* at = a.data + size_t(t0) * a.row_bytes;
        if (a.f32)
            gemm_f32act(wt, w, w_row_bytes, n_rows, reinterpret_cast<const float*>(at),
                        int64_t(a.row_bytes / sizeof(float)), nt, n, y + t0 * ldy, ldy);
        else
            gemm(wt, w, w_row_bytes, n_rows, at, a.row_bytes, nt, n, y + t0 * ldy, ldy);
    }
}

}  // namespace ds4::cpu
