// AVX-512 IQ2_XXS x Q8_K and Q2_K x Q8_K (the q2 recipe's routed experts: gate/up IQ2_XXS,
// down Q2_K). GEMV, GEMM and dot are bit-identical to vec_dot_iq2_xxs_q8_K_ref /
// vec_dot_q2_K_q8_K_ref: every super-block's integer sums are exact, then the reference's
// float steps run per super-block in order (IQ2: sumf += (fp16(x.d) * y.d) * bsum, result
// 0.125f * sumf; Q2_K: sumf += dall * isum - dmin * summs), each a separate mul/sub/add (the
// build's -ffp-contract=off keeps the compiler from fusing them). The integer sums of several
// super-blocks (GEMV) or tokens (GEMM) are reduced together, so the casts and muls are vector
// ops whose lanes are the reference's scalar operations, and only the adds stay sequential.
//
// Both kernels first rearrange the activation rows once per call into a scratch copy laid out
// for the weight decode (about the size of the Q8_K rows): the decode then needs no shuffles
// to line weights up with activations, and per-group activation data (IQ2's offset
// correction, Q2_K's bsums, the scales y.d) is precomputed. Decode is compute-bound on Zen 4,
// and measured there every zmm op costs about the same in these mixes: ~2 zmm ops/cycle in
// all, a vpandd/vpaddd/blend as much as a vpermb or vpdpbusd (removing 8 vpermb from the IQ2
// loop saved less than removing 7 ops of any kind), ymm ops half. So decode speed is the
// total zmm op count per super-block, register copies included, and reductions go to ymm early.
//
// Every function has its own target attribute: the file builds with any -march and the code
// runs only after kernels.cpp has checked CPUID (IQ2_XXS: also AVX512-VBMI; a VBMI-free
// variant, IQ2XXSK, is the fallback).
#include "kernels/cpu/kernels_avx512_target.h"

#include <cstring>

#include "kernels/cpu/kernels_internal.h"
#include "quant/iq2_tables.h"

#if defined(__x86_64__)

namespace ds4::kcpu {
namespace {

T512 INL float h2f(uint16_t h) { return _cvtsh_ss(h); }
// GEMV software prefetch distance (bytes ahead in the weight stream): the hardware
// prefetchers alone left the single-thread stream ~5-10% below the same kernel on L2 data.
constexpr int64_t kPrefetch = 1536;

T512 INL uint16_t ld16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
T512 INL __m512i ldz(const void* p) { return _mm512_load_si512(p); }  // (no lambdas: they lose the target)
T512 INL __m256i fold(__m512i v) { return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)); }

// Four ymm of 4 qwords each, qword = 2 int32 partial sums [a, b] -> one ymm: dword 2u+k = sum
// over ymm u's qwords of component k.
T512 INL __m256i reduce4q(__m256i f0, __m256i f1, __m256i f2, __m256i f3) {
    const __m256i u01 = _mm256_add_epi32(_mm256_unpacklo_epi64(f0, f1), _mm256_unpackhi_epi64(f0, f1));
    const __m256i u23 = _mm256_add_epi32(_mm256_unpacklo_epi64(f2, f3), _mm256_unpackhi_epi64(f2, f3));
    return _mm256_add_epi32(_mm256_permute2x128_si256(u01, u23, 0x20), _mm256_permute2x128_si256(u01, u23, 0x31));
}

// GEMV float steps for a block of 8 rows: t[r] holds row r's terms of 8 consecutive
// super-blocks (lanes); after an 8x8 transpose lane r of column k is row r's term k, and
// sum += column k for k < cnt runs every row's sequential reference sum in its own lane (one
// 3-cycle add per super-block for 8 rows, instead of a scalar chain per row).
T512 INL __m256 add_columns(__m256 sum, const __m256 t[8], int cnt) {
    __m256 a[8], b[8], c[8];
    UNROLL for (int k = 0; k < 4; ++k) {
        a[2 * k] = _mm256_unpacklo_ps(t[2 * k], t[2 * k + 1]);
        a[2 * k + 1] = _mm256_unpackhi_ps(t[2 * k], t[2 * k + 1]);
    }
    UNROLL for (int k = 0; k < 2; ++k) {
        b[4 * k] = _mm256_shuffle_ps(a[4 * k], a[4 * k + 2], 0x44);
        b[4 * k + 1] = _mm256_shuffle_ps(a[4 * k], a[4 * k + 2], 0xEE);
        b[4 * k + 2] = _mm256_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0x44);
        b[4 * k + 3] = _mm256_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0xEE);
    }
    UNROLL for (int k = 0; k < 4; ++k) {
        c[k] = _mm256_permute2f128_ps(b[k], b[k + 4], 0x20);
        c[k + 4] = _mm256_permute2f128_ps(b[k], b[k + 4], 0x31);
    }
    for (int k = 0; k < cnt; ++k) sum = _mm256_add_ps(sum, c[k]);
    return sum;
}

