#include "model/indexer.h"

#include <algorithm>
#include <vector>

#include "model/dot.h"
#include "model/torch_cpu.h"
#include "model/vec16.h"
#include "quant/float16.h"

namespace ds4::indexer {

namespace {

// Official exact: the head sum is torch's bf16 sum over dim 2 of [heads, rows]: columns
// below seq_cols are summed head after head, the others by 4 interleaved partial sums
// (SumKernel.cpp, outer reduction: multi_row_sum chunks, then row_sum for the tail).
int64_t seq_cols_of(int64_t n_rows) { return n_rows >= 16 ? n_rows / 32 * 32 : n_rows / 4 * 4; }

// The 4-partial head sum of one tail column; term[h] are its bf16 terms.
float tail_sum(const float* term, int n_heads) {
    float p[4] = {0, 0, 0, 0};
    const int n4 = n_heads / 4;
    for (int j = 0; j < 4; ++j) p[j] = tcpu::level_sum(n4, [&](int64_t i) { return term[i * 4 + j]; });
    for (int h = n4 * 4; h < n_heads; ++h) p[0] += term[h];
    return ((p[0] + p[1]) + p[2]) + p[3];
}

using vec::relu;
using vec::round_bf16;
using vec::v16;
using vec::vi16;
using vec::load;
using vec::store;


// kt[i][r] = rows[r][i] for r < nr, 0 for nr <= r < 16 (rows: [nr][dim]). 16x16 tiles in
// registers: four rounds of (row j, row j+8) -> (their low halves interleaved, their high
// halves interleaved) rotate each element's (row, column) bits by one: four transpose.
inline void transpose_rows(const float* rows, int nr, int dim, float* kt) {
    const vi16 lo = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
    const vi16 hi = lo + 8;
    int i0 = 0;
    for (; i0 + 16 <= dim; i0 += 16) {
        v16 m[16], t[16];
#pragma GCC unroll 16
        for (int r = 0; r < 16; ++r) m[r] = r < nr ? load(rows + size_t(r) * dim + i0) : v16{};
#pragma GCC unroll 4
        for (int round = 0; round < 4; ++round) {
#pragma GCC unroll 8
            for (int j = 0; j < 8; ++j) {
                t[2 * j] = __builtin_shuffle(m[j], m[j + 8], lo);
                t[2 * j + 1] = __builtin_shuffle(m[j], m[j + 8], hi);
            }
#pragma GCC unroll 16
            for (int r = 0; r < 16; ++r) m[r] = t[r];
        }
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) store(kt + size_t(i0 + i) * 16, m[i]);
    }
    for (; i0 < dim; ++i0)
        for (int r = 0; r < 16; ++r) kt[size_t(i0) * 16 + r] = r < nr ? rows[size_t(r) * dim + i0] : 0.0f;
}

// tcpu::dot_bf16 of NH heads against 16 transposed key rows (kt: [dim][16]). The head loops
// are unrolled so that the NH accumulators live in registers (an indexed array stays in
// memory, and each step then waits on a store and a reload).
template <int NH>
inline void dots_bf16(const float* q, int dim, const float* kt, v16* out) {
    v16 s[NH];
#pragma GCC unroll 16
    for (int j = 0; j < NH; ++j) s[j] = v16{};
    int i = 0;
    for (; i + 2 <= dim; i += 2) {
        const v16 k1 = load(kt + size_t(i + 1) * 16), k0 = load(kt + size_t(i) * 16);
#pragma GCC unroll 16
        for (int j = 0; j < NH; ++j) s[j] += q[size_t(j) * dim + i + 1] * k1;
#pragma GCC unroll 16
        for (int j = 0; j < NH; ++j) s[j] += q[size_t(j) * dim + i] * k0;
    }
    if (i < dim)
#pragma GCC unroll 16
        for (int j = 0; j < NH; ++j) s[j] += q[size_t(j) * dim + i] * load(kt + size_t(i) * 16);
#pragma GCC unroll 16
    for (int j = 0; j < NH; ++j) out[j] = s[j];
}

// dot_f32 (8 strided partial sums, pairwise combine, sequential tail) of one head.
inline v16 dot_f32_16(const float* q, int dim, const float* kt) {
    v16 a[8] = {};
    int i = 0;
    for (; i + 8 <= dim; i += 8)
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) a[j] += q[i + j] * load(kt + size_t(i + j) * 16);
    v16 s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < dim; ++i) s += q[i] * load(kt + size_t(i) * 16);
    return s;
}

}  // namespace

