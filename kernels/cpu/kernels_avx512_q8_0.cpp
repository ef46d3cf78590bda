// Q8_0 x Q8_0 on AVX-512 VNNI, bit-identical to vec_dot_q8_0_q8_0_ref: every block's integer
// sum is exact, then sumf += float(sumi) * (dx * dy), mul then add (the build's
// -ffp-contract=off keeps the compiler from fusing them), blocks in order.
//
// vpdpbusd multiplies unsigned by signed bytes, so one side is biased: w ^ 0x80 = w + 128 as
// unsigned, and sum(w * a) = sum((w + 128) * a) - 128 * sum(a). The correction depends on the
// activation only: it is computed once per call (with dy in f32) for every token's blocks.
//
// Prefill ("lane = row"): a transient panel holds 16 weight rows per 32-element block as 8 zmm
// (zmm k, lane r = dword k of row r), so each activation dword is broadcast straight from the
// caller's buffer, and the chain of 8 dpbusd starts from the correction. Per block, token and
// 16 rows: 8 dpbusd + cvt + 2 mul + add (the old 2x4 tiles needed ~40 instructions).
//
// Decode (row_dot): one sequential row stream. 16 blocks' 8-dword partial sums are reduced
// to one zmm (lane b = block b), so the cvt and both muls are vector ops and only the 16
// dependent scalar adds (3-cycle latency each, the real limit) remain.
//
#include "kernels/cpu/kernels_avx512_target.h"

#include <array>
#include <cstring>
#include <utility>

#include "kernels/cpu/kernels_internal.h"

#if defined(__x86_64__)

namespace ds4::kcpu {
namespace {

// Tokens per tile: 4, 6 and 8 measured the same (the 8 dpbusd + 2 mul per token and block
// saturate the multiply pipes); 4 leaves GPRs for the in-place activation rows.
constexpr int kNC = 4;
constexpr int kMinPanelTokens = 2;  // below: row_dot per output (at 2 the panel is already faster)
constexpr int64_t kBlk = 34;        // sizeof(block_q8_0)
// Panel block: 8 weight zmm (w ^ 0x80), then the 16 rows' dx (f32).
constexpr size_t kPanelBlock = 9 * 64, kPanDx = 512;
// Per-call activation entries {-128 * sum(qs), dy} are stored per tile as [chunk][kNC][kChunk]
// so that a tile reaches token c's entry at the fixed offset c * kChunk from one pointer.
constexpr int64_t kChunk = 64;

static_assert(sizeof(block_q8_0) == kBlk, "block_q8_0 layout");

T512 INL int32_t ld32(const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
T512 INL float ldf(const uint8_t* p) {
    float v;
    std::memcpy(&v, p, 4);
    return v;
}
T512 INL __m512i pair(const uint8_t* lo, const uint8_t* hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo))),
                              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi)), 1);
}

// 16 blocks' qs (block b at p + b * kBlk) as 8 zmm in the order reduce16 wants.
T512 INL void load16(const uint8_t* p, __m512i z[8]) {
    UNROLL for (int j = 0; j < 4; ++j) UNROLL for (int h = 0; h < 2; ++h)
        z[2 * j + h] = pair(p + (j + 8 * h) * kBlk, p + (j + 4 + 8 * h) * kBlk);
}

// z[2j+h] holds 8 dword partials of block j+8h (low half) and of block j+4+8h (high half);
// returns lane b = sum of block b's partials. Shuffles put block 4m+j in 128-bit chunk m of
// s[j], and an in-lane 4x4 transpose-add finishes, so the lanes come out in block order.
T512 INL __m512i reduce16(const __m512i z[8]) {
    __m512i s[4];
    UNROLL for (int j = 0; j < 4; ++j)
        s[j] = _mm512_add_epi32(_mm512_shuffle_i32x4(z[2 * j], z[2 * j + 1], 0x88),
                                _mm512_shuffle_i32x4(z[2 * j], z[2 * j + 1], 0xDD));
    const __m512i u01 = _mm512_add_epi32(_mm512_unpacklo_epi32(s[0], s[1]), _mm512_unpackhi_epi32(s[0], s[1]));
    const __m512i u23 = _mm512_add_epi32(_mm512_unpacklo_epi32(s[2], s[3]), _mm512_unpackhi_epi32(s[2], s[3]));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(u01, u23), _mm512_unpackhi_epi64(u01, u23));
}