// =====================================================================================
// IQ2_XXS (VBMI). A super-block is 8 groups of 32 elements: per group 4 grid indices (8
// elements each, 8-bit index into a 256-entry grid of 2-bit codes -> magnitude {8,25,43}),
// 4 x 7 sign bits (+ even parity = 8 signs per index) and a 4-bit scale ls (x 2ls+1).
//
// Two super-blocks (a "pair") are decoded at once, 64 grid indices = one zmm of bytes,
// index byte 4k + l = index l of group k/2 of super-block k%2.
// Element position j (0..7) of every index is one zmm: its weight byte is a 64-entry vpermb
// LUT of a byte holding that position's 2-bit code and sign, u = 43 + sign * mag (unsigned,
// 0..86), so vpdpbusd(u, a) sums (w + 43) * a per group without any sign op. The +43 offset
// contributes 43 * sum(a) over the group: activation-only, precomputed, negated, and used as
// the dpbusd chain's start. The activation copy is transposed to match (position j of
// the 64 indices = zmm j). The code bytes come from two 256-entry tables (codes of positions
// 0-3 / 4-7: two merge-masked vpermi2b each); signs from a 128-entry table (7 bits -> 8 sign
// bits with parity) and merged into the code bytes by vpternlog (two positions per byte:
// 2 codes + 2 signs = 6 bits). The group sums (dwords) are multiplied by 2ls+1 (vpmulld) and
// the per-super-block sums reduced for 4 pairs at a time.
// Per pair ~40 zmm ops (8 vpermb, 8 vpdpbusd, 6 vpermi2b, 4 vpternlog, 6 shifts, ...);
// measured ~13.5 cycles per super-block for the integer work, ~14.5 with the float steps.
// =====================================================================================
namespace iq2v {

constexpr int64_t kBlk = 66;          // sizeof(block_iq2_xxs)
constexpr size_t kPairBytes = 10 * 64;  // 8 position zmm, -43 * (group sums) of positions 0-3 and 4-7

struct Tables {
    alignas(64) uint8_t c1[256];  // 2-bit codes of positions 0-3 (bits 2j..2j+1)
    alignas(64) uint8_t c2[256];  // positions 4-7
    // Signs s0..s7 (1 = negative) of a 7-bit field at the bits the merge below needs:
    // s0 -> 4, s1 -> 5, s2 -> 0, s3 -> 1, s4 -> 6, s5 -> 7, s6 -> 2, s7 -> 3.
    alignas(64) uint8_t ks[128];
    // u = 43 + sign * mag for (code bits, sign bit) = (0-1, 4), (2-3, 5), (2-3, 0), (4-5, 1).
    alignas(64) uint8_t lut[4][64];
    alignas(64) uint8_t tr[64];     // activation prep: 8x8 byte transpose within each qword block
    alignas(64) uint8_t ms[64];     // vpmultishiftqb: the four 7-bit sign fields of each dword
};
constexpr Tables make_tables() {
    Tables t{};
    for (int i = 0; i < 256; ++i) {
        t.c1[i] = uint8_t(kgrid_2bit_256[i] & 0xFF);
        t.c2[i] = uint8_t(kgrid_2bit_256[i] >> 8);
    }
    constexpr int kSignBit[8] = {4, 5, 0, 1, 6, 7, 2, 3};
    for (int v = 0; v < 128; ++v) {
        int b = 0;
        for (int j = 0; j < 8; ++j)
            if (ksigns_iq2xs[v] & (1 << j)) b |= 1 << kSignBit[j];
        t.ks[v] = uint8_t(b);
    }
    constexpr int kCode[4] = {0, 2, 2, 4}, kSign[4] = {4, 5, 0, 1};
    constexpr int kMag[4] = {8, 25, 43, 0};
    for (int l = 0; l < 4; ++l)
        for (int e = 0; e < 64; ++e) {
            const int mag = kMag[(e >> kCode[l]) & 3];
            t.lut[l][e] = uint8_t((e >> kSign[l]) & 1 ? 43 - mag : 43 + mag);
        }
    for (int j = 0; j < 8; ++j)
        for (int q = 0; q < 8; ++q) t.tr[8 * j + q] = uint8_t(8 * q + j);
    for (int b = 0; b < 64; ++b) t.ms[b] = uint8_t(32 * ((b % 8) / 4) + 7 * (b % 4));
    return t;
}
constexpr Tables kT = make_tables();

// Activation prep, one Q8_K row: per pair, zmm j byte 4k + l = element 32(k/2) + 8l + j of
// super-block 2p + k%2 (zero past the row's end), then -43 * (group sums) as 16 dwords, over
// positions 0-3 and 4-7 (the starts of pair_dot's two chains).
T512V void prep_row(const block_q8_K* y, int64_t nb, uint8_t* dst) {
    const __m512i tr = ldz(kT.tr), c43 = _mm512_set1_epi8(43);
    for (int64_t p = 0; 2 * p < nb; ++p, dst += kPairBytes) {
        __m512i Y[2][4];
        UNROLL for (int h = 0; h < 2; ++h) UNROLL for (int m = 0; m < 4; ++m) {
            const __m512i x = 2 * p + h < nb ? _mm512_loadu_si512(y[2 * p + h].qs + 64 * m) : _mm512_setzero_si512();
            Y[h][m] = _mm512_permutexvar_epi8(tr, x);  // qword j = byte j of the block's 8 qwords
        }
        __m512i U[2][4];  // U[0][m] lane L = zmm 2L lane m, U[1][m] lane L = zmm 2L+1 lane m
        UNROLL for (int m = 0; m < 4; ++m) {
            U[0][m] = _mm512_unpacklo_epi32(Y[0][m], Y[1][m]);
            U[1][m] = _mm512_unpackhi_epi32(Y[0][m], Y[1][m]);
        }
        __m512i corr[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
        UNROLL for (int o = 0; o < 2; ++o) {  // 4x4 transpose of 128-bit lanes
            const __m512i t0 = _mm512_shuffle_i64x2(U[o][0], U[o][1], 0x44), t1 = _mm512_shuffle_i64x2(U[o][0], U[o][1], 0xEE);
            const __m512i t2 = _mm512_shuffle_i64x2(U[o][2], U[o][3], 0x44), t3 = _mm512_shuffle_i64x2(U[o][2], U[o][3], 0xEE);
            const __m512i z[4] = {_mm512_shuffle_i64x2(t0, t2, 0x88), _mm512_shuffle_i64x2(t0, t2, 0xDD),
                                  _mm512_shuffle_i64x2(t1, t3, 0x88), _mm512_shuffle_i64x2(t1, t3, 0xDD)};
            UNROLL for (int L = 0; L < 4; ++L) {
                _mm512_store_si512(dst + 64 * (2 * L + o), z[L]);
                corr[L / 2] = _mm512_dpbusd_epi32(corr[L / 2], c43, z[L]);
            }
        }
        UNROLL for (int h = 0; h < 2; ++h) _mm512_store_si512(dst + 512 + 64 * h, _mm512_sub_epi32(_mm512_setzero_si512(), corr[h]));
    }
}

// Weight decode of one pair: the 8 position zmm of u bytes and the 2ls+1 multipliers.
struct Pair {
    __m512i u[8], ls;
};
T512V INL void decode(const uint8_t* xb, bool has1, Pair* P) {
    __m512i idx, sg;
    if (has1) {
        idx = _mm512_mask_loadu_epi32(_mm512_loadu_si512(xb + 2), 0xAAAA, xb + kBlk - 2);
        sg = _mm512_mask_loadu_epi32(_mm512_loadu_si512(xb + kBlk + 2), 0x5555, xb + 6);
    } else {
        const __m512i q0 = _mm512_loadu_si512(xb + 2);
        idx = q0;
        sg = _mm512_srli_epi64(q0, 32);
    }
    const __m512i s = _mm512_permutex2var_epi8(ldz(kT.ks), _mm512_multishift_epi64_epi8(ldz(kT.ms), sg), ldz(kT.ks + 64));
    // 256-entry lookups as two merge-masked 128-entry vpermi2b: the index register is the
    // destination, and lanes outside the first mask keep their index for the second.
    const __mmask64 hi = _mm512_movepi8_mask(idx), lo = _knot_mask64(hi);
    const __m512i c1 = _mm512_mask2_permutex2var_epi8(ldz(kT.c1), _mm512_mask2_permutex2var_epi8(ldz(kT.c1 + 128), idx, hi, ldz(kT.c1 + 192)), lo, ldz(kT.c1 + 64));
    const __m512i c2 = _mm512_mask2_permutex2var_epi8(ldz(kT.c2), _mm512_mask2_permutex2var_epi8(ldz(kT.c2 + 128), idx, hi, ldz(kT.c2 + 192)), lo, ldz(kT.c2 + 64));
    // (16-bit shifts: bits entering a byte from its neighbour land in bits 6-7, which vpermb ignores.)
    const __m512i s2 = _mm512_srli_epi16(s, 2), c1s = _mm512_srli_epi16(c1, 2), c2s = _mm512_srli_epi16(c2, 2);
    const __m512i m0f = _mm512_set1_epi8(0x0F), m3c = _mm512_set1_epi8(0x3C);
    // p = mask ? code bits : sign bits (0xE4), the dying operand first (it is the destination).
    const __m512i p1 = _mm512_ternarylogic_epi32(c1, s, m0f, 0xE4);    // l0 l1 s0 s1
    const __m512i p2 = _mm512_ternarylogic_epi32(c1s, s, m3c, 0xE4);   // s2 s3 l2 l3
    const __m512i p3 = _mm512_ternarylogic_epi32(c2, s2, m0f, 0xE4);   // l4 l5 s4 s5
    const __m512i p4 = _mm512_ternarylogic_epi32(c2s, s2, m3c, 0xE4);  // s6 s7 l6 l7
    P->u[0] = _mm512_permutexvar_epi8(p1, ldz(kT.lut[0]));
    P->u[1] = _mm512_permutexvar_epi8(p1, ldz(kT.lut[1]));
    P->u[2] = _mm512_permutexvar_epi8(p2, ldz(kT.lut[2]));
    P->u[3] = _mm512_permutexvar_epi8(p2, ldz(kT.lut[3]));
    P->u[4] = _mm512_permutexvar_epi8(p3, ldz(kT.lut[0]));
    P->u[5] = _mm512_permutexvar_epi8(p3, ldz(kT.lut[1]));
    P->u[6] = _mm512_permutexvar_epi8(p4, ldz(kT.lut[2]));
    P->u[7] = _mm512_permutexvar_epi8(p4, ldz(kT.lut[3]));
    P->ls = _mm512_or_si512(_mm512_srli_epi32(sg, 27), _mm512_set1_epi32(1));  // 2 * (sg >> 28) + 1
}
// Group sums times 2ls+1 (dword 2g + h: group g of super-block h). Two dpbusd chains, both
// starting from a loaded correction (a zero start would cost a register copy per pair).
T512V INL __m512i pair_dot(const Pair& P, const uint8_t* A) {
    __m512i a = ldz(A + 512), b = ldz(A + 576);
    UNROLL for (int j = 0; j < 4; ++j) {
        a = _mm512_dpbusd_epi32(a, P.u[j], ldz(A + 64 * j));
        b = _mm512_dpbusd_epi32(b, P.u[j + 4], ldz(A + 64 * (j + 4)));
    }
    return _mm512_mullo_epi32(_mm512_add_epi32(a, b), P.ls);
}
// Four pair_dot results -> [sum A, sum B] of each pair, in order (8 dwords). Folded to ymm
// first: measured faster than a zmm blend/shuffle tree with fewer instructions.
T512 INL __m256i reduce_pairs(const __m512i x[4]) {
    return reduce4q(fold(x[0]), fold(x[1]), fold(x[2]), fold(x[3]));
}

// GEMV: row_ints() writes every super-block's integer sum of one row, then the float steps
// run for 8 rows at once (a scalar chain of 3-cycle adds per row stalled the pipeline).
constexpr int64_t kMaxNb = 128;  // the GEMV path handles nb <= kMaxNb (n <= 32768)

T512V void row_ints(const uint8_t* w, const uint8_t* A, int64_t nb, int32_t* bs, uint16_t* d) {
    const int64_t np = (nb + 1) / 2;
    int64_t p0 = 0;
    for (; 2 * (p0 + 4) <= nb; p0 += 4) {  // full groups of 8 blocks: no conditions
        const uint8_t* pf = w + 2 * p0 * kBlk + kPrefetch;  // (rows are contiguous: runs into the next)
        UNROLL for (int k = 0; k < 9; ++k) _mm_prefetch(reinterpret_cast<const char*>(pf + 64 * k), _MM_HINT_T0);
        __m512i f[4];
        UNROLL for (int u = 0; u < 4; ++u) {
            Pair P;
            decode(w + 2 * (p0 + u) * kBlk, true, &P);
            f[u] = pair_dot(P, A + (p0 + u) * kPairBytes);
        }
        _mm256_store_si256(reinterpret_cast<__m256i*>(bs + 2 * p0), reduce_pairs(f));
    }
    if (p0 < np) {
        __m512i f[4];
        for (int u = 0; u < 4; ++u) {
            const int64_t p = p0 + u;
            f[u] = _mm512_setzero_si512();
            if (p < np) {
                Pair P;
                decode(w + 2 * p * kBlk, 2 * p + 1 < nb, &P);
                f[u] = pair_dot(P, A + p * kPairBytes);
            }
        }
        _mm256_store_si256(reinterpret_cast<__m256i*>(bs + 2 * p0), reduce_pairs(f));
    }
    // The fp16 scales, for one vector load per 8 blocks in the float steps (read long after
    // these stores retire: no store-forwarding stall; cheaper than 8 masked loads there).
    for (int64_t i = 0; i < nb; ++i) d[i] = ld16(w + i * kBlk);
}

// Row r's float terms of super-blocks i..i+7: (fp16(x.d) * y.d) * float(bsum).
T512V INL __m256 terms8(const uint16_t* dh, const int32_t* bs, const float* yd, int64_t i, int cnt) {
    const __mmask8 m = __mmask8((1u << cnt) - 1);
    const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_maskz_loadu_epi16(m, dh + i)), _mm256_maskz_loadu_ps(m, yd + i));
    return _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(bs + i))));
}

