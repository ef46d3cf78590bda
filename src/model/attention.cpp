#include "model/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/dot.h"
#include "model/torch_cpu.h"
#include "model/vec16.h"
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
// (fp-contract=off: mul and add round separately, as there). Everything per head stays in
// [x][lane] layout -- scores [slot][head], the output accumulator [dim][head] -- so the softmax
// bookkeeping is whole-vector work and only q (in) and the output (out) are transposed.
typedef float v16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));

// Unaligned, aliasing views of 16 floats (macros: no 64-byte vector crosses a call, so the
// PORTABLE (AVX2) build has no ABI question either; helpers take memory in and out).
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));
#define load16(p) (*reinterpret_cast<const v16u*>(p))
#define store16(p, v) (*reinterpret_cast<v16u*>(p) = (v))

// The hot loops (scores, P.V) keep kWide accumulator vectors of kLanes lanes in registers:
// with AVX-512, 16 of the 32 zmm registers, all 16 heads per pass; without it, 8 of the 16 ymm
// registers, the 16 heads in two passes of 8 (16-float vectors there are register pairs that
// GCC spills).
#ifdef __AVX512F__
typedef float vacc __attribute__((vector_size(64)));
typedef float vaccu __attribute__((vector_size(64), aligned(4), may_alias));
constexpr int kWide = 16;
#else
typedef float vacc __attribute__((vector_size(32)));
typedef float vaccu __attribute__((vector_size(32), aligned(4), may_alias));
constexpr int kWide = 8;
#endif
constexpr int kLanes = sizeof(vacc) / sizeof(float);
#define loadacc(p) (*reinterpret_cast<const vaccu*>(p))
#define storeacc(p, v) (*reinterpret_cast<vaccu*>(p) = (v))

// tcpu::expf per lane, in place on 16 floats (vec::expf: lanes hold finite values, -inf or NaN).
inline void expf16(float* p) { store16(p, vec::expf(load16(p))); }

// bf16_to_fp32(fp32_to_bf16(x)) per lane, 16 floats from in to out.
inline void round_bf16_16(const float* in, float* out) { store16(out, vec::round_bf16(load16(in))); }

// tcpu::sum(x, n) for 16 independent lanes, x[j * 16 + lane], n <= kBlock. At that size every
// level_sum inside covers fewer addends than its smallest step (16), so each reduces to a
// sequential sum plus its three empty upper levels -- added here too, as there.
inline void sum16(const float* x, int n, float* out) {
    static_assert(kBlock / 8 / 4 < 16, "level_sum carries between levels: not emulated");
    constexpr int W = 8, ILP = 4;
    const v16 z = {};
    // level_sum(size, x(i)) with x(i) = slot idx (an expression in i), for size < 16.
#define LEVEL_SUM16(acc, size, i, idx)                                       \
    do {                                                                     \
        acc = z;                                                             \
        for (int i = 0; i < (size); ++i) acc = acc + load16(x + (idx) * 16); \
        acc = ((acc + z) + z) + z;                                           \
    } while (0)
    if (n < W) {  // scalar_inner_sum: 4 interleaved accumulators
        const int n4 = n / ILP;
        v16 p[ILP];
        for (int k = 0; k < ILP; ++k) LEVEL_SUM16(p[k], n4, i, i * ILP + k);
        for (int i = n4 * ILP; i < n; ++i) p[0] = p[0] + load16(x + i * 16);
        for (int k = 1; k < ILP; ++k) p[0] = p[0] + p[k];
        store16(out, p[0]);
        return;
    }
    const int nv = n / W, nv4 = nv / ILP;
    v16 lane[ILP][W];
    for (int k = 0; k < ILP; ++k)
        for (int l = 0; l < W; ++l) LEVEL_SUM16(lane[k][l], nv4, i, (i * ILP + k) * W + l);
#undef LEVEL_SUM16
    for (int v = nv4 * ILP; v < nv; ++v)
        for (int l = 0; l < W; ++l) lane[0][l] = lane[0][l] + load16(x + (v * W + l) * 16);
    for (int k = 1; k < ILP; ++k)
        for (int l = 0; l < W; ++l) lane[0][l] = lane[0][l] + lane[k][l];
    v16 acc = z;
    for (int i = nv * W; i < n; ++i) acc = acc + load16(x + i * 16);
    for (int l = 0; l < W; ++l) acc = acc + lane[0][l];
    store16(out, acc);
}