// fp16 d of 16 consecutive blocks at w -> f32, lane b. Block 4q+j has d at word 4q + 17j of
// bytes [128q, 128q + 128): one vpermt2w per 4 blocks (vpgatherdd is microcoded, far slower).
T512 INL __m512 dx16(const uint8_t* w) {
    __m512i r[4];
    UNROLL for (int q = 0; q < 4; ++q) {
        alignas(64) int16_t ix[32] = {};
        for (int j = 0; j < 4; ++j) ix[4 * q + j] = int16_t(4 * q + 17 * j);
        r[q] = _mm512_permutex2var_epi16(_mm512_loadu_si512(w + 128 * q), _mm512_load_si512(ix),
                                         _mm512_loadu_si512(w + 128 * q + 64));
    }
    __m512i d = _mm512_mask_blend_epi16(0x00F0, r[0], r[1]);
    d = _mm512_mask_blend_epi16(0x0F00, d, r[2]);
    d = _mm512_mask_blend_epi16(0xF000, d, r[3]);
    return _mm512_cvtph_ps(_mm512_castsi512_si256(d));
}

// Per-call activation data of 16 blocks at src: qs as load16 loads them, 128 * sum(qs) and
// dy per block (lane b).
T512 INL void act16(const uint8_t* src, __m512i z[8], __m512i* sum128, __m512* dy) {
    const __m512i c128 = _mm512_set1_epi8(char(0x80)), zero = _mm512_setzero_si512();
    __m512i p[8];
    load16(src + 2, z);
    UNROLL for (int k = 0; k < 8; ++k) p[k] = _mm512_dpbusd_epi32(zero, c128, z[k]);
    *sum128 = reduce16(p);
    *dy = dx16(src);
}

// Group of 16 blocks starting at block i of a row of nb; the last one is copied zero-padded
// into pad, so every load stays inside the row.
T512 INL const uint8_t* group(const uint8_t* a, int64_t nb, int64_t i, uint8_t* pad) {
    if (nb - i >= 16) return a + i * kBlk;
    std::memset(pad, 0, 16 * kBlk);
    std::memcpy(pad, a + i * kBlk, size_t(nb - i) * kBlk);
    return pad;
}

// ---------------------------------------------------------------------------------------
// Decode
// ---------------------------------------------------------------------------------------

// Decode activation layout, per group of 16 blocks (kDGroup bytes): the 8 zmm of qs in
// load16 order, then 128 * sum(qs) (int32), then dy (f32), so a row costs one xor + one
// dpbusd per 2 blocks and no activation shuffles.
constexpr size_t kDGroup = 640;

T512 void prep_decode(const uint8_t* a, int64_t nb, uint8_t* dst) {
    alignas(64) uint8_t pad[16 * kBlk];
    for (int64_t i = 0; i < nb; i += 16, dst += kDGroup) {
        __m512i z[8], s;
        __m512 dy;
        act16(group(a, nb, i, pad), z, &s, &dy);
        UNROLL for (int k = 0; k < 8; ++k) _mm512_store_si512(dst + 64 * k, z[k]);
        _mm512_store_si512(dst + 512, s);
        _mm512_store_ps(reinterpret_cast<float*>(dst + 576), dy);
    }
}

