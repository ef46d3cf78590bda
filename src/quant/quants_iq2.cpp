// IQ2_XXS (2.0625 bpw): quantizer (ggml quantize_row_iq2_xxs_impl, importance weights
// required), its init-time tables (ggml iq2xs_init_impl for the 256-point grid),
// dequantizer and scalar dot against Q8_K. Float expressions follow ggml operation by
// operation; do not reorder them.
#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstring>
#include <vector>

#include "quant/iq2_tables.h"
#include "quant/quants.h"
#include "quant/quants_impl.h"

namespace ds4 {

using qimpl::kGroupMaxEps;
using qimpl::nearest_int;

namespace {

// Quantizer tables, built once.
//  grid[j][k]  : coordinate 2*l+1 (1, 3 or 5) of grid point j
//  map[u]      : for a 16-bit code u (8 x 2-bit levels), the grid index if u is on the grid,
//                else -(offset+1) with neighbours[offset] = count, followed by `count` grid
//                indexes: every grid point at the two smallest distinct squared distances
//                from u's point, sorted by (distance, index) (ggml's nwant = 2).
struct Iq2Tables {
    static constexpr int kMapSize = 43692;  // codes up to 0b1010...10 (all levels <= 2), + 1
    int8_t grid[256][8];
    std::vector<int> map;
    std::vector<uint16_t> neighbours;