// Blocks of 8 rows: integer phase per row, then the float steps of the 8 rows in lanes.
// (Issuing a block's float steps after the next block's integer work measured slower.)
T512V void gemv(const uint8_t* W, size_t ws, int64_t n_rows, const uint8_t* A, const float* yd, int64_t nb, float* y) {
    alignas(32) int32_t bs[8][kMaxNb + 8];
    uint16_t dh[8][kMaxNb];
    for (int64_t r0 = 0; r0 < n_rows; r0 += 8) {
        const int nr = n_rows - r0 < 8 ? int(n_rows - r0) : 8;
        for (int r = 0; r < nr; ++r) row_ints(W + (r0 + r) * ws, A, nb, bs[r], dh[r]);
        __m256 sum = _mm256_setzero_ps();
        for (int64_t i = 0; i < nb; i += 8) {
            const int cnt = nb - i < 8 ? int(nb - i) : 8;
            __m256 t[8];
            for (int r = 0; r < 8; ++r) t[r] = r < nr ? terms8(dh[r], bs[r], yd, i, cnt) : _mm256_setzero_ps();
            sum = add_columns(sum, t, cnt);
        }
        alignas(32) float out[8];
        _mm256_store_ps(out, _mm256_mul_ps(_mm256_set1_ps(0.125f), sum));
        for (int r = 0; r < nr; ++r) y[r0 + r] = out[r];
    }
}