// The f32 products of 16 blocks (w at block 0, g its prepared activation group), lane b.
T512 INL __m512 prod16(const uint8_t* w, const uint8_t* g) {
    // sum(w*a) = sum((w+128)*a) - 128*sum(a): exact for every byte value.
    const __m512i bias = _mm512_set1_epi8(char(0x80)), zero = _mm512_setzero_si512();
    __m512i zw[8], p[8];
    load16(w + 2, zw);
    UNROLL for (int k = 0; k < 8; ++k)
        p[k] = _mm512_dpbusd_epi32(zero, _mm512_xor_si512(zw[k], bias), _mm512_load_si512(g + 64 * k));
    const __m512i sumi = _mm512_sub_epi32(reduce16(p), _mm512_load_si512(g + 512));
    const __m512 d = _mm512_mul_ps(dx16(w), _mm512_load_ps(reinterpret_cast<const float*>(g + 576)));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(sumi), d);
}

T512 INL float add16(float sumf, __m512 p, int cnt) {
    alignas(64) float prod[16];
    _mm512_store_ps(prod, p);
    if (cnt == 16) {
        UNROLL for (int b = 0; b < 16; ++b) sumf += prod[b];
    } else {
        for (int b = 0; b < cnt; ++b) sumf += prod[b];
    }
    return sumf;
}

// w against an activation prepared by prep_decode. The next group's products are issued
// before this group's 16 dependent adds, which then wait less in the scheduler (~10%).
T512 float row_dot(const uint8_t* w, const uint8_t* g, int64_t n) {
    const int64_t nb = n / QK8_0, full = nb / 16;
    float sumf = 0.0f;
    if (full > 0) {
        __m512 prev = prod16(w, g);
        for (int64_t i = 1; i < full; ++i) {
            const __m512 cur = prod16(w + i * 16 * kBlk, g + i * kDGroup);
            sumf = add16(sumf, prev, 16);
            prev = cur;
        }
        sumf = add16(sumf, prev, 16);
    }
    if (nb % 16) {
        alignas(64) uint8_t pad[16 * kBlk];
        sumf = add16(sumf, prod16(group(w, nb, full * 16, pad), g + full * kDGroup), int(nb % 16));
    }
    return sumf;
}

T512 INL size_t decode_bytes(int64_t n) { return size_t((n / QK8_0 + 15) / 16) * kDGroup; }

T512 float dot_q8_0(const void* w, const void* a, int64_t n) {
    uint8_t* g = panel_scratch(decode_bytes(n));
    prep_decode(static_cast<const uint8_t*>(a), n / QK8_0, g);
    return row_dot(static_cast<const uint8_t*>(w), g, n);
}

// ---------------------------------------------------------------------------------------
// Prefill
// ---------------------------------------------------------------------------------------

// One activation row -> its {-128 * sum(qs), dy} per block, entry i at aux[(i / kChunk) *
// kNC * kChunk + i % kChunk] (the caller offsets aux by the token's place in its tile).
T512 void prep_act_row(const uint8_t* a, int64_t nb, uint64_t* aux) {
    const __m512i ilo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i ihi = _mm512_add_epi32(ilo, _mm512_set1_epi32(8));
    alignas(64) uint8_t pad[16 * kBlk];
    for (int64_t i = 0; i < nb; i += 16) {
        __m512i z[8], s;
        __m512 dy;
        act16(group(a, nb, i, pad), z, &s, &dy);
        const __m512i corr = _mm512_sub_epi32(_mm512_setzero_si512(), s), d = _mm512_castps_si512(dy);
        uint64_t* e = aux + (i / kChunk) * kNC * kChunk + i % kChunk;
        _mm512_store_si512(e, _mm512_permutex2var_epi32(corr, ilo, d));
        _mm512_store_si512(e + 8, _mm512_permutex2var_epi32(corr, ihi, d));
    }
}

