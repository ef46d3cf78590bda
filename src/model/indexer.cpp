#include "model/indexer.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "model/dot.h"
#include "model/torch_cpu.h"
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

typedef float v16 __attribute__((vector_size(64)));
typedef uint32_t vu16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));
#define load16(p) (*reinterpret_cast<const v16u*>(p))
#define store16(p, v) (*reinterpret_cast<v16u*>(p) = (v))

// bf16_to_fp32(fp32_to_bf16(x)) per lane.
inline v16 round_bf16(v16 x) {
    vu16 u;
    std::memcpy(&u, &x, sizeof u);
    const vi16 nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
    const vu16 r = ((u + (0x7FFFu + ((u >> 16) & 1u))) >> 16) << 16;
    const vu16 rn = ((u >> 16) | 0x40u) << 16;
    const vu16 m = vu16(nan);
    const vu16 b = (rn & m) | (r & ~m);
    v16 y;
    std::memcpy(&y, &b, sizeof y);
    return y;
}

inline v16 relu(v16 x) {
    const vi16 pos = x > 0.0f;
    vi16 xi;
    std::memcpy(&xi, &x, sizeof xi);
    xi &= pos;
    v16 y;
    std::memcpy(&y, &xi, sizeof y);
    return y;
}

// tcpu::dot_bf16 of NH heads against 16 transposed key rows (kt: [dim][16]).
template <int NH>
inline void dots_bf16(const float* q, int dim, const float* kt, v16* s) {
    for (int j = 0; j < NH; ++j) s[j] = v16{};
    int i = 0;
    for (; i + 2 <= dim; i += 2) {
        const v16 k1 = load16(kt + size_t(i + 1) * 16), k0 = load16(kt + size_t(i) * 16);
        for (int j = 0; j < NH; ++j) s[j] += q[size_t(j) * dim + i + 1] * k1;
        for (int j = 0; j < NH; ++j) s[j] += q[size_t(j) * dim + i] * k0;
    }
    if (i < dim)
        for (int j = 0; j < NH; ++j) s[j] += q[size_t(j) * dim + i] * load16(kt + size_t(i) * 16);
}

// dot_f32 (8 strided partial sums, pairwise combine, sequential tail) of one head.
inline v16 dot_f32_16(const float* q, int dim, const float* kt) {
    v16 a[8] = {};
    int i = 0;
    for (; i + 8 <= dim; i += 8)
        for (int j = 0; j < 8; ++j) a[j] += q[i + j] * load16(kt + size_t(i + j) * 16);
    v16 s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < dim; ++i) s += q[i] * load16(kt + size_t(i) * 16);
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
        for (int i = 0; i < dim; ++i)
            for (int r = 0; r < 16; ++r) kt[size_t(i) * 16 + r] = r < nr ? keys[size_t(c0 + r) * dim + i] : 0.0f;
        v16 total = {};
        if (!bf16_scores) {
            for (int h = 0; h < n_heads; ++h) total += relu(dot_f32_16(q + size_t(h) * dim, dim, kt)) * w[h];
        } else {
            // bf16 einsum output (oneDNN bf16 GEMM order), bf16 product with the weight, bf16 sum.
            int h = 0;
            auto term = [&](v16 d, int hh) {
                const v16 t = round_bf16(relu(round_bf16(d)) * w[hh]);
                store16(tb + size_t(hh) * 16, t);
                total += t;
            };
            for (; h + 4 <= n_heads; h += 4) {
                v16 s[4];
                dots_bf16<4>(q + size_t(h) * dim, dim, kt, s);
                for (int j = 0; j < 4; ++j) term(s[j], h + j);
            }
            for (; h < n_heads; ++h) {
                v16 s[1];
                dots_bf16<1>(q + size_t(h) * dim, dim, kt, s);
                term(s[0], h);
            }
            total = round_bf16(total);
        }
        float res[16];
        store16(res, total);
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