// Per-call activation copy: row c at base + c * row_bytes; y.d transposed, ydT[i * ldt + c].
struct Prepared {
    uint8_t* base;
    size_t row_bytes;
    float* ydT;
    int64_t ldt;
};
T512V Prepared prepare(const uint8_t* act, size_t as, int64_t n_tok, int64_t nb) {
    Prepared pr;
    pr.row_bytes = size_t((nb + 1) / 2) * kPairBytes;
    pr.ldt = (n_tok + 3) & ~int64_t(3);
    uint8_t* s = panel_scratch(pr.row_bytes * size_t(n_tok) + size_t(nb * pr.ldt) * 4 + 64);
    pr.base = s;
    pr.ydT = reinterpret_cast<float*>(s + pr.row_bytes * size_t(n_tok));
    for (int64_t c = 0; c < n_tok; ++c) {
        const block_q8_K* y = reinterpret_cast<const block_q8_K*>(act + c * as);
        prep_row(y, nb, pr.base + c * pr.row_bytes);
        for (int64_t i = 0; i < nb; ++i) pr.ydT[i * pr.ldt + c] = y[i].d;
    }
    for (int64_t c = n_tok; c < pr.ldt; ++c)
        for (int64_t i = 0; i < nb; ++i) pr.ydT[i * pr.ldt + c] = 0.f;
    return pr;
}

// Prefill tile: one weight row x NC <= 4 tokens. Each pair is decoded once; the tokens' sums
// are reduced together and lane c of the float steps is token c's scalar reference sequence.
template <int NC>
T512V void tile(const uint8_t* w, const Prepared& pr, int64_t c0, int64_t nb, float* y, int64_t ldy) {
    const int64_t np = (nb + 1) / 2;
    const uint8_t* A[NC];
    UNROLL for (int c = 0; c < NC; ++c) A[c] = pr.base + (c0 + c) * pr.row_bytes;
    const __m256i hmajor = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    __m128 sum = _mm_setzero_ps();
    for (int64_t p = 0; p < np; ++p) {
        Pair P;
        decode(w + 2 * p * kBlk, 2 * p + 1 < nb, &P);
        __m512i f[4];
        UNROLL for (int c = 0; c < 4; ++c) f[c] = c < NC ? pair_dot(P, A[c] + p * kPairBytes) : _mm512_setzero_si512();
        const __m256 bs = _mm256_permutevar8x32_ps(_mm256_cvtepi32_ps(reduce_pairs(f)), hmajor);
        for (int h = 0; h < 2 && 2 * p + h < nb; ++h) {
            const int64_t i = 2 * p + h;
            const __m128 d = _mm_mul_ps(_mm_set1_ps(h2f(ld16(w + i * kBlk))), _mm_loadu_ps(pr.ydT + i * pr.ldt + c0));
            const __m128 b = h ? _mm256_extractf128_ps(bs, 1) : _mm256_castps256_ps128(bs);
            sum = _mm_add_ps(sum, _mm_mul_ps(d, b));
        }
    }
    alignas(16) float out[4];
    _mm_store_ps(out, _mm_mul_ps(_mm_set1_ps(0.125f), sum));
    for (int c = 0; c < NC; ++c) y[(c0 + c) * ldy] = out[c];
}

}  // namespace iq2v