// Rows r0..r0+nr-1 -> panel. Missing rows (nr < 16) repeat the last one: their lanes are
// computed like any other and never stored.
T512 void pack(const uint8_t* w, size_t ws, int nr, int64_t nb, uint8_t* panel) {
    const uint8_t* R[16];
    for (int r = 0; r < 16; ++r) R[r] = w + size_t(r < nr ? r : nr - 1) * ws + 2;
    const __m512i bias = _mm512_set1_epi8(char(0x80));
    for (int64_t i = 0; i < nb; ++i) {
        const size_t o = size_t(i) * kBlk;
        // a[j] chunk m = dwords 0-3 of row 4m+j, b[j] = dwords 4-7; the in-lane 4x4
        // transposes then give zmm k lane 4m+j = dword k of row 4m+j.
        __m512i a[4], b[4], t[8];
        UNROLL for (int j = 0; j < 4; ++j) {
            const __m512i lo = pair(R[j] + o, R[4 + j] + o), hi = pair(R[8 + j] + o, R[12 + j] + o);
            a[j] = _mm512_shuffle_i32x4(lo, hi, 0x88);
            b[j] = _mm512_shuffle_i32x4(lo, hi, 0xDD);
        }
        UNROLL for (int h = 0; h < 2; ++h) {
            const __m512i* x = h ? b : a;
            const __m512i t0 = _mm512_unpacklo_epi32(x[0], x[1]), t1 = _mm512_unpackhi_epi32(x[0], x[1]);
            const __m512i t2 = _mm512_unpacklo_epi32(x[2], x[3]), t3 = _mm512_unpackhi_epi32(x[2], x[3]);
            t[4 * h + 0] = _mm512_unpacklo_epi64(t0, t2);
            t[4 * h + 1] = _mm512_unpackhi_epi64(t0, t2);
            t[4 * h + 2] = _mm512_unpacklo_epi64(t1, t3);
            t[4 * h + 3] = _mm512_unpackhi_epi64(t1, t3);
        }
        uint8_t* P = panel + size_t(i) * kPanelBlock;
        UNROLL for (int k = 0; k < 8; ++k) _mm512_store_si512(P + 64 * k, _mm512_xor_si512(t[k], bias));
        alignas(32) uint16_t h[16];  // (scalar copies beat vpgatherdd here)
        UNROLL for (int r = 0; r < 16; ++r) std::memcpy(&h[r], R[r] + o - 2, 2);
        const __m512 dx = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(h)));
        _mm512_store_ps(reinterpret_cast<float*>(P + kPanDx), dx);
    }
}

// NT (<= kNC) tokens of one tile times the panel: y[c * ldy + r] for the rows in mask m.
// a: the tile's first activation row (rows as apart); aux: the tile's prepared entries.
template <int NT>
T512 void panel_tile(const uint8_t* panel, int64_t nb, const uint8_t* a, size_t as, const uint64_t* aux, float* y,
                     int64_t ldy, __mmask16 m) {
    __m512 acc[NT];
    UNROLL for (int c = 0; c < NT; ++c) acc[c] = _mm512_setzero_ps();
    for (int64_t i0 = 0; i0 < nb; i0 += kChunk, aux += kNC * kChunk) {
        const int64_t cnt = nb - i0 < kChunk ? nb - i0 : kChunk;
        for (int64_t j = 0; j < cnt; ++j, panel += kPanelBlock) {
            __m512i wk[8];
            // Each weight zmm is loaded once per block, not once per token: GCC would
            // otherwise fold the loads into the NT dpbusd (the asm pins them to registers).
            UNROLL for (int k = 0; k < 8; ++k) {
                wk[k] = _mm512_load_si512(panel + 64 * k);
                asm("" : "+v"(wk[k]));
            }
            const __m512 dx = _mm512_load_ps(reinterpret_cast<const float*>(panel + kPanDx));
            const uint8_t* qb = a + (i0 + j) * kBlk + 2;
            UNROLL for (int c = 0; c < NT; ++c) {
                const uint8_t* q = qb + c * as;
                const uint8_t* e = reinterpret_cast<const uint8_t*>(aux + c * kChunk + j);
                __m512i s = _mm512_set1_epi32(ld32(e));
                UNROLL for (int k = 0; k < 8; ++k) s = _mm512_dpbusd_epi32(s, wk[k], _mm512_set1_epi32(ld32(q + 4 * k)));
                const __m512 d = _mm512_mul_ps(dx, _mm512_set1_ps(ldf(e + 4)));
                acc[c] = _mm512_add_ps(acc[c], _mm512_mul_ps(_mm512_cvtepi32_ps(s), d));
            }
        }
    }
    UNROLL for (int c = 0; c < NT; ++c) _mm512_mask_storeu_ps(y + c * ldy, m, acc[c]);
}

