#include "model/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/dot.h"
#include "model/torch_cpu.h"
#include "quant/float16.h"

namespace ds4::attention {

namespace {

constexpr int kBlock = 64;  // official sparse_attn kernel block (list slots per step)

// Plain two-pass softmax in f32 (the fp32 reference).
void attend_f32(const float* qh, const RowSet& rs, float sink, int D, float scale, float* sc, float* oh) {
    float mx = -INFINITY;
    for (int j = 0; j < rs.n_rows; ++j) {
        sc[j] = dot_f32(qh, rs.rows[j], D) * scale;
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
    for (int j = 0; j < rs.n_rows; ++j) sc[j] = dot_f32(qh, rs.rows[j], D) * scale;
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


// attend_blocks_exact for up to 16 heads at once, one head per vector lane: every per-head
// quantity (score dots, exp, sums, P.V, rescale) keeps the scalar kernel's exact operation
// order; the lanes only run independent heads side by side. Bit-identical to the scalar code
// (fp-contract=off: mul and add round separately, as there).
typedef float v16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));

// Unaligned, aliasing views of 16 floats (macros: no 64-byte vector crosses a call, so the
// PORTABLE (AVX2) build has no ABI question either).
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));
#define load16(p) (*reinterpret_cast<const v16u*>(p))
#define store16(p, v) (*reinterpret_cast<v16u*>(p) = (v))

// tcpu::expf per lane, in place on 16 floats; lanes hold finite values, -inf or NaN.
// (Memory in and out: no 64-byte vector crosses a call, whatever the -march.)
inline void expf16(float* p) {
    const v16 d = load16(p);
    const float R_LN2f = 1.442695040888963407359924681001892137426645954152985934135449406931f;
    const float L2Uf = 0.693145751953125f, L2Lf = 1.428606765330187045e-06f;
    const vi16 big = d < -104.0f, inf = d > 100.0f, nan = d != d;
    v16 dc = d;
    for (int l = 0; l < 16; ++l) dc[l] = big[l] || inf[l] || nan[l] ? 0.0f : d[l];
    // rint (nearest even) of |x| < 2^22 via the 1.5*2^23 trick; exact for these magnitudes.
    const v16 x = dc * R_LN2f;
    const v16 qf = (x + 12582912.0f) - 12582912.0f;
    const vi16 q = __builtin_convertvector(qf, vi16);
    v16 u;
    for (int l = 0; l < 16; ++l) {
        float sl = std::fmaf(qf[l], -L2Uf, dc[l]);
        sl = std::fmaf(qf[l], -L2Lf, sl);
        float ul = 0.000198527617612853646278381f;
        ul = std::fmaf(ul, sl, 0.00139304355252534151077271f);
        ul = std::fmaf(ul, sl, 0.00833336077630519866943359f);
        ul = std::fmaf(ul, sl, 0.0416664853692054748535156f);
        ul = std::fmaf(ul, sl, 0.166666671633720397949219f);
        ul = std::fmaf(ul, sl, 0.5f);
        ul = 1.0f + std::fmaf(sl * sl, ul, sl);
        const int q1 = q[l] >> 1, q2 = q[l] - q1;
        uint32_t b1 = uint32_t(q1 + 127) << 23, b2 = uint32_t(q2 + 127) << 23;
        float f1, f2;
        std::memcpy(&f1, &b1, 4);
        std::memcpy(&f2, &b2, 4);
        ul = ul * f1 * f2;
        if (big[l]) ul = 0.0f;
        if (inf[l]) ul = INFINITY;
        if (nan[l]) ul = d[l];
        u[l] = ul;
    }
    store16(p, u);
}