// =====================================================================================
// IQ2_XXS without VBMI (fallback): 64 elements per step, grid magnitudes from 8 GPR table
// loads, the 8 sign bytes (7 stored bits + even parity) built with pdep and a parity fold
// and applied to the activation through a mask register, scales 2ls+1 by vpermw (the kernel
// the AVX-512 level used before). Exact: each (row, token, super-block) integer sum goes into
// a batch of 8 that is reduced at once, then the reference's float steps run per output in
// super-block order.
// =====================================================================================
namespace iq2f {

T512 INL uint64_t sign_mask(uint32_t a1, uint32_t a3) {
    const uint64_t s56 = (uint64_t)(a1 & 0x0FFFFFFFu) | ((uint64_t)(a3 & 0x0FFFFFFFu) << 28);
    const uint64_t sb = _pdep_u64(s56, 0x7F7F7F7F7F7F7F7Full);
    uint64_t p = sb ^ (sb >> 4);
    p ^= p >> 2;
    p ^= p >> 1;
    return sb | ((p & 0x0101010101010101ull) << 7);
}

// Up to 8 pending (sums zmm, d, output) entries; flush reduces them together and adds
// d * float(sum) to each output's running sum in insertion (= super-block) order.
struct Batch {
    __m512i v[8];
    float d[8];
    int out[8];
    int n = 0;
};
T512 INL void flush(Batch* b, float* sum) {
    if (!b->n) return;
    for (int e = b->n; e < 8; ++e) b->v[e] = _mm512_setzero_si512();
    __m512i r[4];  // pairwise transpose-add: 8 x 16 lanes -> 8 sums
    UNROLL for (int k = 0; k < 4; ++k)
        r[k] = _mm512_add_epi32(_mm512_unpacklo_epi32(b->v[2 * k], b->v[2 * k + 1]), _mm512_unpackhi_epi32(b->v[2 * k], b->v[2 * k + 1]));
    const __m512i s0 = _mm512_add_epi32(_mm512_unpacklo_epi64(r[0], r[1]), _mm512_unpackhi_epi64(r[0], r[1]));
    const __m512i s1 = _mm512_add_epi32(_mm512_unpacklo_epi64(r[2], r[3]), _mm512_unpackhi_epi64(r[2], r[3]));
    // s0 lane L dword k = partial of entry k (0-3), s1 of entries 4-7: sum the 4 lanes.
    const __m512i t = _mm512_add_epi32(_mm512_shuffle_i64x2(s0, s1, 0x88), _mm512_shuffle_i64x2(s0, s1, 0xDD));
    const __m512i u = _mm512_add_epi32(t, _mm512_shuffle_i64x2(t, t, 0xB1));  // lanes 0,2: entries 0-3, 4-7
    const __m256i tot = _mm512_castsi512_si256(_mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 4, 5, 0, 1, 4, 5), u));
    alignas(32) float tv[8];
    _mm256_store_ps(tv, _mm256_mul_ps(_mm256_loadu_ps(b->d), _mm256_cvtepi32_ps(tot)));
    for (int e = 0; e < b->n; ++e) sum[b->out[e]] += tv[e];
    b->n = 0;
}

struct K {
    static constexpr int kGemvRows = 1, kRows = 2, kCols = 4;
    template <int NR, int NC>
    T512 static void tile(const uint8_t* w, size_t ws, const uint8_t* a, size_t as, int64_t n, float* out) {
        const int64_t nb = n / QK_K;
        const uint64_t* G = iq2xxs_grid.data();
        __m512i idx[4];
        UNROLL for (int g = 0; g < 4; ++g)
            idx[g] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)(8 * g + 2))),
                                        _mm256_set1_epi16((short)(8 * g + 6)), 1);
        const __m512i one = _mm512_set1_epi32(1);
        float sum[NR * NC] = {};
        Batch bt;
        for (int64_t i = 0; i < nb; ++i) {
            const block_iq2_xxs* x[NR];
            const block_q8_K* y[NC];
            __m512i ls[NR];
            UNROLL for (int r = 0; r < NR; ++r) {
                x[r] = reinterpret_cast<const block_iq2_xxs*>(w + r * ws) + i;
                const __m512i s = _mm512_srli_epi32(_mm512_loadu_si512(x[r]->qs), 28);
                ls[r] = _mm512_add_epi32(_mm512_add_epi32(s, s), one);
            }
            UNROLL for (int c = 0; c < NC; ++c) y[c] = reinterpret_cast<const block_q8_K*>(a + c * as) + i;
            __m512i sumi[NR][NC];
            UNROLL for (int r = 0; r < NR; ++r) UNROLL for (int c = 0; c < NC; ++c) sumi[r][c] = _mm512_setzero_si512();
            UNROLL for (int g = 0; g < 4; ++g) {
                __m512i gr[NR], sc[NR];
                __mmask64 km[NR];
                UNROLL for (int r = 0; r < NR; ++r) {
                    const uint8_t* ab = reinterpret_cast<const uint8_t*>(x[r]->qs) + 16 * g;
                    gr[r] = _mm512_set_epi64((long long)G[ab[11]], (long long)G[ab[10]], (long long)G[ab[9]],
                                             (long long)G[ab[8]], (long long)G[ab[3]], (long long)G[ab[2]],
                                             (long long)G[ab[1]], (long long)G[ab[0]]);
                    uint32_t a1, a3;
                    std::memcpy(&a1, ab + 4, 4);
                    std::memcpy(&a3, ab + 12, 4);
                    km[r] = _cvtu64_mask64(sign_mask(a1, a3));
                    sc[r] = _mm512_permutexvar_epi16(idx[g], ls[r]);
                }
                UNROLL for (int c = 0; c < NC; ++c) {
                    const __m512i az = _mm512_loadu_si512(y[c]->qs + 64 * g);
                    UNROLL for (int r = 0; r < NR; ++r) {
                        const __m512i as_ = _mm512_mask_sub_epi8(az, km[r], _mm512_setzero_si512(), az);
                        sumi[r][c] = _mm512_dpwssd_epi32(sumi[r][c], _mm512_maddubs_epi16(gr[r], as_), sc[r]);
                    }
                }
            }
            UNROLL for (int r = 0; r < NR; ++r) {
                const float dw = h2f(x[r]->d);
                UNROLL for (int c = 0; c < NC; ++c) {
                    if (bt.n == 8) flush(&bt, sum);
                    bt.v[bt.n] = sumi[r][c];
                    bt.d[bt.n] = dw * y[c]->d;
                    bt.out[bt.n++] = r * NC + c;
                }
            }
        }
        flush(&bt, sum);
        UNROLL for (int k = 0; k < NR * NC; ++k) out[k] = 0.125f * sum[k];
    }
};

}  // namespace iq2f