// Scores of R rows for the 16 heads of qT ([dim][lane]): R independent sequential dots, so
// one q load feeds R broadcast multiplies and the add chains overlap.
template <int R>
inline void score_rows(const float* qT, const float* const* r, int D, float scale, float* const* out) {
    for (int l0 = 0; l0 < 16; l0 += kLanes) {
        vacc s[R] = {};
        for (int i = 0; i < D; ++i) {
            const vacc qv = loadacc(qT + i * 16 + l0);
#pragma GCC unroll 16
            for (int k = 0; k < R; ++k) s[k] = s[k] + qv * r[k][i];
        }
#pragma GCC unroll 16
        for (int k = 0; k < R; ++k) storeacc(out[k] + l0, s[k] * scale);
    }
}

// P.V for dims [i0, i0 + K) of all 16 heads: acc[dim] (head lanes) sums p[a] * r[a][dim]
// sequentially over the n live rows (p: bf16-rounded probabilities, [row][lane]), then
// oT = oT * rescale + acc, as the scalar code does per head.
template <int K>
inline void pv_dims(const float* p, const float* const* r, int n, int i0, const float* rescale, float* oT) {
    float* o = oT + size_t(i0) * 16;
    for (int l0 = 0; l0 < 16; l0 += kLanes) {
        vacc acc[K] = {};
        for (int a = 0; a < n; ++a) {
            const vacc pa = loadacc(p + a * 16 + l0);
            const float* ra = r[a] + i0;
            __asm__("" : "+r"(ra));  // keeps ra[k] a constant displacement off one register
#pragma GCC unroll 16
            for (int k = 0; k < K; ++k) acc[k] = acc[k] + pa * ra[k];
        }
        const vacc rs = loadacc(rescale + l0);
#pragma GCC unroll 16
        for (int k = 0; k < K; ++k) storeacc(o + k * 16 + l0, loadacc(o + k * 16 + l0) * rs + acc[k]);
    }
}

// dst[c * ds + r] = src[r * ss + c] for a 16x16 tile: source rows from n_src on read as 0,
// destination rows from n_dst on are not written. Four rounds of swapping the off-diagonal
// w x w blocks (w = 8, 4, 2, 1), each a two-source shuffle per row pair.
inline void transpose16(const float* src, size_t ss, int n_src, float* dst, size_t ds, int n_dst) {
    v16 r[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) r[i] = i < n_src ? load16(src + i * ss) : v16{};
#pragma GCC unroll 4
    for (int w = 8; w >= 1; w /= 2) {
        vi16 lo, hi;
        for (int c = 0; c < 16; ++c) lo[c] = c & w ? 16 + c - w : c, hi[c] = c & w ? 16 + c : c + w;
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i)
            if (!(i & w)) {
                const v16 a = r[i], b = r[i + w];
                r[i] = __builtin_shuffle(a, b, lo);
                r[i + w] = __builtin_shuffle(a, b, hi);
            }
    }
#pragma GCC unroll 16
    for (int c = 0; c < 16; ++c)
        if (c < n_dst) store16(dst + c * ds, r[c]);
}