    Iq2Tables() : map(kMapSize, -1) {
        for (int j = 0; j < 256; ++j)
            for (int k = 0; k < 8; ++k) grid[j][k] = (int8_t)(2 * ((kgrid_2bit_256[j] >> (2 * k)) & 3) + 1);
        for (int j = 0; j < 256; ++j) {
            int index = 0;
            for (int k = 0; k < 8; ++k) index |= ((grid[j][k] - 1) / 2) << (2 * k);
            map[index] = j;
        }
        // Equivalent to ggml's qsort by (distance, index) followed by taking the points of
        // the first two distinct distances: find the two smallest distances, then list the
        // points at each in index order.
        int d2s[256];
        for (int u = 0; u < kMapSize; ++u) {
            if (map[u] >= 0) continue;
            int pos[8];
            for (int k = 0; k < 8; ++k) pos[k] = 2 * ((u >> (2 * k)) & 3) + 1;
            int first = INT32_MAX, second = INT32_MAX;
            for (int j = 0; j < 256; ++j) {
                int d2 = 0;
                for (int k = 0; k < 8; ++k) d2 += (grid[j][k] - pos[k]) * (grid[j][k] - pos[k]);
                d2s[j] = d2;
                if (d2 < first) {
                    second = first;
                    first = d2;
                } else if (d2 > first && d2 < second) {
                    second = d2;
                }
            }
            const size_t start = neighbours.size();
            neighbours.push_back(0);
            for (int want : {first, second}) {
                if (want == INT32_MAX) break;
                for (int j = 0; j < 256; ++j)
                    if (d2s[j] == want) neighbours.push_back((uint16_t)j);
            }
            neighbours[start] = (uint16_t)(neighbours.size() - start - 1);
            map[u] = -(int)start - 1;
        }
    }
};

const Iq2Tables& iq2_tables() {
    static const Iq2Tables t;  // thread-safe one-time construction
    return t;
}

// ggml iq2_find_best_neighbour: the first candidate with the smallest weighted error.
int find_best_neighbour(const Iq2Tables& T, const uint16_t* nb, const float* xval,
                        const float* weight, float scale, int8_t* L) {
    const int num = nb[0];
    float best_d2 = FLT_MAX;
    int grid_index = -1;
    for (int j = 1; j <= num; ++j) {
        const int8_t* pg = T.grid[nb[j]];
        float d2 = 0;
        for (int i = 0; i < 8; ++i) {
            const float q = pg[i];
            const float diff = scale * q - xval[i];
            d2 += weight[i] * diff * diff;
        }
        if (d2 < best_d2) {
            best_d2 = d2;
            grid_index = nb[j];
        }
    }
    const int8_t* pg = T.grid[grid_index];
    for (int i = 0; i < 8; ++i) L[i] = (int8_t)((pg[i] - 1) / 2);
    return grid_index;
}

// Grid index for the 8 levels at L (0..2 each), snapping off-grid codes to the best
// neighbour (which then overwrites L with the neighbour's levels).
int grid_index_for(const Iq2Tables& T, int8_t* L, const float* xval, const float* waux,
                   float scale) {
    int u = 0;
    for (int i = 0; i < 8; ++i) u |= L[i] << (2 * i);
    int gi = T.map[u];
    if (gi < 0) gi = find_best_neighbour(T, &T.neighbours[-gi - 1], xval, waux, scale, L);
    return gi;
}

}  // namespace

void iq2xxs_init() { (void)iq2_tables(); }

void quantize_row_iq2_xxs(const float* x, block_iq2_xxs* y, int64_t n, const float* quant_weights) {
    if (!quant_weights) qimpl::fail("quantize_row_iq2_xxs: IQ2_XXS requires an importance matrix");
    if (n < 0 || n % QK_K != 0) qimpl::fail("quantize_row_iq2_xxs: n must be a multiple of 256");
    const Iq2Tables& T = iq2_tables();
    constexpr int kMaxQ = 3;
    const int64_t nbl = n / QK_K;

    float scales[QK_K / 32];
    float weight[32];
    float xval[32];
    int8_t L[32];
    int8_t Laux[32];
    float waux[32];
    uint8_t block_signs[4];
    uint32_t q2[2 * (QK_K / 32)];

    for (int64_t ibl = 0; ibl < nbl; ++ibl) {
        y[ibl].d = fp32_to_fp16(0.f);
        std::memset(q2, 0, sizeof q2);
        float max_scale = 0;

        const float* xbl = x + QK_K * ibl;
        float sumx2 = 0;
        for (int i = 0; i < QK_K; ++i) sumx2 += xbl[i] * xbl[i];
        const float sigma2 = sumx2 / QK_K;

        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const float* xb = xbl + 32 * ib;
            const float* qw = quant_weights + QK_K * ibl + 32 * ib;
            for (int i = 0; i < 32; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
            for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
            // Magnitudes plus signs; an odd number of negatives flips the cheapest element.
            for (int k = 0; k < 4; ++k) {
                int nflip = 0;
                uint8_t s = 0;
                for (int i = 0; i < 8; ++i) {
                    if (xb[8 * k + i] >= 0) {
                        xval[8 * k + i] = xb[8 * k + i];
                    } else {
                        xval[8 * k + i] = -xb[8 * k + i];
                        ++nflip;
                        s |= (uint8_t)(1 << i);
                    }
                }
                if (nflip % 2) {
                    int imin = 0;
                    float min = weight[8 * k] * xb[8 * k] * xb[8 * k];
                    for (int i = 1; i < 8; ++i) {
                        const float ax = weight[8 * k + i] * xb[8 * k + i] * xb[8 * k + i];
                        if (ax < min) {
                            min = ax;
                            imin = i;
                        }
                    }
                    xval[8 * k + imin] = -xval[8 * k + imin];
                    s ^= (uint8_t)(1 << imin);
                }
                block_signs[k] = s & 127;
            }
            float max = xval[0];
            for (int i = 1; i < 32; ++i) max = std::max(max, xval[i]);
            if (max < kGroupMaxEps) {
                scales[ib] = 0;
                std::memset(L, 0, 32);
                continue;
            }
            float scale = qimpl::make_qp_quants(32, kMaxQ + 1, xval, reinterpret_cast<uint8_t*>(L), weight);
            const float eff_max = scale * kMaxQ;
            if (eff_max <= 0) {
                scales[ib] = 0;
                std::memset(L, 0, 32);
                continue;
            }
            float best = 0;
            for (int is = -6; is <= 6; ++is) {
                const float id = (2 * kMaxQ - 1 + is * 0.1f) / eff_max;
                const float this_scale = 1 / id;
                for (int k = 0; k < 4; ++k) {
                    for (int i = 0; i < 8; ++i) {
                        const int l = nearest_int(0.5f * (id * xval[8 * k + i] - 1));
                        Laux[8 * k + i] = (int8_t)std::max(0, std::min(kMaxQ - 1, l));
                    }
                    grid_index_for(T, Laux + 8 * k, xval + 8 * k, waux + 8 * k, this_scale);
                }
                float sumqx = 0, sumq2 = 0;
                for (int i = 0; i < 32; ++i) {
                    const float w = weight[i];
                    const float q = 2 * Laux[i] + 1;
                    sumqx += w * xval[i] * q;
                    sumq2 += w * q * q;
                }
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    scale = sumqx / sumq2;
                    best = scale * sumqx;
                    std::memcpy(L, Laux, 32);
                }
            }
            if (scale > 0) {
                const float id = 1 / scale;
                for (int k = 0; k < 4; ++k) {
                    int8_t Lk[8];
                    for (int i = 0; i < 8; ++i) {
                        const int l = nearest_int(0.5f * (id * xval[8 * k + i] - 1));
                        Lk[i] = (int8_t)std::max(0, std::min(kMaxQ - 1, l));
                    }
                    const int gi = grid_index_for(T, Lk, xval + 8 * k, waux + 8 * k, scale);
                    for (int i = 0; i < 8; ++i) L[8 * k + i] = (int8_t)((T.grid[gi][i] - 1) / 2);
                }
                float sumqx = 0, sumq2 = 0;
                for (int i = 0; i < 32; ++i) {
                    const float w = weight[i];
                    const float q = 2 * L[i] + 1;
                    sumqx += w * xval[i] * q;
                    sumq2 += w * q * q;
                }
                if (sumq2 > 0) scale = sumqx / sumq2;
            }
            if (scale < 0) {
                // Cannot happen per ggml; keep its fallback (flip scale and the stored signs).
                scale = -scale;
                for (int k = 0; k < 4; ++k) block_signs[k] = (uint8_t)((~block_signs[k]) & 127);
            }
            for (int k = 0; k < 4; ++k) {
                int u = 0;
                for (int i = 0; i < 8; ++i) u |= L[8 * k + i] << (2 * i);
                const int gi = (u < Iq2Tables::kMapSize) ? T.map[u] : -1;
                if (gi < 0) qimpl::fail("quantize_row_iq2_xxs: internal error, point not on grid");
                q2[2 * ib + 0] |= (uint32_t)gi << (8 * k);
                q2[2 * ib + 1] |= (uint32_t)block_signs[k] << (7 * k);
            }
            scales[ib] = scale;
            max_scale = std::max(max_scale, scale);
        }

        if (!max_scale) {
            std::memset(y[ibl].qs, 0, sizeof y[ibl].qs);
            continue;
        }
        const float d = max_scale / 31;
        y[ibl].d = fp32_to_fp16(d);
        const float id = 1 / d;
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            int l = nearest_int(0.5f * (id * scales[ib] - 1));
            l = std::max(0, std::min(15, l));
            q2[2 * ib + 1] |= (uint32_t)l << 28;
        }
        std::memcpy(y[ibl].qs, q2, sizeof q2);
    }
}