using TileFn = void (*)(const uint8_t*, int64_t, const uint8_t*, size_t, const uint64_t*, float*, int64_t, __mmask16);
template <int... I>
constexpr auto tile_table(std::integer_sequence<int, I...>) {
    return std::array<TileFn, sizeof...(I)>{panel_tile<I + 1>...};
}
constexpr auto kTiles = tile_table(std::make_integer_sequence<int, kNC>());

T512 void gemm_q8_0(const void* w, size_t ws, int64_t n_rows, const void* act, size_t as, int64_t n_tok, int64_t n,
                    float* y, int64_t ldy) {
    const uint8_t* W = static_cast<const uint8_t*>(w);
    const uint8_t* A = static_cast<const uint8_t*>(act);
    const int64_t nb = n / QK8_0;
    if (n_tok < kMinPanelTokens) {
        const size_t db = decode_bytes(n);
        uint8_t* g = panel_scratch(db * size_t(n_tok));
        for (int64_t c = 0; c < n_tok; ++c) prep_decode(A + c * as, nb, g + c * db);
        for (int64_t r = 0; r < n_rows; ++r)
            for (int64_t c = 0; c < n_tok; ++c) y[c * ldy + r] = row_dot(W + r * ws, g + c * db, n);
        return;
    }
    // Scratch: panel | activation entries. The entries cost ~2 cycles per token and block, once
    // per call: ~15% of a call with 16 rows, so callers should pass more rows at a time.
    const int64_t ntile = (n_tok + kNC - 1) / kNC, nchunk = (nb + kChunk - 1) / kChunk;
    const size_t pbytes = size_t(nb) * kPanelBlock, atile = size_t(nchunk) * kNC * kChunk;  // entries per tile
    uint8_t* panel = panel_scratch(pbytes + size_t(ntile) * atile * sizeof(uint64_t));
    uint64_t* aux = reinterpret_cast<uint64_t*>(panel + pbytes);
    for (int64_t c = 0; c < n_tok; ++c)
        prep_act_row(A + c * as, nb, aux + size_t(c / kNC) * atile + size_t(c % kNC) * kChunk);
    for (int64_t r = 0; r < n_rows; r += 16) {
        const int nr = int(n_rows - r < 16 ? n_rows - r : 16);
        const __mmask16 m = __mmask16((1u << nr) - 1);
        pack(W + r * ws, ws, nr, nb, panel);
        for (int64_t t = 0; t < ntile; ++t) {
            const int nt = int(n_tok - t * kNC < kNC ? n_tok - t * kNC : kNC);
            kTiles[nt - 1](panel, nb, A + size_t(t * kNC) * as, as, aux + size_t(t) * atile, y + t * kNC * ldy + r,
                           ldy, m);
        }
    }
}

}  // namespace

VecDotFn avx512_q8_0_dot() { return dot_q8_0; }
GemmFn avx512_q8_0_gemm() { return gemm_q8_0; }

}  // namespace ds4::kcpu

#else  // not x86-64
namespace ds4::kcpu {
VecDotFn avx512_q8_0_dot() { return nullptr; }
GemmFn avx512_q8_0_gemm() { return nullptr; }
}  // namespace ds4::kcpu
#endif
