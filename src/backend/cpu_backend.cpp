// CPU backend: host memory, the thread pool, and the model's ops built from the reference
// definitions in src/model (hc, rope, compressor, indexer, attention, moe) plus the quant
// the SIMD kernels of kernels/cpu. Matrices are multiplied in their stored type (cpu_matmul.h):
// activations are converted once per call to the weight's dot type (float weights keep f32
// activations), then each thread takes contiguous blocks of weight rows and runs the GEMM
// (prefill) or GEMV (decode) kernel over the whole token batch.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <thread>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "backend/backend.h"
#include "backend/cpu_matmul.h"
#include "backend/thread_pool.h"
#include "kernels/cpu/kernels.h"
#include "model/attention.h"
#include "model/compressor.h"
#include "model/hc.h"
#include "model/indexer.h"
#include "model/moe.h"
#include "model/rope.h"
#include "model/torch_cpu.h"
#include "model/vec16.h"
#include "quant/lowp.h"
#include "quant/quants.h"
#include "util/error.h"

namespace ds4 {
namespace {

// Smallest amount of work (multiply-adds) worth a parallel job.
constexpr int64_t kMinJobMacs = 1 << 15;

inline float round_bf16(float x) { return bf16_to_fp32(fp32_to_bf16(x)); }

// A spin-wait step (waits of a few microseconds inside a job).
inline void cpu_relax() {
#if defined(__x86_64__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

// GCC vector types for the elementwise passes (compiled for any target, vectorised by -march).
typedef float vf16 __attribute__((vector_size(64)));
typedef uint32_t vu16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));

// round_bf16 over a span, 16 lanes at a time, bit-identical to the scalar converters.
using vec::round_bf16_span;

// max |x| over a block of 16-lane chunks; false when it holds a NaN or an infinity (those
// blocks take the scalar round trips, which define their NaN/Inf behaviour).
inline bool block_amax_finite(const float* xb, int block, float* amax_out) {
    vf16 vmax = {};
    vi16 bad = {};
    for (int i = 0; i < block; i += 16) {
        vu16 u;
        std::memcpy(&u, xb + i, 64);
        const vu16 au = u & 0x7FFFFFFFu;
        vf16 a;
        std::memcpy(&a, &au, 64);
        bad |= (vi16)(au >= 0x7F800000u);
        vmax = a > vmax ? a : vmax;
    }
    float amax = 0.0f;
    bool nonfinite = false;
    for (int l = 0; l < 16; ++l) amax = vmax[l] > amax ? vmax[l] : amax, nonfinite |= bad[l] != 0;
    *amax_out = amax;
    return !nonfinite;
}

// Block round trips through a low-precision format 16 lanes at a time, bit-identical to the
// scalar quant/lowp.h code: per block the power-of-two scale s from amax (with its floor),
// each x/s mapped to the format's grid by grid(v) (sign kept), times s. Blocks holding a NaN
// or an infinity, and widths not a multiple of 16, take the scalar code.
template <class Grid>
inline void lowp_roundtrip_fast(float* x, int n, int block, void (*scalar)(float*, int, int), float amax_floor,
                                float max_inv, Grid grid) {
    if (block % 16 != 0 || n % block != 0) return scalar(x, n, block);
    for (int b0 = 0; b0 < n; b0 += block) {
        float* xb = x + b0;
        float amax;
        if (!block_amax_finite(xb, block, &amax)) {
            scalar(xb, block, block);
            continue;
        }
        const float sc = ue8m0_round_scale(std::fmax(amax, amax_floor), max_inv);
        for (int i = 0; i < block; i += 16) {
            vf16 v;
            std::memcpy(&v, xb + i, 64);
            v = v / sc;
            vu16 u;
            std::memcpy(&u, &v, 64);
            const vu16 sign = u & 0x80000000u, au = u & 0x7FFFFFFFu;
            vf16 a;
            std::memcpy(&a, &au, 64);
            const vf16 g = grid(a);  // |v| on the grid, non-negative
            vu16 gu;
            std::memcpy(&gu, &g, 64);
            gu |= sign;
            vf16 y;
            std::memcpy(&y, &gu, 64);
            y = y * sc;
            std::memcpy(xb + i, &y, 64);
        }
    }
}

// E4M3: |v| clamped to 448; normal range: mantissa rounded to 3 bits, nearest even, by
// integer rounding of the f32 bits (the carry moves into the exponent); below 2^-6 the
// subnormal grid k*2^-9 by the 1.5*2^23 trick.
inline void fp8_roundtrip_fast(float* x, int n, int block) {
    lowp_roundtrip_fast(x, n, block, fp8_e4m3_block_roundtrip, kFp8AmaxFloor, kE4M3MaxInv, [](vf16 a) {
        a = a > 448.0f ? 448.0f : a;
        vu16 au;
        std::memcpy(&au, &a, 64);
        const vu16 rn = (au + (0x7FFFFu + ((au >> 20) & 1u))) & 0xFFF00000u;
        vf16 gn;
        std::memcpy(&gn, &rn, 64);
        gn = gn > 448.0f ? 448.0f : gn;
        const vf16 gs = ((a * 512.0f + 12582912.0f) - 12582912.0f) * (1.0f / 512.0f);
        return a < 0x1p-6f ? gs : gn;
    });
}

// E2M1: |v| on {0, .5, 1, 1.5, 2, 3, 4, 6}, ties to even: steps 0.5 / 1 / 2 below 2 / 4 / 6
// (every scaled step is exact; the 1.5*2^23 trick rounds), 6 above.
inline void fp4_roundtrip_fast(float* x, int n, int block) {
    lowp_roundtrip_fast(x, n, block, fp4_e2m1_block_roundtrip, kFp4AmaxFloor, kE2M1MaxInv, [](vf16 a) {
        const float magic = 12582912.0f;
        const vf16 lo = ((a * 2.0f + magic) - magic) * 0.5f;
        const vf16 mid = ((a - 2.0f + magic) - magic) + 2.0f;
        const vf16 hi = (((a - 4.0f) * 0.5f + magic) - magic) * 2.0f + 4.0f;
        const vf16 g = a < 2.0f ? lo : (a < 4.0f ? mid : hi);
        return a >= 6.0f ? 6.0f : g;
    });
}

// h[i] = moe::swiglu(h[i], u[i], clamp, exact) * scale (scale 1 is exact: x * 1 == x). The
// exact silu (Sleef exp) runs 16 lanes at a time.
inline void swiglu_span(float* h, const float* u, size_t n, float clamp, bool exact, float scale) {
    size_t i = 0;
    if (exact) {
        for (; i + 16 <= n; i += 16) {
            vf16 g = vec::load(h + i), v = vec::load(u + i);
            if (clamp > 0) {
                g = g < clamp ? g : vec::splat(clamp);
                v = v < -clamp ? vec::splat(-clamp) : (v > clamp ? vec::splat(clamp) : v);
            }
            vec::store(h + i, g / (1.0f + vec::expf(-g)) * v * scale);
        }
    }
    for (; i < n; ++i) h[i] = moe::swiglu(h[i], u[i], clamp, exact) * scale;
}

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(int n_threads) : pool_(n_threads), scratch_(pool_.size()) { kernels_cpu_init(); }
    ~CpuBackend() override {
        for (auto& kv : allocs_) std::free(kv.first);
    }