void dequantize_row_iq2_xxs(const block_iq2_xxs* x, float* y, int64_t n) {
    if (n < 0 || n % QK_K != 0) qimpl::fail("dequantize_row_iq2_xxs: n must be a multiple of 256");
    const int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(x[i].d);
        for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {
            uint32_t aux32[2];
            std::memcpy(aux32, x[i].qs + 4 * ib32, sizeof aux32);
            const float db = d * (0.5f + (aux32[1] >> 28)) * 0.25f;
            for (int l = 0; l < 4; ++l) {
                const uint64_t g = iq2xxs_grid[(aux32[0] >> (8 * l)) & 0xFF];
                const uint8_t signs = ksigns_iq2xs[(aux32[1] >> (7 * l)) & 127];
                for (int j = 0; j < 8; ++j) {
                    const uint8_t mag = (uint8_t)(g >> (8 * j));
                    y[j] = db * mag * (signs & kmask_iq2xs[j] ? -1.f : 1.f);
                }
                y += 8;
            }
        }
    }
}

float vec_dot_iq2_xxs_q8_K_ref(const void* vw, const void* va, int64_t n) {
    if (n < 0 || n % QK_K != 0) qimpl::fail("vec_dot_iq2_xxs_q8_K: n must be a multiple of 256");
    const block_iq2_xxs* x = static_cast<const block_iq2_xxs*>(vw);
    const block_q8_K* y = static_cast<const block_q8_K*>(va);
    const int64_t nb = n / QK_K;
    float sumf = 0.f;
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_fp32(x[i].d) * y[i].d;
        const int8_t* q8 = y[i].qs;
        int32_t bsum = 0;
        for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {
            uint32_t aux32[2];
            std::memcpy(aux32, x[i].qs + 4 * ib32, sizeof aux32);
            const int32_t ls = 2 * (int32_t)(aux32[1] >> 28) + 1;
            int32_t sumi = 0;
            for (int l = 0; l < 4; ++l) {
                const uint64_t g = iq2xxs_grid[(aux32[0] >> (8 * l)) & 0xFF];
                const uint8_t signs = ksigns_iq2xs[(aux32[1] >> (7 * l)) & 127];
                for (int j = 0; j < 8; ++j) {
                    const int mag = (int)((g >> (8 * j)) & 0xFF);
                    sumi += mag * q8[j] * (signs & kmask_iq2xs[j] ? -1 : 1);
                }
                q8 += 8;
            }
            bsum += sumi * ls;
        }
        sumf += d * bsum;
    }
    // (d*(0.5+ls)*0.25) * grid = d * (2ls+1) * grid / 8
    return 0.125f * sumf;
}

}  // namespace ds4