void scores(const float* q, const float* w, const float* keys, int64_t n_rows, int64_t row_begin,
            int64_t row_end, int n_heads, int dim, bool bf16_scores, float* out) {
    const int64_t seq_cols = seq_cols_of(n_rows);
    thread_local std::vector<float> kt_buf, term_buf, col_buf;
    kt_buf.resize(size_t(dim) * 16);
    term_buf.resize(size_t(n_heads) * 16);
    col_buf.resize(size_t(n_heads));
    float* kt = kt_buf.data();
    float* tb = term_buf.data();
    float* col = col_buf.data();
    for (int64_t c0 = row_begin; c0 < row_end; c0 += 16) {
        const int nr = int(std::min<int64_t>(16, row_end - c0));
        // Lane r = key row c0 + r (missing rows are zeros and never stored).
        transpose_rows(keys + size_t(c0) * dim, nr, dim, kt);
        v16 total = {};
        if (!bf16_scores) {
            for (int h = 0; h < n_heads; ++h) total += relu(dot_f32_16(q + size_t(h) * dim, dim, kt)) * w[h];
        } else {
            // bf16 einsum output (oneDNN bf16 GEMM order), bf16 product with the weight, bf16 sum.
            int h = 0;
            auto term = [&](v16 d, int hh) {
                const v16 t = round_bf16(relu(round_bf16(d)) * w[hh]);
                store(tb + size_t(hh) * 16, t);
                total += t;
            };
            for (; h + 8 <= n_heads; h += 8) {
                v16 s[8];
                dots_bf16<8>(q + size_t(h) * dim, dim, kt, s);
                for (int j = 0; j < 8; ++j) term(s[j], h + j);
            }
            for (; h < n_heads; ++h) {
                v16 s[1];
                dots_bf16<1>(q + size_t(h) * dim, dim, kt, s);
                term(s[0], h);
            }
            total = round_bf16(total);
        }
        float res[16];
        store(res, total);
        for (int r = 0; r < nr; ++r) {
            const int64_t c = c0 + r;
            if (bf16_scores && c >= seq_cols) {
                for (int hh = 0; hh < n_heads; ++hh) col[hh] = tb[size_t(hh) * 16 + r];
                res[r] = bf16_to_fp32(fp32_to_bf16(tail_sum(col, n_heads)));
            }
            out[c] = res[r];
        }
    }
}

void scores_reference(const float* q, const float* w, const float* keys, int64_t n_rows, int n_heads,
                      int dim, bool bf16_scores, float* out) {
    const int64_t seq_cols = seq_cols_of(n_rows);
    thread_local std::vector<float> term_buf;
    term_buf.resize(size_t(n_heads));
    float* term = term_buf.data();
    for (int64_t c = 0; c < n_rows; ++c) {
        const float* k = keys + size_t(c) * dim;
        if (!bf16_scores) {
            float total = 0;
            for (int h = 0; h < n_heads; ++h) {
                const float dot = dot_f32(q + size_t(h) * dim, k, dim);
                total += (dot > 0 ? dot : 0.0f) * w[h];
            }
            out[c] = total;
            continue;
        }
        // bf16 einsum output (oneDNN bf16 GEMM order), bf16 product with the weight, bf16 sum.
        for (int h = 0; h < n_heads; ++h) {
            const float rd = bf16_to_fp32(fp32_to_bf16(tcpu::dot_bf16(q + size_t(h) * dim, k, dim)));
            term[h] = bf16_to_fp32(fp32_to_bf16((rd > 0 ? rd : 0.0f) * w[h]));
        }
        float total = 0;
        if (c < seq_cols) {
            for (int h = 0; h < n_heads; ++h) total += term[h];
        } else {
            total = tail_sum(term, n_heads);
        }
        out[c] = bf16_to_fp32(fp32_to_bf16(total));
    }
}

int top_k(const float* score, int64_t n, int k, int32_t* out, int32_t* heap) {
    if (k <= 0) return 0;
    // "a ranks above b": higher score, or equal score and lower index.
    auto above = [score](int32_t a, int32_t b) {
        return score[a] > score[b] || (score[a] == score[b] && a < b);
    };
    // Min-heap (by rank) of the best k seen so far: the root is the weakest kept entry.
    int m = 0;
    for (int64_t i = 0; i < n; ++i) {
        const int32_t c = int32_t(i);
        if (m < k) {
            heap[m++] = c;
            std::push_heap(heap, heap + m, above);
        } else if (above(c, heap[0])) {
            std::pop_heap(heap, heap + m, above);
            heap[m - 1] = c;
            std::push_heap(heap, heap + m, above);
        }
    }
    std::copy(heap, heap + m, out);
    std::sort(out, out + m, above);
    return m;
}

}  // namespace ds4::indexer