// =====================================================================================
// Q2_K. qs byte b holds 4 two-bit fields s = 0..3 of elements 128(b/32) + 32s + b%32 (scale
// sub-block 8(b/32) + 2s + (b%32)/16: lane L = b/16 of field s is one sub-block). Two
// super-blocks A, B (a "pair") at a time: per field, A's and B's 64 qs bytes masked to it
// times the activation copy's zmm (vpdpbusd: dword sums of 4 within one sub-block), the two
// packed into one zmm of int16 and vpdpwssd'd with the sub-blocks' scales, which puts A's
// sums in dwords 0-1 and B's in 2-3 of every lane; the mins (vpmaddwd with the bsums) come
// out in the same layout, so one blend/swap/add per pair and one lane reduction per 4 pairs
// give the [isum, summs] of 8 super-blocks. The scale and min words of both blocks come from
// one vpermt2w of their scale bytes and vpshufb's. ~44 zmm ops per pair; measured ~14
// cycles per super-block for the integer work, ~15 with the float steps (n = 2048).
// The activation copy per pair: zmm s of each block = elements [32s, 32s+32) and
// [128+32s, ...), then the bsums; y.d is stored twice per super-block ([yd, yd] pairs with
// [d, dmin]).
// =====================================================================================
namespace q2k {

constexpr int64_t kBlk = 84;           // sizeof(block_q2_K)
constexpr size_t kPairBytes = 9 * 64;  // activation copy per pair: A's 4 field zmm, B's 4, the bsums

struct Tables {
    alignas(64) int16_t cw[32];    // vpermt2w: lane L = scale words 4(L/2)..4(L/2)+3 of A, then of B
    alignas(64) uint8_t w[4][64];  // vpshufb: field s scale words (lane words 0-3 A, 4-7 B; 0x80 = 0)
    alignas(64) uint8_t mn[64];    // vpshufb: min words, lane L = A's mins 4L..4L+3, then B's
};
constexpr Tables make_tables() {
    Tables t{};
    for (int L = 0; L < 4; ++L)
        for (int k = 0; k < 8; ++k) {
            t.cw[8 * L + k] = int16_t(4 * (L / 2) + k % 4 + (k < 4 ? 0 : 32));
            for (int s = 0; s < 4; ++s) {
                t.w[s][16 * L + 2 * k] = uint8_t((k < 4 ? 0 : 8) + 2 * s + L % 2);
                t.w[s][16 * L + 2 * k + 1] = 0x80;
            }
            t.mn[16 * L + 2 * k] = uint8_t((k < 4 ? 0 : 8) + 4 * (L % 2) + k % 4);
            t.mn[16 * L + 2 * k + 1] = 0x80;
        }
    return t;
}
constexpr Tables kT = make_tables();

// Activation prep, one Q8_K row: per pair, zmm s of block h (at 256h + 64s) = elements
// [32s, 32s+32) and [128+32s, ...), then the bsums: lane L words 0-3 = A's 4L..4L+3, 4-7 = B's
// (the layout of the min words). A missing B (odd nb) is zeros.
T512 void prep_row(const block_q8_K* y, int64_t nb, uint8_t* dst) {
    for (int64_t p = 0; 2 * p < nb; ++p, dst += kPairBytes) {
        __m256i bs[2];
        UNROLL for (int h = 0; h < 2; ++h) {
            const int64_t i = 2 * p + h;
            UNROLL for (int s = 0; s < 4; ++s) {
                __m512i v = _mm512_setzero_si512();
                if (i < nb)
                    v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs + 32 * s))),
                                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs + 128 + 32 * s)), 1);
                _mm512_store_si512(dst + 256 * h + 64 * s, v);
            }
            bs[h] = i < nb ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].bsums)) : _mm256_setzero_si256();
        }
        _mm512_store_si512(dst + 512, _mm512_permutex2var_epi64(_mm512_castsi256_si512(bs[0]), _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11),
                                                                _mm512_castsi256_si512(bs[1])));
    }
}

// Weight decode of a pair of super-blocks A, B (B = A when absent: its activations are zero).
// Fields are masked in place (values q, 4q, 16q, and 16q for field 3 after a shift), their
// scale words are 16sc, 4sc, sc, sc: every product is 16 * q * sc. The mins are taken as 16m.
// The scale bytes of lane L's sub-blocks (8(L/2) + L%2 + 2s) are words 4(L/2)..4(L/2)+3 of
// the 16 scale bytes: one vpermt2w gives every lane A's and B's, for in-lane vpshufb's.
struct Pair {
    __m512i f[8], w[4], mw;  // f[4h + s]: field s of block h
};
T512 INL void decode(const uint8_t* xb, bool has1, Pair* P) {
    const uint8_t* xb1 = has1 ? xb + kBlk : xb;
    const __m512i c = _mm512_permutex2var_epi16(_mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xb))), ldz(kT.cw),
                                                _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xb1))));
    const __m512i cl = _mm512_and_si512(c, _mm512_set1_epi8(0x0F));
    P->w[0] = _mm512_shuffle_epi8(_mm512_slli_epi16(cl, 4), ldz(kT.w[0]));  // (bytes <= 15: no carry)
    P->w[1] = _mm512_shuffle_epi8(_mm512_slli_epi16(cl, 2), ldz(kT.w[1]));
    P->w[2] = _mm512_shuffle_epi8(cl, ldz(kT.w[2]));
    P->w[3] = _mm512_shuffle_epi8(cl, ldz(kT.w[3]));
    P->mw = _mm512_and_si512(_mm512_shuffle_epi8(c, ldz(kT.mn)), _mm512_set1_epi16(0xF0));
    UNROLL for (int h = 0; h < 2; ++h) {
        __m512i q = _mm512_loadu_si512((h ? xb1 : xb) + 16);
        asm("" : "+v"(q));  // one load: GCC would otherwise fold it into each use (4 line-split loads)
        P->f[4 * h + 0] = _mm512_and_si512(q, _mm512_set1_epi8(0x03));
        P->f[4 * h + 1] = _mm512_and_si512(q, _mm512_set1_epi8(0x0C));
        P->f[4 * h + 2] = _mm512_and_si512(q, _mm512_set1_epi8(0x30));
        P->f[4 * h + 3] = _mm512_and_si512(_mm512_srli_epi16(q, 2), _mm512_set1_epi8(0x30));
    }
}