    std::string name() const override { return "cpu"; }
    int n_threads() const override { return pool_.size(); }

    // ---------------------------------------------------------------- memory
    void* alloc(size_t bytes) override {
        void* p = std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64);
        if (!p) fail("cpu backend: out of memory allocating %zu bytes", bytes);
        std::memset(p, 0, bytes);
        std::lock_guard<std::mutex> lk(mu_);
        allocs_[p] = bytes;
        resident_ += bytes;
        return p;
    }
    void free(void* p) override {
        if (!p) return;
        std::lock_guard<std::mutex> lk(mu_);
        auto it = allocs_.find(p);
        if (it == allocs_.end()) return;
        resident_ -= it->second;
        allocs_.erase(it);
        std::free(p);
    }
    void upload(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
    void download(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
    void copy(void* dst, const void* src, size_t n) override { std::memmove(dst, src, n); }
    void fill_f32(float* dst, float v, size_t n) override { std::fill(dst, dst + n, v); }
    size_t resident_bytes() const override { return resident_; }

    // ---------------------------------------------------------------- dense math
    void matmul(const Weight& w, int64_t row0, int64_t n_rows, const float* x, int64_t ldx, int T,
                float* y, int64_t ldy, ActQuant aq, int exact_block) override {
        const int64_t n = w.n_in();
        const float* xf = x;
        if (aq == ActQuant::Fp8Block128) {
            float* q = f32_buf(act_f32_, size_t(T) * n);
            for (int t = 0; t < T; ++t) {
                std::memcpy(q + size_t(t) * n, x + size_t(t) * ldx, sizeof(float) * n);
                fp8_roundtrip_fast(q + size_t(t) * n, int(n), 128);
            }
            xf = q;
            ldx = n;
        }
        if (exact_block != 0 && is_float(w.type)) {
            const int64_t grain = seq_grain(n_rows, w.row_bytes, T, pool_.size());
            const int64_t items = seq_items(n_rows, grain);
            pool_.parallel_for(items, 1, [&](int64_t b, int64_t e, int th) {
                for (int64_t it = b; it < e; ++it) {
                    const int64_t r0 = it * grain, r1 = seq_item_end(it, items, n_rows, grain);
                    exact_rows(w, row0 + r0, r1 - r0, xf, ldx, T, n, y + r0, ldy, exact_block, th);
                }
            });
            return;
        }
        const cpu::Act a = cpu::convert_act(pool_, w.type, xf, ldx, T, n, act_q_);
        const int64_t grain = cpu::row_grain(n_rows, w.row_bytes, T, pool_.size());
        pool_.parallel_for(n_rows, grain, [&](int64_t b, int64_t e, int) {
            cpu::gemm_rows(w.type, w.row(row0 + b), w.row_bytes, e - b, a, T, n, y + b, ldy);
        });
    }

    // Decode: one job over the row items of every call (prefill calls are big enough alone).
    // Calls reading the same x with the same conversion share its converted activations.
    void matmuls(const MatmulCall* c, int n_calls, int T) override {
        if (T >= 4 || n_calls == 1 || pool_.size() == 1) return Backend::matmuls(c, n_calls, T);
        if (batch_act_.size() < size_t(n_calls)) batch_act_.resize(n_calls), batch_f32_.resize(n_calls);
        std::vector<cpu::Act>& act = batch_a_;
        act.assign(n_calls, cpu::Act{});
        batch_items_.clear();
        for (int i = 0; i < n_calls; ++i) {
            const Weight& w = *c[i].w;
            const int64_t n = w.n_in();
            const bool exact = c[i].exact_block != 0 && is_float(w.type);
            int same = -1;  // an earlier call with the same activation conversion
            for (int j = 0; j < i && same < 0; ++j)
                if (c[j].x == c[i].x && c[j].ldx == c[i].ldx && c[j].aq == c[i].aq && c[j].w->n_in() == n &&
                    (c[j].exact_block != 0 && is_float(c[j].w->type)) == exact &&
                    vec_dot_type(c[j].w->type) == vec_dot_type(w.type))
                    same = j;
            if (same >= 0) {
                act[i] = act[same];
            } else {
                const float* xf = c[i].x;
                int64_t ldx = c[i].ldx;
                if (c[i].aq == ActQuant::Fp8Block128) {
                    float* q = f32_buf(batch_f32_[i], size_t(T) * n);
                    for (int t = 0; t < T; ++t) {
                        std::memcpy(q + size_t(t) * n, c[i].x + size_t(t) * ldx, sizeof(float) * n);
                        fp8_roundtrip_fast(q + size_t(t) * n, int(n), 128);
                    }
                    xf = q;
                    ldx = n;
                }
                act[i] = exact ? cpu::Act{reinterpret_cast<const uint8_t*>(xf), size_t(ldx) * sizeof(float), true}
                               : cpu::convert_act(pool_, w.type, xf, ldx, T, n, batch_act_[i]);
            }
            const int64_t rows = c[i].n_rows;
            if (exact) {
                const int64_t grain = seq_grain(rows, w.row_bytes, T, pool_.size()), items = seq_items(rows, grain);
                for (int64_t it = 0; it < items; ++it)
                    batch_items_.push_back({i, it * grain, seq_item_end(it, items, rows, grain)});
            } else {
                const int64_t grain = cpu::row_grain(rows, w.row_bytes, T, pool_.size());
                for (int64_t r0 = 0; r0 < rows; r0 += grain) batch_items_.push_back({i, r0, std::min(rows, r0 + grain)});
            }
        }
        pool_.parallel_for(int64_t(batch_items_.size()), 1, [&](int64_t b, int64_t e, int th) {
            for (int64_t it = b; it < e; ++it) {
                const Item& I = batch_items_[it];
                const MatmulCall& m = c[I.expert];
                const Weight& w = *m.w;
                const cpu::Act& a = act[I.expert];
                if (m.exact_block != 0 && is_float(w.type)) {
                    exact_rows(w, m.row0 + I.rb, I.re - I.rb, reinterpret_cast<const float*>(a.data),
                               int64_t(a.row_bytes / sizeof(float)), T, w.n_in(), m.y + I.rb, m.ldy, m.exact_block, th);
                } else {
                    cpu::gemm_rows(w.type, w.row(m.row0 + I.rb), w.row_bytes, I.re - I.rb, a, T, w.n_in(), m.y + I.rb,
                                   m.ldy);
                }
            }
        });
    }

    void matmul_groups(const Weight& w, int G, int64_t rows, const float* x, int T, float* y, int64_t ldy,
                       int exact_block) override {
        const int64_t n = w.n_in();
        const bool exact = exact_block != 0 && is_float(w.type);
        // x as T*G rows of n floats (row t*G + g = token t, group g): quantized row by row,
        // the same bytes as converting each group's columns separately.
        const cpu::Act a = exact ? cpu::Act{} : cpu::convert_act(pool_, w.type, x, n, T * G, n, act_q_);
        const int64_t grain = exact ? (cpu::row_grain(G * rows, w.row_bytes, T, pool_.size()) + 15) / 16 * 16
                                    : cpu::row_grain(G * rows, w.row_bytes, T, pool_.size());
        const int64_t n_blk = exact ? seq_items(rows, grain) : (rows + grain - 1) / grain;
        pool_.parallel_for(G * n_blk, 1, [&](int64_t b, int64_t e, int th) {
            for (int64_t it = b; it < e; ++it) {
                const int64_t g = it / n_blk, blk = it % n_blk, r0 = blk * grain;
                const int64_t nr = (exact ? seq_item_end(blk, n_blk, rows, grain) : std::min(rows, r0 + grain)) - r0;
                float* yg = y + g * rows + r0;
                if (exact) {
                    exact_rows(w, g * rows + r0, nr, x + g * n, G * n, T, n, yg, ldy, exact_block, th);
                    continue;
                }
                const cpu::Act ag{a.data + size_t(g) * a.row_bytes, a.row_bytes * size_t(G), a.f32};
                cpu::gemm_rows(w.type, w.row(g * rows + r0), w.row_bytes, nr, ag, T, n, yg, ldy);
            }
        });
    }

    void get_rows(const Weight& table, const int32_t* ids, int T, float* y) override {
        const int64_t n = table.n_in();
        for (int t = 0; t < T; ++t) {
            if (ids[t] < 0 || ids[t] >= table.n_rows())
                fail("token id %d out of range for %s (%lld rows)", ids[t], table.name.c_str(), (long long)table.n_rows());
            dequantize_row(table.type, table.row(ids[t]), y + size_t(t) * n, n);
        }
    }

    void rms_norm(const float* x, const float* w, int rows, int n, float eps, float* y, bool exact) override {
        pool_.parallel_for(rows, std::max(1, rows / (pool_.size() * 4)), [&](int64_t b, int64_t e, int) {
            for (int64_t r = b; r < e; ++r) {
                const float* xr = x + size_t(r) * n;
                float* yr = y + size_t(r) * n;
                const float s = hc::rsqrt_mean_square(xr, n, eps, exact);
                int i = 0;
                if (w)
                    for (; i + 16 <= n; i += 16) vec::store(yr + i, vec::load(w + i) * (vec::load(xr + i) * s));
                else
                    for (; i + 16 <= n; i += 16) vec::store(yr + i, vec::load(xr + i) * s);
                for (; i < n; ++i) yr[i] = w ? w[i] * (xr[i] * s) : xr[i] * s;
            }
        });
    }

    void rms_norm_bf16(float* x, int rows, int n, float eps) override {
        pool_.parallel_for(rows, std::max(1, rows / (pool_.size() * 4)), [&](int64_t b, int64_t e, int) {
            for (int64_t r = b; r < e; ++r) {
                float* xr = x + size_t(r) * n;
                round_bf16_span(xr, size_t(n));
                // The cascade sum of the bf16 squares (the row is in L1: a pass costs less than
                // rounding x again in each of the next two).
                const float ss = vec::sum(xr, n, [](vec::v16 v) { return vec::round_bf16(v * v); });
                const float mean = ::ds4::round_bf16(ss / float(n));
                // torch.rsqrt on the [rows] bf16 tensor: the vectorised lanes (whole chunks of 32)
                // round once, the scalar tail rounds sqrt to bf16 before the division.
                const float v = ::ds4::round_bf16(mean + eps);
                const float rs = r < rows / 32 * 32 ? ::ds4::round_bf16(1.0f / std::sqrt(v))
                                                    : ::ds4::round_bf16(1.0f / ::ds4::round_bf16(std::sqrt(v)));
                int i = 0;
                for (; i + 16 <= n; i += 16) vec::store(xr + i, vec::round_bf16(vec::load(xr + i) * rs));
                for (; i < n; ++i) xr[i] = ::ds4::round_bf16(xr[i] * rs);
            }
        });
    }

    void add(float* y, const float* x, size_t n) override {
        for (size_t i = 0; i < n; ++i) y[i] += x[i];
    }
    void scale(float* x, size_t n, float s) override {
        for (size_t i = 0; i < n; ++i) x[i] *= s;
    }
    void round_bf16(float* x, size_t n) override {
        if (n < (size_t(1) << 15)) return round_bf16_span(x, n);
        const int64_t chunk = 1 << 13;
        pool_.parallel_for((int64_t(n) + chunk - 1) / chunk, 1, [&](int64_t b, int64_t e, int) {
            const size_t i0 = size_t(b * chunk), i1 = std::min(n, size_t(e * chunk));
            round_bf16_span(x + i0, i1 - i0);
        });
    }

    // ---------------------------------------------------------------- hyper-connections
    void hc_pre(const float* mix, const float* state, const float* scale, const float* base, int T,
                int n_hc, int dim, int iters, float hc_eps, float norm_eps, float* x, float* post,
                float* comb, bool exact) override {
        const int nm = hc::mix_size(n_hc);
        pool_.parallel_for(T, 1, [&](int64_t b, int64_t e, int) {
            for (int64_t t = b; t < e; ++t)
                hc::pre_token(mix + size_t(t) * nm, state + size_t(t) * n_hc * dim, scale, base, n_hc, dim,
                              iters, hc_eps, norm_eps, x + size_t(t) * dim, post + size_t(t) * n_hc,
                              comb + size_t(t) * n_hc * n_hc, hc::Exact{exact, t, T});
        });
    }
    void hc_post(float* state, const float* y, const float* post, const float* comb, int T, int n_hc,
                 int dim, bool bf16) override {
        // Decode: the token's columns split across the threads. Its state comes from DRAM (the
        // layer's weights have streamed through the caches since hc_pre): two cores fetch it
        // faster than one, which pays for the dispatch.
        const int split = T < pool_.size() ? pool_.size() : 1;
        const int cols = (dim / split + 15) / 16 * 16;
        pool_.parallel_for(int64_t(T) * split, 1, [&](int64_t b, int64_t e, int) {
            for (int64_t it = b; it < e; ++it) {
                const int64_t t = it / split;
                const int part = int(it % split);
                const int d0 = std::min(dim, part * cols), d1 = part == split - 1 ? dim : std::min(dim, d0 + cols);
                hc::post_token(state + size_t(t) * n_hc * dim, y + size_t(t) * dim, post + size_t(t) * n_hc,
                               comb + size_t(t) * n_hc * n_hc, n_hc, dim, bf16, d0, d1);
            }
        });
    }
    void hc_head(const float* mix, const float* state, const float* scale, const float* base, int T,
                 int n_hc, int dim, float hc_eps, float norm_eps, float* x, int exact_row0, int exact_T) override {
        for (int t = 0; t < T; ++t)
            hc::head_token(mix + size_t(t) * n_hc, state + size_t(t) * n_hc * dim, scale, base, n_hc, dim,
                           hc_eps, norm_eps, x + size_t(t) * dim, hc::Exact{exact_T > 0, exact_row0 + t, exact_T});
    }
    void broadcast_streams(const float* x, int T, int n_hc, int dim, float* state) override {
        for (int t = 0; t < T; ++t)
            for (int h = 0; h < n_hc; ++h)
                std::memcpy(state + (size_t(t) * n_hc + h) * dim, x + size_t(t) * dim, sizeof(float) * dim);
    }

    // ---------------------------------------------------------------- positions
    void rope_tail(float* x, int T, int n_heads, int head_dim, int64_t pos0, int64_t pos_step,
                   const float* inv_freq, int n_pairs, bool inverse, bool bf16) override {
        const int off = head_dim - 2 * n_pairs;
        pool_.parallel_for(T, std::max(1, T / (pool_.size() * 4)), [&](int64_t b, int64_t e, int th) {
            float* cs = thread_f32(th, 0, size_t(4) * n_pairs);  // one sin/cos table per token
            for (int64_t t = b; t < e; ++t) {
                rope::pair_factors(n_pairs, inv_freq, pos0 + t * pos_step, inverse, cs);
                for (int h = 0; h < n_heads; ++h) {
                    float* xh = x + (size_t(t) * n_heads + h) * head_dim + off;
                    rope::rotate(xh, n_pairs, cs);
                    if (bf16) round_bf16_span(xh, size_t(2) * n_pairs);
                }
            }
        });
    }

    // ---------------------------------------------------------------- low precision
    void fp8_rows(float* x, int rows, int64_t ld, int n) override {
        pool_.parallel_for(rows, std::max(1, rows / (pool_.size() * 4)), [&](int64_t b, int64_t e, int) {
            for (int64_t r = b; r < e; ++r) fp8_roundtrip_fast(x + size_t(r) * ld, n, 64);
        });
    }
    void hadamard_rows(float* x, int rows, int n) override {
        const float scale = 1.0f / std::sqrt(float(n));
        pool_.parallel_for(rows, std::max(1, rows / (pool_.size() * 4)), [&](int64_t b, int64_t e, int) {
            for (int64_t r = b; r < e; ++r) hadamard_inplace(x + size_t(r) * n, n, scale);
        });
    }
    void fp4_rows(float* x, int rows, int n) override {
        pool_.parallel_for(rows, std::max(1, rows / (pool_.size() * 4)), [&](int64_t b, int64_t e, int) {
            for (int64_t r = b; r < e; ++r) fp4_roundtrip_fast(x + size_t(r) * n, n, 32);
        });
    }

    // ---------------------------------------------------------------- compression, attention
    bool compressor_push(const CompressorArgs& a, const float* kv, const float* score, int64_t pos,
                         float* out) override {
        return compressor::push(a, kv, score, pos, out);
    }

    void indexer_select(const float* q, const float* w, const float* keys, int T, int64_t pos0, int ratio,
                        int n_heads, int dim, int top_k, bool bf16_scores, int32_t* sel,
                        int32_t* sel_n) override {
        auto all_chosen = [&](int64_t t, int64_t n_vis) {
            if (n_vis > top_k || bf16_scores) return false;
            // Every visible row is chosen; scoring cannot change the set.
            int32_t* out = sel + size_t(t) * top_k;
            for (int64_t c = 0; c < n_vis; ++c) out[c] = int32_t(c);
            sel_n[t] = int32_t(n_vis);
            return true;
        };
        if (T < pool_.size()) {
            // Decode: the rows of one query split across the threads (blocks of 16 rows, the
            // vector kernel's pass), then one top-k.
            for (int t = 0; t < T; ++t) {
                const int64_t n_vis = (pos0 + t + 1) / ratio;
                if (all_chosen(t, n_vis)) continue;
                float* sc = f32_buf(index_scores_, size_t(n_vis));
                const float* qt = q + size_t(t) * n_heads * dim;
                const float* wt = w + size_t(t) * n_heads;
                pool_.parallel_for((n_vis + 15) / 16, 1, [&](int64_t b, int64_t e, int) {
                    indexer::scores(qt, wt, keys, n_vis, b * 16, std::min(n_vis, e * 16), n_heads, dim,
                                    bf16_scores, sc);
                });
                int32_t* heap = reinterpret_cast<int32_t*>(thread_f32(0, 1, size_t(top_k)));
                sel_n[t] = indexer::top_k(sc, n_vis, top_k, sel + size_t(t) * top_k, heap);
            }
            return;
        }
        pool_.parallel_for(T, 1, [&](int64_t b, int64_t e, int th) {
            for (int64_t t = b; t < e; ++t) {
                const int64_t n_vis = (pos0 + t + 1) / ratio;
                if (all_chosen(t, n_vis)) continue;
                float* sc = thread_f32(th, 0, size_t(n_vis));
                int32_t* heap = reinterpret_cast<int32_t*>(thread_f32(th, 1, size_t(top_k)));
                indexer::scores(q + size_t(t) * n_heads * dim, w + size_t(t) * n_heads, keys, n_vis, 0, n_vis,
                                n_heads, dim, bf16_scores, sc);
                sel_n[t] = indexer::top_k(sc, n_vis, top_k, sel + size_t(t) * top_k, heap);
            }
        });
    }

    void attention(const AttnArgs& a, const float* q, int T, float* out) override {
        const int H = a.n_head, D = a.head_dim;
        // Work item = (token, head block): decode has one token but many heads.
        int hb = std::max(1, std::min(H, H * T / (pool_.size() * 4) + 1));
        const int64_t head_macs = int64_t(a.window + (a.sel ? a.sel_stride : 0)) * D * 2;
        hb = std::min<int64_t>(H, std::max<int64_t>(hb, kMinJobMacs / std::max<int64_t>(1, head_macs)));
        // The exact kernel runs 16 heads per vector (one per lane): keep blocks whole groups.
        if (a.bf16 && a.exact) hb = std::min(H, (hb + 15) / 16 * 16);
        const int n_hblk = (H + hb - 1) / hb;
        pool_.parallel_for(int64_t(T) * n_hblk, 1, [&](int64_t b, int64_t e, int th) {
            for (int64_t it = b; it < e; ++it) {
                const int t = int(it / n_hblk), h0 = int(it % n_hblk) * hb, h1 = std::min(H, h0 + hb);
                const int64_t pos = a.pos0 + t;
                const int64_t first = std::max<int64_t>(0, pos - a.window + 1);
                int64_t n_comp = 0;
                if (a.comp) n_comp = a.sel ? a.sel_n[t] : (pos + 1) / a.ratio;
                const size_t n_rows = size_t(pos - first + 1 + n_comp);
                const float** rows = reinterpret_cast<const float**>(thread_f32(th, 0, n_rows * 2));
                float* sc = thread_f32(th, 1, std::max<size_t>(n_rows, 64));
                size_t k = 0;
                for (int64_t p = first; p <= pos; ++p)
                    rows[k++] = p < a.pos0 ? a.raw_ring + size_t(p % a.window) * D
                                           : a.raw_chunk + size_t(p - a.pos0) * D;
                for (int64_t c = 0; c < n_comp; ++c) {
                    const int64_t row = a.sel ? a.sel[size_t(t) * a.sel_stride + c] : c;
                    rows[k++] = a.comp + size_t(row) * D;
                }
                const int n_slots = a.win_slots + int(a.comp ? (a.comp_slots >= 0 ? a.comp_slots : n_comp) : 0);
                attention::RowSet rs{rows, int(n_rows), int(pos - first + 1), a.win_slots, n_slots};
                attention::attend(q + size_t(t) * H * D, rs, a.sinks, h0, h1, D, a.scale, a.bf16, sc,
                                  out + size_t(t) * H * D, a.exact);
            }
        });
    }

    // ---------------------------------------------------------------- experts
    void route(const float* logits, const float* bias, const Weight* tid2eid, const int32_t* tokens,
               int T, int n_expert, int k, float scale, int32_t* sel, float* weight, bool exact) override {
        std::vector<float>& p = scratch_[0].f[2];
        if (p.size() < size_t(n_expert)) p.resize(n_expert);
        for (int t = 0; t < T; ++t) {
            const int32_t* hash_row = nullptr;
            if (tid2eid) {
                if (tokens[t] < 0 || tokens[t] >= tid2eid->n_rows())
                    fail("token id %d out of range for %s", tokens[t], tid2eid->name.c_str());
                hash_row = reinterpret_cast<const int32_t*>(tid2eid->row(tokens[t]));
            }
            moe::route_token(logits + size_t(t) * n_expert, bias, hash_row, n_expert, k, scale, p.data(),
                             sel + size_t(t) * k, weight + size_t(t) * k, moe::Exact{exact, t, T});
        }
    }

    void moe(const Weight& gate, const Weight& up, const Weight& down, const float* x, int T,
             const int32_t* sel, const float* weight, int k, float clamp, ActQuant aq, bool bf16_act,
             float* out, bool exact) override;

    void build_moe_items(int64_t rows, size_t row_bytes, int A);
    template <class Swiglu>
    void moe_decode_job(const Weight& gate, const Weight& up, const Weight& down, const cpu::Act& ag,
                        const cpu::Act& au, float* hg, float* hu, float* od, const Swiglu& swiglu_rows);
    template <class Swiglu>
    void moe_batch_jobs(const Weight& gate, const Weight& up, const Weight& down, const cpu::Act& ag,
                        const cpu::Act& au, float* hg, float* hu, float* od, const Swiglu& swiglu_rows, int eb, int A);

    void swiglu(float* g, const float* u, size_t n, float clamp, bool exact) override {
        swiglu_span(g, u, n, clamp, exact, 1.0f);
    }

private:
    struct Scratch {
        std::vector<float> f[3];
    };
    // Scratch grows geometrically: sizes that track the context (attention rows, indexer
    // scores) would otherwise reallocate on every decoded token.
    float* thread_f32(int th, int slot, size_t n) { return f32_buf(scratch_[th].f[slot], n); }
    float* f32_buf(std::vector<float>& v, size_t n) {
        if (v.size() < n) v.resize(std::max(n, v.size() * 2));
        return v.data();
    }

    // Rows per item of the sequential-order kernel, which streams 16 rows at once (one pass over
    // K per 16-row group, prefetching the next group within an item): whole groups, decode
    // items of >= 1/4 of a thread's share. A decode matrix of under 2 groups per thread is cut
    // into one item per thread (items of >= 32 KiB) with as few passes each; where that is 1
    // pass, into equal 4-row multiples (a pass costs the same for 4-16 rows): hc_*_fn's 24
    // rows are 2 items of 12, each thread reading half the bytes, not 1 item of 2 passes.
    static int64_t seq_grain(int64_t n_rows, size_t row_bytes, int T, int threads) {
        int64_t grain = cpu::row_grain(n_rows, row_bytes, T, threads);  // decode: >= 32 KiB
        const int64_t passes = (n_rows + 15) / 16;
        if (T < 4 && passes < 2 * threads) {
            const int64_t items = std::clamp<int64_t>(n_rows / grain, 1, std::min<int64_t>(threads, passes));
            const int64_t per = (passes + items - 1) / items;
            return per > 1 ? 16 * per : ((n_rows + items - 1) / items + 3) / 4 * 4;
        }
        if (T < 4) grain = std::max<int64_t>(grain, n_rows / (4 * threads));
        return (grain + 15) / 16 * 16;
    }

    // Row items of the sequential-order kernel (grain a multiple of 4): grain rows each and a
    // last item of the rest. A rest of 4-15 rows stands alone (one pass of the kernel,
    // whose spare lanes repeat rows: as fast as a whole group, so a 24-row matrix is 2 items
    // of 1 pass, not 1 item of 2); under 4 rows it joins the item before (the kernel would
    // copy it into a padded buffer).
    static int64_t seq_items(int64_t n_rows, int64_t grain) {
        const int64_t items = std::max<int64_t>(1, (n_rows + grain - 1) / grain);
        return items > 1 && n_rows - (items - 1) * grain < 4 ? items - 1 : items;
    }
    static int64_t seq_item_end(int64_t item, int64_t n_items, int64_t n_rows, int64_t grain) {
        return item + 1 == n_items ? n_rows : (item + 1) * grain;
    }

    static bool is_float(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }

    // Official numerics (Backend::matmul's exact_block): n_rows float weight rows from wrow0
    // against T f32 activation rows, each output a sequential f32 sum (per K block of `block`
    // when block > 0, the block sums added in order; block -2: the bf16 GEMM's pair order).
    void exact_rows(const Weight& w, int64_t wrow0, int64_t n_rows, const float* x, int64_t ldx, int64_t T,
                    int64_t n, float* y, int64_t ldy, int block, int th) {
        // Bit-identical to tcpu::dot per K block (tcpu::dot_bf16 for block -2) on the widened
        // weights; kernels_float_act.cpp vectorises it across rows.
        gemm_f32act_seq(w.type, w.row(wrow0), w.row_bytes, n_rows, x, ldx, T, n, y, ldy, block);
    }

    ThreadPool pool_;
    std::vector<Scratch> scratch_;
    std::vector<float> index_scores_;  // decode: one query's indexer scores, shared by the threads
    std::vector<uint8_t> act_q_, act_g_, act_u_;
    std::vector<float> act_f32_, moe_x_, moe_h_, moe_u_, moe_o_;
    struct Assign {
        int32_t t, k;
    };
    std::vector<Assign> assign_;
    std::vector<int32_t> expert_begin_, cursor_, tok_of_;
    struct Item {
        int32_t expert;  // (matmuls: the call)
        int64_t rb, re;
    };
    std::vector<Item> items_, batch_items_;
    std::vector<std::vector<uint8_t>> batch_act_;  // matmuls: converted activations per call
    std::vector<std::vector<float>> batch_f32_;
    std::vector<cpu::Act> batch_a_;
    std::vector<std::atomic<int>> moe_left_;  // decode MoE job: gate/up blocks left per expert (-1: h ready)
    std::mutex mu_;
    std::unordered_map<void*, size_t> allocs_;
    size_t resident_ = 0;
};

void CpuBackend::moe(const Weight& gate, const Weight& up, const Weight& down, const float* x, int T,
                     const int32_t* sel, const float* weight, int k, float clamp, ActQuant aq, bool bf16_act,
                     float* out, bool exact) {
    const int64_t D = gate.n_in(), F = gate.ne[1], E = gate.ne[2];
    // Group (token, slot) pairs by expert, experts ascending: each expert's weights are then
    // streamed once per batch, and summing outputs in this order matches the reference.
    expert_begin_.assign(E + 1, 0);
    for (int i = 0; i < T * k; ++i) expert_begin_[sel[i] + 1]++;
    for (int64_t e = 0; e < E; ++e) expert_begin_[e + 1] += expert_begin_[e];
    const int A = T * k;
    assign_.resize(A);
    cursor_.assign(expert_begin_.begin(), expert_begin_.end() - 1);
    for (int t = 0; t < T; ++t)
        for (int j = 0; j < k; ++j) assign_[cursor_[sel[t * k + j]]++] = {t, j};

    // Official numerics on float weights: the FP4 GEMM's K blocks of 32 (exact_rows).
    const int eb = exact && aq == ActQuant::Fp8Block128 && is_float(gate.type) && is_float(up.type) && is_float(down.type) ? 32 : 0;
    // Activations for gate/up: one conversion per token, shared by all its experts.
    const float* xs = x;
    if (aq == ActQuant::Fp8Block128) {
        float* q = f32_buf(moe_x_, size_t(T) * D);
        pool_.parallel_for(T, 1, [&](int64_t b, int64_t e, int) {
            for (int64_t t = b; t < e; ++t) {
                std::memcpy(q + size_t(t) * D, x + size_t(t) * D, sizeof(float) * D);
                fp8_roundtrip_fast(q + size_t(t) * D, int(D), 128);
            }
        });
        xs = q;
    }
    // Activations for gate/up: converted once per token, then gathered in assignment order so
    // each expert's tokens are contiguous rows (one GEMM per expert and row block).
    tok_of_.resize(A);
    for (int i = 0; i < A; ++i) tok_of_[i] = assign_[i].t;
    const cpu::Act ag = cpu::gather_act(cpu::convert_act(pool_, gate.type, xs, D, T, D, act_q_), tok_of_.data(),
                                        A, D, act_g_);
    const cpu::Act au = up.type == gate.type
                            ? ag
                            : cpu::gather_act(cpu::convert_act(pool_, up.type, xs, D, T, D, act_q_),
                                              tok_of_.data(), A, D, act_u_);

    float* hg = f32_buf(moe_h_, size_t(A) * F);
    float* hu = f32_buf(moe_u_, size_t(A) * F);
    // h = silu(min(g, c)) * clamp(u) * routing weight (the weight goes in before W2).
    auto swiglu_rows = [&](int a0, int a1) {
        for (int a = a0; a < a1; ++a) {
            const float wgt = weight[assign_[a].t * k + assign_[a].k];
            float* h = hg + size_t(a) * F;
            float* u = hu + size_t(a) * F;
            // Exact numerics: W1/W3 outputs are bf16, the SwiGLU runs in f32 on them.
            if (bf16_act) {
                round_bf16_span(h, size_t(F));
                round_bf16_span(u, size_t(F));
            }
            swiglu_span(h, u, size_t(F), clamp, exact, wgt);
            if (bf16_act) round_bf16_span(h, size_t(F));
            if (aq == ActQuant::Fp8Block128) fp8_roundtrip_fast(h, int(F), 128);
        }
    };
    float* od = f32_buf(moe_o_, size_t(A) * D);
    if (T < 4 && !eb && pool_.size() > 1) {
        moe_decode_job(gate, up, down, ag, au, hg, hu, od, swiglu_rows);
    } else {
        moe_batch_jobs(gate, up, down, ag, au, hg, hu, od, swiglu_rows, eb, A);
    }
    // Each output element sums its token's assignments in assignment order (experts
    // ascending); threads split the columns, so the order per element is unchanged.
    const int64_t cchunk = 256;
    const int64_t n_cchunk = (D + cchunk - 1) / cchunk;
    // Decode-sized sums (a few experts) stay on the caller: a dispatch would cost more.
    pool_.parallel_for(n_cchunk, int64_t(A) * D < (1 << 16) ? n_cchunk : 1, [&](int64_t b, int64_t e, int) {
        const int64_t i0 = b * cchunk, i1 = std::min(D, e * cchunk);
        for (int t = 0; t < T; ++t) std::fill(out + size_t(t) * D + i0, out + size_t(t) * D + i1, 0.0f);
        for (int a = 0; a < A; ++a) {
            float* o = od + size_t(a) * D;
            float* y = out + size_t(assign_[a].t) * D;
            if (bf16_act) round_bf16_span(o + i0, size_t(i1 - i0));  // each (a, chunk) is visited once
            for (int64_t i = i0; i < i1; ++i) y[i] += o[i];
        }
    });
}

// Work items = (expert, block of output rows), each a GEMM over all the expert's tokens.
void CpuBackend::build_moe_items(int64_t rows, size_t row_bytes, int A) {
    const int64_t E = int64_t(expert_begin_.size()) - 1;
    int n_active = 0;
    for (int64_t e = 0; e < E; ++e) n_active += expert_begin_[e] != expert_begin_[e + 1];
    const int64_t blk = cpu::row_grain(rows * n_active, row_bytes, (A + n_active - 1) / std::max(1, n_active),
                                       pool_.size());
    for (int64_t e = 0; e < E; ++e) {
        if (expert_begin_[e] == expert_begin_[e + 1]) continue;
        for (int64_t rb = 0; rb < rows; rb += blk) items_.push_back({int32_t(e), rb, std::min(rows, rb + blk)});
    }
}

// Decode: the whole MoE as one job. Items are claimed in order (the pool's counter): every
// expert's gate/up row blocks, then every expert's down row blocks. The thread finishing an
// expert's last gate/up block runs its SwiGLU and converts its h for W2; a down block waits
// (spins) until its expert's h is ready, which happens only for the last experts, as all the
// gate/up blocks were claimed first and are being worked on. Saves the two joins, the serial
// SwiGLU between them and the memory pipeline's drain and ramp at each.
template <class Swiglu>
void CpuBackend::moe_decode_job(const Weight& gate, const Weight& up, const Weight& down, const cpu::Act& ag,
                                const cpu::Act& au, float* hg, float* hu, float* od, const Swiglu& swiglu_rows) {
    const int64_t D = gate.n_in(), F = gate.ne[1], E = gate.ne[2];
    const int A = expert_begin_[E];
    items_.clear();
    build_moe_items(F, gate.row_bytes + up.row_bytes, A);
    const int64_t n_gu = int64_t(items_.size());
    build_moe_items(D, down.row_bytes, A);
    if (moe_left_.size() < size_t(E)) moe_left_ = std::vector<std::atomic<int>>(size_t(E));
    for (int64_t e = 0; e < E; ++e) moe_left_[e].store(0, std::memory_order_relaxed);
    for (int64_t i = 0; i < n_gu; ++i) moe_left_[items_[i].expert].fetch_add(1, std::memory_order_relaxed);
    // h for W2, converted per expert into rows a of the down activations.
    const bool f32_down = is_float(down.type);
    const GgmlType at = f32_down ? GgmlType::F32 : vec_dot_type(down.type);
    const size_t rb = f32_down ? size_t(F) * sizeof(float) : size_t(row_size(at, F));
    if (act_q_.size() < rb * size_t(A)) act_q_.resize(rb * size_t(A));
    const cpu::Act ad = f32_down ? cpu::Act{reinterpret_cast<const uint8_t*>(hg), rb, true}
                                 : cpu::Act{act_q_.data(), rb, false};
    pool_.parallel_for(int64_t(items_.size()), 1, [&](int64_t b, int64_t e, int) {
        for (int64_t it = b; it < e; ++it) {
            const Item& I = items_[it];
            const int a0 = expert_begin_[I.expert], na = expert_begin_[I.expert + 1] - a0;
            std::atomic<int>& left = moe_left_[I.expert];
            if (it < n_gu) {
                const int64_t r0 = I.expert * F + I.rb, nr = I.re - I.rb;
                cpu::gemm_rows(gate.type, gate.row(r0), gate.row_bytes, nr, ag.rows_from(a0), na, D,
                               hg + size_t(a0) * F + I.rb, F);
                cpu::gemm_rows(up.type, up.row(r0), up.row_bytes, nr, au.rows_from(a0), na, D,
                               hu + size_t(a0) * F + I.rb, F);
                if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                    swiglu_rows(a0, a0 + na);
                    if (!f32_down)
                        for (int a = a0; a < a0 + na; ++a)
                            quantize_act_row(at, hg + size_t(a) * F, act_q_.data() + rb * size_t(a), F);
                    left.store(-1, std::memory_order_release);
                }
                continue;
            }
            while (left.load(std::memory_order_acquire) != -1) cpu_relax();
            cpu::gemm_rows(down.type, down.row(I.expert * D + I.rb), down.row_bytes, I.re - I.rb, ad.rows_from(a0),
                           na, F, od + size_t(a0) * D + I.rb, D);
        }
    });
}