// NH <= 16 heads starting at qh (stride D), outputs at oh (stride D).
void attend_blocks_exact16(const float* qh, int NH, const RowSet& rs, const float* sinks, int D, float scale,
                           float* oh) {
    alignas(64) float qT[1024 * 16];
    alignas(64) float ps[kBlock * 16];   // [slot][lane]
    alignas(64) float pb[16][kBlock];    // bf16-rounded probabilities, per head
    alignas(64) float pv[1024];
    for (int i = 0; i < D; ++i)
        for (int l = 0; l < 16; ++l) qT[i * 16 + l] = l < NH ? qh[size_t(l) * D + i] : 0.0f;
    for (int h = 0; h < NH; ++h)
        for (int i = 0; i < D; ++i) oh[size_t(h) * D + i] = 0.0f;
    float m[16], sum[16];
    for (int l = 0; l < 16; ++l) m[l] = -INFINITY, sum[l] = 0;
    auto row = [&](int s) -> const float* {
        if (s < rs.comp_slot0) return s < rs.n_win ? rs.rows[s] : nullptr;
        const int c = s - rs.comp_slot0;
        return c < rs.n_rows - rs.n_win ? rs.rows[rs.n_win + c] : nullptr;
    };
    const v16 vninf = v16{} - INFINITY;
    for (int k0 = 0; k0 < rs.n_slots; k0 += kBlock) {
        const int blk = std::min(kBlock, rs.n_slots - k0);
        const float* r[kBlock];
        int live[kBlock], n_live = 0;
        for (int j = 0; j < blk; ++j) {
            r[j] = row(k0 + j);
            if (r[j]) live[n_live++] = j;
            else store16(ps + j * 16, vninf);
        }
        // Scores: 4 rows per pass for independent add chains.
        int a = 0;
        for (; a + 4 <= n_live; a += 4) {
            const float *r0 = r[live[a]], *r1 = r[live[a + 1]], *r2 = r[live[a + 2]], *r3 = r[live[a + 3]];
            v16 s0 = {}, s1 = {}, s2 = {}, s3 = {};
            for (int i = 0; i < D; ++i) {
                const v16 qv = load16(qT + i * 16);
                s0 = s0 + qv * r0[i];
                s1 = s1 + qv * r1[i];
                s2 = s2 + qv * r2[i];
                s3 = s3 + qv * r3[i];
            }
            store16(ps + live[a] * 16, s0 * scale);
            store16(ps + live[a + 1] * 16, s1 * scale);
            store16(ps + live[a + 2] * 16, s2 * scale);
            store16(ps + live[a + 3] * 16, s3 * scale);
        }
        for (; a < n_live; ++a) {
            const float* r0 = r[live[a]];
            v16 s0 = {};
            for (int i = 0; i < D; ++i) s0 = s0 + load16(qT + i * 16) * r0[i];
            store16(ps + live[a] * 16, s0 * scale);
        }
        v16 bm;
        for (int l = 0; l < 16; ++l) bm[l] = m[l];
        for (int j = 0; j < blk; ++j) {
            const v16 pj = load16(ps + j * 16);
            for (int l = 0; l < 16; ++l) bm[l] = pj[l] > bm[l] ? pj[l] : bm[l];
        }
        for (int j = 0; j < blk; ++j) {
            store16(ps + j * 16, load16(ps + j * 16) - bm);
            expf16(ps + j * 16);
        }
        float rescale[16];
        for (int h = 0; h < NH; ++h) {
            rescale[h] = tcpu::expf(m[h] - bm[h]);
            float ph[kBlock];
            for (int j = 0; j < blk; ++j) {
                ph[j] = ps[j * 16 + h];
                pb[h][j] = bf16_to_fp32(fp32_to_bf16(ph[j]));
            }
            sum[h] = sum[h] * rescale[h] + tcpu::sum(ph, blk);
            m[h] = bm[h];
        }
        // P.V per head, 128 dims at a time (8 vectors), sequential over the live slots.
        for (int h = 0; h < NH; ++h) {
            float* o = oh + size_t(h) * D;
            int i0 = 0;
            for (; i0 + 128 <= D; i0 += 128) {
                v16 acc[8] = {};
                for (int a2 = 0; a2 < n_live; ++a2) {
                    const int j = live[a2];
                    const float pj = pb[h][j];
                    const float* rv = r[j] + i0;
                    for (int u = 0; u < 8; ++u) acc[u] = acc[u] + pj * load16(rv + 16 * u);
                }
                for (int u = 0; u < 8; ++u) store16(pv + i0 + 16 * u, acc[u]);
            }
            for (int i = i0; i < D; ++i) pv[i] = 0.0f;
            for (int a2 = 0; a2 < n_live; ++a2) {
                const int j = live[a2];
                const float pj = pb[h][j];
                for (int i = i0; i < D; ++i) pv[i] += pj * r[j][i];
            }
            const float rs_h = rescale[h];
            for (int i = 0; i < D; ++i) o[i] = o[i] * rs_h + pv[i];
        }
    }
    for (int h = 0; h < NH; ++h) {
        const float s = sum[h] + tcpu::expf(sinks[h] - m[h]);
        float* o = oh + size_t(h) * D;
        for (int i = 0; i < D; ++i) o[i] /= s;
    }
}

}  // namespace

void attend(const float* q, const RowSet& rs, const float* sinks, int h_begin, int h_end, int head_dim,
            float scale, bool bf16, float* scratch, float* out, bool exact) {
    if (bf16 && exact && head_dim <= 1024) {
        for (int h = h_begin; h < h_end; h += 16)
            attend_blocks_exact16(q + size_t(h) * head_dim, std::min(16, h_end - h), rs, sinks + h, head_dim,
                                  scale, out + size_t(h) * head_dim);
        return;
    }
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

void attend_reference(const float* q, const RowSet& rs, const float* sinks, int h_begin, int h_end,
                      int head_dim, float scale, float* scratch, float* out) {
    for (int h = h_begin; h < h_end; ++h)
        attend_blocks_exact(q + size_t(h) * head_dim, rs, sinks[h], head_dim, scale, scratch,
                            out + size_t(h) * head_dim);
}

}  // namespace ds4::attention