// One pair's sums, per lane [isum A, summs A, isum B, summs B] partials (times 16). Field s
// of A and B is packed into one zmm of int16 (|sum of 4| <= 4*48*128), so the scale dwords
// come out as lane [A, A, B, B], as do the min products; a blend + swap + add interleaves them.
// (A ymm fold before the interleave measured no faster here.)
T512 INL __m512i pair_dot(const Pair& P, const uint8_t* A) {
    __m512i acc[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    UNROLL for (int s = 0; s < 4; ++s) {
        const __m512i za = _mm512_dpbusd_epi32(_mm512_setzero_si512(), P.f[s], ldz(A + 64 * s));
        const __m512i zb = _mm512_dpbusd_epi32(_mm512_setzero_si512(), P.f[4 + s], ldz(A + 256 + 64 * s));
        acc[s / 2] = _mm512_dpwssd_epi32(acc[s / 2], _mm512_packs_epi32(za, zb), P.w[s]);
    }
    const __m512i x = _mm512_add_epi32(acc[0], acc[1]), m = _mm512_madd_epi16(P.mw, ldz(A + 512));
    return _mm512_add_epi32(_mm512_mask_blend_epi32(0xAAAA, x, m),
                            _mm512_shuffle_epi32(_mm512_mask_blend_epi32(0xAAAA, m, x), _MM_PERM_CDAB));
}

// Four pair_dot results -> [isum, summs] of their 8 super-blocks in order (lane sums).
T512 INL __m512i reduce8(const __m512i g[4]) {
    const __m512i h01 = _mm512_add_epi32(_mm512_shuffle_i64x2(g[0], g[1], 0x88), _mm512_shuffle_i64x2(g[0], g[1], 0xDD));
    const __m512i h23 = _mm512_add_epi32(_mm512_shuffle_i64x2(g[2], g[3], 0x88), _mm512_shuffle_i64x2(g[2], g[3], 0xDD));
    const __m512i k = _mm512_add_epi32(_mm512_shuffle_i64x2(h01, h23, 0x88), _mm512_shuffle_i64x2(h01, h23, 0xDD));
    return _mm512_srai_epi32(k, 4);  // exact: multiples of 16
}

// Lanes 0,2,4,6: dall * isum - dmin * summs with dall = yd * d, dmin = yd * dmin.
T512 INL __m256 terms(__m256 yd2, __m256 dm, __m256i is) {
    const __m256 t = _mm256_mul_ps(_mm256_mul_ps(yd2, dm), _mm256_cvtepi32_ps(is));
    return _mm256_sub_ps(t, _mm256_movehdup_ps(t));
}
// The same for 8 super-blocks (yd2, dm, is: 16 lanes each), compacted to 8 lanes.
T512 INL __m256 terms(__m512 yd2, __m512 dm, __m512i is) {
    const __m512 t = _mm512_mul_ps(_mm512_mul_ps(yd2, dm), _mm512_cvtepi32_ps(is));
    const __m512 e = _mm512_sub_ps(t, _mm512_movehdup_ps(t));
    return _mm512_castps512_ps256(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0), e));
}

// GEMV in two phases per row, float steps of 8 rows in lanes (see IQ2_XXS above).
constexpr int64_t kMaxNb = 128;

T512 void row_ints(const uint8_t* w, const uint8_t* A, int64_t nb, int32_t* is, uint32_t* dm) {
    const int64_t np = (nb + 1) / 2;
    for (int64_t p0 = 0; p0 < np; p0 += 4) {
        const uint8_t* pf = w + 2 * p0 * kBlk + kPrefetch;
        UNROLL for (int k = 0; k < 11; ++k) _mm_prefetch(reinterpret_cast<const char*>(pf + 64 * k), _MM_HINT_T0);
        __m512i g[4];
        if (2 * (p0 + 4) <= nb) {
            UNROLL for (int u = 0; u < 4; ++u) {
                Pair P;
                decode(w + 2 * (p0 + u) * kBlk, true, &P);
                g[u] = pair_dot(P, A + (p0 + u) * kPairBytes);
            }
        } else {
            for (int u = 0; u < 4; ++u) {
                g[u] = _mm512_setzero_si512();
                if (p0 + u < np) {
                    Pair P;
                    decode(w + 2 * (p0 + u) * kBlk, 2 * (p0 + u) + 1 < nb, &P);
                    g[u] = pair_dot(P, A + (p0 + u) * kPairBytes);
                }
            }
        }
        _mm512_store_si512(is + 4 * p0, reduce8(g));
    }
    for (int64_t i = 0; i < nb; ++i) std::memcpy(dm + i, w + i * kBlk + 80, 4);  // [d, dmin] (see IQ2_XXS)
}

// Row r's terms of super-blocks i..i+7 (lanes).
T512 INL __m256 terms8(const uint32_t* dm, const int32_t* is, const float* yd2, int64_t i, int cnt) {
    const __m512 yv = _mm512_maskz_loadu_ps(__mmask16((1u << (2 * cnt)) - 1), yd2 + 2 * i);
    const __m512 dv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi32(__mmask8((1u << cnt) - 1), dm + i));
    return terms(yv, dv, _mm512_load_si512(is + 2 * i));
}

T512 void gemv(const uint8_t* W, size_t ws, int64_t n_rows, const uint8_t* A, const float* yd2, int64_t nb, float* y) {
    alignas(64) int32_t is[8][2 * kMaxNb + 16];
    uint32_t dm[8][kMaxNb];
    for (int64_t r0 = 0; r0 < n_rows; r0 += 8) {
        const int nr = n_rows - r0 < 8 ? int(n_rows - r0) : 8;
        for (int r = 0; r < nr; ++r) row_ints(W + (r0 + r) * ws, A, nb, is[r], dm[r]);
        __m256 sum = _mm256_setzero_ps();
        for (int64_t i = 0; i < nb; i += 8) {
            const int cnt = nb - i < 8 ? int(nb - i) : 8;
            __m256 t[8];
            for (int r = 0; r < 8; ++r) t[r] = r < nr ? terms8(dm[r], is[r], yd2, i, cnt) : _mm256_setzero_ps();
            sum = add_columns(sum, t, cnt);
        }
        alignas(32) float out[8];
        _mm256_store_ps(out, sum);
        for (int r = 0; r < nr; ++r) y[r0 + r] = out[r];
    }
}

struct Prepared {
    uint8_t* base;
    size_t row_bytes;
    float* yd2;  // [i][2 * c + k] = y_c[i].d (k = 0, 1): ld = 2 * ldt
    int64_t ldt;
};
T512 Prepared prepare(const uint8_t* act, size_t as, int64_t n_tok, int64_t nb) {
    Prepared pr;
    pr.row_bytes = size_t((nb + 1) / 2) * kPairBytes;
    pr.ldt = (n_tok + 3) & ~int64_t(3);
    uint8_t* s = panel_scratch(pr.row_bytes * size_t(n_tok) + size_t(nb * pr.ldt) * 8 + 64);
    pr.base = s;
    pr.yd2 = reinterpret_cast<float*>(s + pr.row_bytes * size_t(n_tok));
    for (int64_t c = 0; c < pr.ldt; ++c) {
        const block_q8_K* y = reinterpret_cast<const block_q8_K*>(act + c * as);
        if (c < n_tok) prep_row(y, nb, pr.base + c * pr.row_bytes);
        for (int64_t i = 0; i < nb; ++i)
            pr.yd2[i * 2 * pr.ldt + 2 * c] = pr.yd2[i * 2 * pr.ldt + 2 * c + 1] = c < n_tok ? y[i].d : 0.f;
    }
    return pr;
}