// NH <= 16 heads starting at qh (stride D), outputs at oh (stride D); D <= 1024.
void attend_blocks_exact16(const float* qh, int NH, const RowSet& rs, const float* sinks, int D, float scale,
                           float* oh) {
    alignas(64) float qT[1024 * 16];     // q, [dim][lane]
    alignas(64) float oT[1024 * 16];     // output accumulator, [dim][lane]
    alignas(64) float ps[kBlock * 16];   // scores, then probabilities, [slot][lane]
    alignas(64) float pl[kBlock * 16];   // bf16-rounded probabilities of the live slots, [row][lane]
    alignas(64) float m[16], sum[16], rescale[16], junk[16];
    const int D16 = D / 16 * 16;
    for (int i = 0; i < D16; i += 16) transpose16(qh + i, D, NH, qT + i * 16, 16, 16);
    for (int i = D16; i < D; ++i)
        for (int l = 0; l < 16; ++l) qT[i * 16 + l] = l < NH ? qh[size_t(l) * D + i] : 0.0f;
    std::fill(oT, oT + size_t(D) * 16, 0.0f);
    for (int l = 0; l < 16; ++l) m[l] = -INFINITY, sum[l] = 0;
    auto row = [&](int s) -> const float* {
        if (s < rs.comp_slot0) return s < rs.n_win ? rs.rows[s] : nullptr;
        const int c = s - rs.comp_slot0;
        return c < rs.n_rows - rs.n_win ? rs.rows[rs.n_win + c] : nullptr;
    };
    const v16 vninf = vec::splat(-INFINITY);
    for (int k0 = 0; k0 < rs.n_slots; k0 += kBlock) {
        const int blk = std::min(kBlock, rs.n_slots - k0);
        // Live (non-padding) slots, compacted: their rows and where their scores go.
        const float* rl[kBlock];
        float* sl[kBlock];
        int n_live = 0;
        for (int j = 0; j < blk; ++j) {
            const float* r = row(k0 + j);
            if (r) rl[n_live] = r, sl[n_live++] = ps + j * 16;
            else store16(ps + j * 16, vninf);
        }
        // Scores, kWide rows per pass; the tail in passes of 8 and 4 (at least 3 add chains in
        // flight), the last one padded with repeats of the final row that write to a junk slot.
        int a = 0;
        for (; a + kWide <= n_live; a += kWide) score_rows<kWide>(qT, rl + a, D, scale, sl + a);
        if (kWide > 8 && a + 8 <= n_live) score_rows<8>(qT, rl + a, D, scale, sl + a), a += 8;
        for (; a < n_live; a += 4) {
            const float* r4[4];
            float* s4[4];
            for (int k = 0; k < 4; ++k) {
                const bool in = a + k < n_live;
                r4[k] = rl[in ? a + k : n_live - 1];
                s4[k] = in ? sl[a + k] : junk;
            }
            score_rows<4>(qT, r4, D, scale, s4);
        }
        v16 vbm = load16(m);
        for (int j = 0; j < blk; ++j) {
            const v16 pj = load16(ps + j * 16);
            vbm = pj > vbm ? pj : vbm;
        }
        for (int j = 0; j < blk; ++j) {
            store16(ps + j * 16, load16(ps + j * 16) - vbm);
            expf16(ps + j * 16);
        }
        store16(rescale, load16(m) - vbm);
        expf16(rescale);
        store16(m, vbm);
        alignas(64) float bsum[16];
        sum16(ps, blk, bsum);
        store16(sum, load16(sum) * load16(rescale) + load16(bsum));
        for (int b = 0; b < n_live; ++b) round_bf16_16(sl[b], pl + b * 16);
        // P.V, kWide dims (accumulators) per pass over the live rows.
        int i0 = 0;
        for (; i0 + kWide <= D; i0 += kWide) pv_dims<kWide>(pl, rl, n_live, i0, rescale, oT);
        for (; i0 + 4 <= D; i0 += 4) pv_dims<4>(pl, rl, n_live, i0, rescale, oT);
        for (; i0 < D; ++i0) pv_dims<1>(pl, rl, n_live, i0, rescale, oT);
    }
    alignas(64) float den[16];
    for (int l = 0; l < 16; ++l) den[l] = (l < NH ? sinks[l] : 0.0f) - m[l];
    expf16(den);
    store16(den, load16(sum) + load16(den));
    for (int i = 0; i < D; ++i) store16(oT + i * 16, load16(oT + i * 16) / load16(den));
    for (int i = 0; i < D16; i += 16) transpose16(oT + i * 16, 16, 16, oh + i, D, NH);
    for (int h = 0; h < NH; ++h)
        for (int i = D16; i < D; ++i) oh[size_t(h) * D + i] = oT[i * 16 + h];
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
