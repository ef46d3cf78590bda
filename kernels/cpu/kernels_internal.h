// Internal plumbing of the CPU kernels (not part of the API): per-ISA function tables and the
// row/token tiling driver shared by the AVX2 and AVX-512 files.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/kernels.h"

namespace ds4::kcpu {

constexpr int kSlots = static_cast<int>(GgmlType::COUNT);
inline int slot(GgmlType t) { return static_cast<int>(t); }

struct IsaTable {
    VecDotFn dot[kSlots] = {};
    GemmFn gemm[kSlots] = {};
    QuantizeRowFn quant_q8_0 = nullptr;
    QuantizeRowFn quant_q8_K = nullptr;
    F32ToHalfFn to_f16 = nullptr;
    F32ToHalfFn to_bf16 = nullptr;
    HalfToF32Fn from_f16 = nullptr;
    HalfToF32Fn from_bf16 = nullptr;
};

// Fill a table with the level's kernels (only called when the CPU supports the level).
void fill_avx2(IsaTable* t);
void fill_avx512(IsaTable* t, bool has_avx512_bf16, bool has_avx512_vbmi);
// The AVX512 level's kernels for CPUs without an optional extension (BF16: AVX512-BF16,
// IQ2_XXS: AVX512-VBMI), so tests can check them on CPUs that have it. False for other types.
bool avx512_fallback(GgmlType t, VecDotFn* dot, GemmFn* gemm);
// AVX512 Q8_0 x Q8_0 (kernels_avx512_q8_0.cpp): bit-identical to vec_dot_q8_0_q8_0_ref. The
// GEMM is a lane = row panel GEMM with its own driver (not gemm_panel): it also needs
// per-token activation data (bias correction, dy), computed once per call.
VecDotFn avx512_q8_0_dot();
GemmFn avx512_q8_0_gemm();
// AVX512-level Q4_K x Q8_K (kernels_avx512_q4_k.cpp, x86-64 only): panel GEMM and decode dot,
// both bit-identical to vec_dot_q4_K_q8_K_ref.
void gemm_q4_K_avx512(const void* w, size_t ws, int64_t n_rows, const void* act, size_t as, int64_t n_tok, int64_t n,
                      float* y, int64_t ldy);
float dot_q4_K_avx512(const void* w, const void* a, int64_t n);
// AVX512-level Q2_K and IQ2_XXS x Q8_K (kernels_avx512_iq2.cpp, x86-64 only), GEMV/GEMM/dot
// bit-identical to vec_dot_q2_K_q8_K_ref / vec_dot_iq2_xxs_q8_K_ref. IQ2_XXS: *_vbmi needs
// AVX512-VBMI; the plain variant is the fallback for CPUs without it.
void gemm_q2_K_avx512(const void* w, size_t ws, int64_t n_rows, const void* act, size_t as, int64_t n_tok, int64_t n,
                      float* y, int64_t ldy);
float dot_q2_K_avx512(const void* w, const void* a, int64_t n);
void gemm_iq2_xxs_avx512_vbmi(const void* w, size_t ws, int64_t n_rows, const void* act, size_t as, int64_t n_tok,
                              int64_t n, float* y, int64_t ldy);
float dot_iq2_xxs_avx512_vbmi(const void* w, const void* a, int64_t n);
void gemm_iq2_xxs_avx512(const void* w, size_t ws, int64_t n_rows, const void* act, size_t as, int64_t n_tok,
                         int64_t n, float* y, int64_t ldy);
float dot_iq2_xxs_avx512(const void* w, const void* a, int64_t n);

// Tiling driver. K provides
//   template <int NR, int NC> static void tile(const uint8_t* w, size_t ws, const uint8_t* a,
//                                              size_t as, int64_t n, float* out);
// computing out[r * NC + c] = dot(w + r*ws, a + c*as) for an NR x NC tile, and the shapes
// kGemvRows (rows per step when n_tok == 1; 1 everywhere: one sequential DRAM stream is what
// the prefetchers handle best, see kernels.h), kRows x kCols (the GEMM tile).
template <class K>
void gemm_tiled(const void* w, size_t ws, int64_t n_rows, const void* act, size_t as,
                int64_t n_tok, int64_t n, float* y, int64_t ldy) {
    const uint8_t* W = static_cast<const uint8_t*>(w);
    const uint8_t* A = static_cast<const uint8_t*>(act);
    constexpr int GR = K::kGemvRows, NR = K::kRows, NC = K::kCols;
    float out[(GR > NR ? GR : NR) * NC];
    if (n_tok == 1) {
        int64_t r = 0;
        for (; r + GR <= n_rows; r += GR) {
            K::template tile<GR, 1>(W + r * ws, ws, A, as, n, y + r);
        }
        for (; r < n_rows; ++r) K::template tile<1, 1>(W + r * ws, ws, A, as, n, y + r);
        return;
    }
    int64_t r = 0;
    for (; r + NR <= n_rows; r += NR) {
        const uint8_t* wr = W + r * ws;
        int64_t c = 0;
        for (; c + NC <= n_tok; c += NC) {
            K::template tile<NR, NC>(wr, ws, A + c * as, as, n, out);
            for (int i = 0; i < NR; ++i)
                for (int j = 0; j < NC; ++j) y[(c + j) * ldy + r + i] = out[i * NC + j];
        }
        for (; c < n_tok; ++c) {
            K::template tile<NR, 1>(wr, ws, A + c * as, as, n, out);
            for (int i = 0; i < NR; ++i) y[c * ldy + r + i] = out[i];
        }
    }
    for (; r < n_rows; ++r) {
        const uint8_t* wr = W + r * ws;
        int64_t c = 0;
        for (; c + NC <= n_tok; c += NC) {
            K::template tile<1, NC>(wr, ws, A + c * as, as, n, out);
            for (int j = 0; j < NC; ++j) y[(c + j) * ldy + r] = out[j];
        }
        for (; c < n_tok; ++c) K::template tile<1, 1>(wr, ws, A + c * as, as, n, y + c * ldy + r);
    }
}

// Panel driver for "lane = row" GEMM kernels. For each block of K::kPanelRows (16) weight
// rows, K::pack() rearranges the rows into a small scratch panel (64-byte aligned, per
// thread, rebuilt for every block and call: a transient working copy the size of 16 rows,
// never a resident copy of the weights), then K::panel_tile<NC>() multiplies the panel with
// NC activation rows at a time, writing y[c*ldy + r] for the block's nr valid rows (rows past
// nr are zero-filled in the panel and never stored). With fewer than K::kMinPanelTokens
// tokens (decode) every output is K::row_dot(). K provides:
//   static constexpr int kPanelRows, kCols, kMinPanelTokens;
//   static size_t panel_bytes(int64_t n);
//   static void pack(const uint8_t* w, size_t ws, int nr, int64_t n, uint8_t* panel);
//   template <int NC> static void panel_tile(const uint8_t* panel, int64_t n, const uint8_t* a,
//                                            size_t as, float* y, int64_t ldy, int nr);
//   static float row_dot(const uint8_t* w, const uint8_t* a, int64_t n);
// Both paths must compute every output with the same float operations (the kernels here
// reproduce the scalar reference vec_dot_*_ref bit for bit), so decode, prefill in any
// chunking, and the scalar level agree exactly.
uint8_t* panel_scratch(size_t bytes);  // per-thread, 64-byte aligned, grows only

// The last rem (< NC) tokens in one tile of width rem.
template <class K, int M>
inline void panel_tail(int rem, const uint8_t* panel, int64_t n, const uint8_t* a, size_t as, float* y, int64_t ldy,
                       int nr) {
    if constexpr (M >= 1) {
        if (rem == M) return K::template panel_tile<M>(panel, n, a, as, y, ldy, nr);
        panel_tail<K, M - 1>(rem, panel, n, a, as, y, ldy, nr);
    }
}

template <class K>
void gemm_panel(const void* w, size_t ws, int64_t n_rows, const void* act, size_t as, int64_t n_tok, int64_t n,
                float* y, int64_t ldy) {
    const uint8_t* W = static_cast<const uint8_t*>(w);
    const uint8_t* A = static_cast<const uint8_t*>(act);
    if (n_tok < K::kMinPanelTokens) {
        for (int64_t r = 0; r < n_rows; ++r)
            for (int64_t c = 0; c < n_tok; ++c) y[c * ldy + r] = K::row_dot(W + r * ws, A + c * as, n);
        return;
    }
    constexpr int P = K::kPanelRows, NC = K::kCols;
    uint8_t* panel = panel_scratch(K::panel_bytes(n));
    for (int64_t r = 0; r < n_rows; r += P) {
        const int nr = int(n_rows - r < P ? n_rows - r : P);
        K::pack(W + r * ws, ws, nr, n, panel);
        int64_t c = 0;
        for (; c + NC <= n_tok; c += NC) K::template panel_tile<NC>(panel, n, A + c * as, as, y + c * ldy + r, ldy, nr);
        if (c < n_tok) panel_tail<K, NC - 1>(int(n_tok - c), panel, n, A + c * as, as, y + c * ldy + r, ldy, nr);
    }
}

// One-row dot through a K's 1x1 tile.
template <class K>
float dot_1x1(const void* w, const void* a, int64_t n) {
    float out;
    K::template tile<1, 1>(static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(a), 0, n, &out);
    return out;
}

// Q4_K's 12 packed scale bytes -> 16 bytes: the 8 six-bit scales, then the 8 six-bit mins
// (ggml's get_scale_min_k4 for all sub-blocks at once). Used by the AVX2 dot.
inline void q4k_unpack_scales(const uint8_t* s, uint32_t u[4]) {
    std::memcpy(u, s, 12);
    constexpr uint32_t km1 = 0x3f3f3f3f, km2 = 0x0f0f0f0f, km3 = 0x03030303;
    u[3] = ((u[2] >> 4) & km2) | (((u[1] >> 6) & km3) << 4);
    const uint32_t ua = u[1] & km1;
    u[1] = (u[2] & km2) | (((u[0] >> 6) & km3) << 4);
    u[2] = ua;
    u[0] &= km1;
}

}  // namespace ds4::kcpu