// Prefill tile: one weight row x NC <= 4 tokens, lane c = token c's reference steps. Each
// pair is decoded once for the NC tokens.
template <int NC>
T512 void tile(const uint8_t* w, const Prepared& pr, int64_t c0, int64_t nb, float* y, int64_t ldy) {
    const int64_t np = (nb + 1) / 2;
    const uint8_t* A[NC];
    UNROLL for (int c = 0; c < NC; ++c) A[c] = pr.base + (c0 + c) * pr.row_bytes;
    const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    __m128 sum = _mm_setzero_ps();
    for (int64_t p = 0; p < np; ++p) {
        Pair P;
        decode(w + 2 * p * kBlk, 2 * p + 1 < nb, &P);
        __m512i g[4];
        UNROLL for (int c = 0; c < 4; ++c) g[c] = c < NC ? pair_dot(P, A[c] + p * kPairBytes) : _mm512_setzero_si512();
        const __m512i k = reduce8(g);  // token c: [isum A, summs A, isum B, summs B]
        for (int h = 0; h < 2 && 2 * p + h < nb; ++h) {
            const int64_t i = 2 * p + h;
            const __m256i is = _mm512_castsi512_si256(_mm512_permutexvar_epi64(_mm512_setr_epi64(h, 2 + h, 4 + h, 6 + h, 0, 0, 0, 0), k));
            uint32_t dm;
            std::memcpy(&dm, w + i * kBlk + 80, 4);
            const __m256 t = terms(_mm256_loadu_ps(pr.yd2 + i * 2 * pr.ldt + 2 * c0), _mm256_cvtph_ps(_mm_set1_epi32(int(dm))), is);
            sum = _mm_add_ps(sum, _mm256_castps256_ps128(_mm256_permutevar8x32_ps(t, even)));
        }
    }
    alignas(16) float out[4];
    _mm_store_ps(out, sum);
    for (int c = 0; c < NC; ++c) y[(c0 + c) * ldy] = out[c];
}

}  // namespace q2k

// Prefill driver: blocks of kRowChunk rows x groups of 4 tokens, so that a group's activation
// copies stay in L1 while the block's weight rows stay in L2; fn[NC - 1] handles NC tokens.
template <class Pr>
using TileFn = void (*)(const uint8_t* w, const Pr& pr, int64_t c0, int64_t nb, float* y, int64_t ldy);
template <class Pr>
void tile_rows(const TileFn<Pr> (&fn)[4], const uint8_t* W, size_t ws, int64_t n_rows, const Pr& pr, int64_t n_tok,
               int64_t nb, float* y, int64_t ldy) {
    constexpr int64_t kRowChunk = 16;
    for (int64_t r0 = 0; r0 < n_rows; r0 += kRowChunk) {
        const int64_t r1 = n_rows - r0 < kRowChunk ? n_rows : r0 + kRowChunk;
        for (int64_t c0 = 0; c0 < n_tok; c0 += 4) {
            const TileFn<Pr> f = fn[(n_tok - c0 < 4 ? n_tok - c0 : 4) - 1];
            for (int64_t r = r0; r < r1; ++r) f(W + r * ws, pr, c0, nb, y + r, ldy);
        }
    }
}

}  // namespace

// ---- entry points -------------------------------------------------------------------
T512V void gemm_iq2_xxs_avx512_vbmi(const void* w, size_t ws, int64_t n_rows, const void* act, size_t as,
                                    int64_t n_tok, int64_t n, float* y, int64_t ldy) {
    const int64_t nb = n / QK_K;
    const uint8_t* W = static_cast<const uint8_t*>(w);
    const iq2v::Prepared pr = iq2v::prepare(static_cast<const uint8_t*>(act), as, n_tok, nb);
    if (n_tok == 1 && nb <= iq2v::kMaxNb) {
        float* yd = pr.ydT;  // ldt = 4: compact it
        for (int64_t i = 1; i < nb; ++i) yd[i] = yd[i * pr.ldt];
        return iq2v::gemv(W, ws, n_rows, pr.base, yd, nb, y);
    }
    static const TileFn<iq2v::Prepared> fn[4] = {iq2v::tile<1>, iq2v::tile<2>, iq2v::tile<3>, iq2v::tile<4>};
    tile_rows(fn, W, ws, n_rows, pr, n_tok, nb, y, ldy);
}
float dot_iq2_xxs_avx512_vbmi(const void* w, const void* a, int64_t n) {
    float out;
    gemm_iq2_xxs_avx512_vbmi(w, 0, 1, a, 0, 1, n, &out, 1);
    return out;
}
void gemm_iq2_xxs_avx512(const void* w, size_t ws, int64_t n_rows, const void* act, size_t as, int64_t n_tok,
                         int64_t n, float* y, int64_t ldy) {
    gemm_tiled<iq2f::K>(w, ws, n_rows, act, as, n_tok, n, y, ldy);
}
float dot_iq2_xxs_avx512(const void* w, const void* a, int64_t n) { return dot_1x1<iq2f::K>(w, a, n); }

T512 void gemm_q2_K_avx512(const void* w, size_t ws, int64_t n_rows, const void* act, size_t as, int64_t n_tok,
                           int64_t n, float* y, int64_t ldy) {
    const int64_t nb = n / QK_K;
    const uint8_t* W = static_cast<const uint8_t*>(w);
    const q2k::Prepared pr = q2k::prepare(static_cast<const uint8_t*>(act), as, n_tok, nb);
    if (n_tok == 1 && nb <= q2k::kMaxNb) {
        float* yd2 = pr.yd2;  // compact [yd, yd] per super-block
        for (int64_t i = 1; i < nb; ++i) yd2[2 * i] = yd2[2 * i + 1] = yd2[i * 2 * pr.ldt];
        return q2k::gemv(W, ws, n_rows, pr.base, yd2, nb, y);
    }
    static const TileFn<q2k::Prepared> fn[4] = {q2k::tile<1>, q2k::tile<2>, q2k::tile<3>, q2k::tile<4>};
    tile_rows(fn, W, ws, n_rows, pr, n_tok, nb, y, ldy);
}
float dot_q2_K_avx512(const void* w, const void* a, int64_t n) {
    float out;
    gemm_q2_K_avx512(w, 0, 1, a, 0, 1, n, &out, 1);
    return out;
}

}  // namespace ds4::kcpu

#endif
