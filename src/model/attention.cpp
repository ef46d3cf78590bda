#include "model/attention.h"

#include <algorithm>
#include <cmath>

#include "model/dot.h"
#include "model/torch_cpu.h"
#include "quant/float16.h"

namespace ds4::attention {

namespace {

constexpr int kBlock = 64;  // official sparse_attn kernel block (list slots per step)

inline float dot(const float* a, const float* b, int n) { return dot_f32(a, b, n); }

// Plain two-pass softmax in f32 (the fp32 reference).
void attend_f32(const float* qh, const RowSet& rs, float sink, int D, float scale, float* sc, float* oh) {
    float mx = -INFINITY;
    for (int j = 0; j < rs.n_rows; ++j) {
        sc[j] = dot(qh, rs.rows[j], D) * scale;
        mx = sc[j] > mx ? sc[j] : mx;
    }
    float den = 0;
    for (int j = 0; j < rs.n_rows; ++j) {
        sc[j] = std::exp(sc[j] - mx);
        den += sc[j];
    }
    den += std::exp(sink - mx);
    for (int i = 0; i < D; ++i) oh[i] = 0.0f;
    for (int j = 0; j < rs.n_rows; ++j) {
        const float p = sc[j] / den;
        const float* v = rs.rows[j];
        for (int i = 0; i < D; ++i) oh[i] += p * v[i];
    }
}

// The official kernel's order of operations: per block of list slots, running max, rescale
// of the f32 accumulators, probabilities exp(s - max) rounded to bf16 for P.V while the
// denominator sums them in f32; the sink joins the denominator at the end.
void attend_blocks_bf16(const float* qh, const RowSet& rs, float sink, int D, float scale, float* sc, float* oh) {
    for (int j = 0; j < rs.n_rows; ++j) sc[j] = dot(qh, rs.rows[j], D) * scale;
    for (int i = 0; i < D; ++i) oh[i] = 0.0f;
    float m = -INFINITY, sum = 0;
    auto slot = [&](int j) { return j < rs.n_win ? j : rs.comp_slot0 + (j - rs.n_win); };
    int j = 0;
    while (j < rs.n_rows) {
        const int blk = slot(j) / kBlock;
        int e = j;
        float bm = m;
        while (e < rs.n_rows && slot(e) / kBlock == blk) {
            bm = sc[e] > bm ? sc[e] : bm;
            ++e;
        }
        const float rescale = std::exp(m - bm);
        float bsum = 0;
        for (int k = j; k < e; ++k) {
            sc[k] = std::exp(sc[k] - bm);
            bsum += sc[k];
        }
        sum = sum * rescale + bsum;
        for (int i = 0; i < D; ++i) oh[i] *= rescale;
        for (int k = j; k < e; ++k) {
            const float p = bf16_to_fp32(fp32_to_bf16(sc[k]));
            const float* v = rs.rows[k];
            for (int i = 0; i < D; ++i) oh[i] += p * v[i];
        }
        m = bm;
        j = e;
    }
    sum += std::exp(sink - m);
    for (int i = 0; i < D; ++i) oh[i] /= sum;
}

// The oracle's sparse_attn, torch op by torch op (see attend()).
void attend_blocks_exact(const float* qh, const RowSet& rs, float sink, int D, float scale, float* p, float* oh) {
    float pv[1024];
    for (int i = 0; i < D; ++i) oh[i] = 0.0f;
    float m = -INFINITY, sum = 0;
    auto row = [&](int s) -> const float* {
        if (s < rs.comp_slot0) return s < rs.n_win ? rs.rows[s] : nullptr;
        const int c = s - rs.comp_slot0;
        return c < rs.n_rows - rs.n_win ? rs.rows[rs.n_win + c] : nullptr;
    };
    for (int k0 = 0; k0 < rs.n_slots; k0 += kBlock) {
        const int blk = std::min(kBlock, rs.n_slots - k0);
        float bm = m;
        for (int j = 0; j < blk; ++j) {
            const float* r = row(k0 + j);
            p[j] = r ? tcpu::dot(qh, r, D) * scale : -INFINITY;
            bm = p[j] > bm ? p[j] : bm;
        }
        const float rescale = tcpu::expf(m - bm);
        for (int j = 0; j < blk; ++j) p[j] = tcpu::expf(p[j] - bm);
        sum = sum * rescale + tcpu::sum(p, blk);
        for (int i = 0; i < D; ++i) pv[i] = 0.0f;
        for (int j = 0; j < blk; ++j) {
            const float* r = row(k0 + j);
            if (!r) continue;
            const float pj = bf16_to_fp32(fp32_to_bf16(p[j]));
            for (int i = 0; i < D; ++i) pv[i] += pj * r[i];
        }
        for (int i = 0; i < D; ++i) oh[i] = oh[i] * rescale + pv[i];
        m = bm;
    }
    sum = sum + tcpu::expf(sink - m);
    for (int i = 0; i < D; ++i) oh[i] /= sum;
}

}  // namespace

void attend(const float* q, const RowSet& rs, const float* sinks, int h_begin, int h_end, int head_dim,
            float scale, bool bf16, float* scratch, float* out, bool exact) {
    for (int h = h_begin; h < h_end; ++h) {
        const float* qh = q + size_t(h) * head_dim;
        float* oh = out + size_t(h) * head_dim;
        if (bf16 && exact)
            attend_blocks_exact(qh, rs, sinks[h], head_dim, scale, scratch, oh);
        else if (bf16)
            attend_blocks_bf16(qh, rs, sinks[h], head_dim, scale, scratch, oh);
        else
            attend_f32(qh, rs, sinks[h], head_dim, scale, scratch, oh);
    }
}

}  // namespace ds4::attention