// Prefill (and official float numerics): gate/up, SwiGLU, W2 as separate jobs.
template <class Swiglu>
void CpuBackend::moe_batch_jobs(const Weight& gate, const Weight& up, const Weight& down, const cpu::Act& ag,
                                const cpu::Act& au, float* hg, float* hu, float* od, const Swiglu& swiglu_rows,
                                int eb, int A) {
    const int64_t D = gate.n_in(), F = gate.ne[1];
    items_.clear();
    build_moe_items(F, gate.row_bytes + up.row_bytes, A);
    pool_.parallel_for(int64_t(items_.size()), 1, [&](int64_t b, int64_t e, int th) {
        for (int64_t it = b; it < e; ++it) {
            const Item& I = items_[it];
            const int a0 = expert_begin_[I.expert], na = expert_begin_[I.expert + 1] - a0;
            const int64_t r0 = I.expert * F + I.rb, nr = I.re - I.rb;
            if (eb) {
                const float* xa = reinterpret_cast<const float*>(ag.rows_from(a0).data);
                const int64_t lda = int64_t(ag.row_bytes / sizeof(float));
                exact_rows(gate, r0, nr, xa, lda, na, D, hg + size_t(a0) * F + I.rb, F, eb, th);
                exact_rows(up, r0, nr, reinterpret_cast<const float*>(au.rows_from(a0).data),
                           int64_t(au.row_bytes / sizeof(float)), na, D, hu + size_t(a0) * F + I.rb, F, eb, th);
                continue;
            }
            cpu::gemm_rows(gate.type, gate.row(r0), gate.row_bytes, nr, ag.rows_from(a0), na, D,
                           hg + size_t(a0) * F + I.rb, F);
            cpu::gemm_rows(up.type, up.row(r0), up.row_bytes, nr, au.rows_from(a0), na, D,
                           hu + size_t(a0) * F + I.rb, F);
        }
    });
    // SwiGLU: decode (a few assignments) stays on the caller: a dispatch would cost more.
    pool_.parallel_for(A, int64_t(A) * F < (1 << 16) ? A : 1, [&](int64_t b, int64_t e, int) {
        swiglu_rows(int(b), int(e));
    });
    const cpu::Act ad = cpu::convert_act(pool_, down.type, hg, F, A, F, act_q_);
    items_.clear();
    build_moe_items(D, down.row_bytes, A);
    pool_.parallel_for(int64_t(items_.size()), 1, [&](int64_t b, int64_t e, int th) {
        for (int64_t it = b; it < e; ++it) {
            const Item& I = items_[it];
            const int a0 = expert_begin_[I.expert], na = expert_begin_[I.expert + 1] - a0;
            if (eb) {
                exact_rows(down, I.expert * D + I.rb, I.re - I.rb, hg + size_t(a0) * F, F, na, F,
                           od + size_t(a0) * D + I.rb, D, eb, th);
                continue;
            }
            cpu::gemm_rows(down.type, down.row(I.expert * D + I.rb), down.row_bytes, I.re - I.rb, ad.rows_from(a0),
                           na, F, od + size_t(a0) * D + I.rb, D);
        }
    });
}

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int n_threads) { return std::make_unique<CpuBackend>(n_threads); }

}  // namespace ds4
