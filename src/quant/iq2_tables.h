// IQ2_XXS data tables (facts from ggml). The 256-point grid is ggml's kgrid_2bit_256
// (ggml-quants.c): entry j packs 8 two-bit levels l (bits 2k..2k+1 for coordinate k), each
// l in {0, 1, 2}. The other tables are derived from it at compile time:
//   iq2xxs_grid[j]  (ggml-common.h): byte k = {8, 25, 43}[l_k]        (dequantization)
//   ksigns_iq2xs[i]  = i | (parity(i) << 7)   (7 stored sign bits + implied even parity)
//   kmask_iq2xs[j]   = 1 << j
// The quantizer's grid uses coordinates 2l+1 (see quants_iq2.cpp).
#pragma once
#include <array>
#include <cstdint>

namespace ds4 {

inline constexpr uint16_t kgrid_2bit_256[256] = {
        0,     2,     5,     8,    10,    17,    20,    32,    34,    40,    42,    65,    68,    80,    88,    97,
      100,   128,   130,   138,   162,   257,   260,   272,   277,   320,   388,   408,   512,   514,   546,   642,
     1025,  1028,  1040,  1057,  1060,  1088,  1090,  1096,  1120,  1153,  1156,  1168,  1188,  1280,  1282,  1288,
     1312,  1350,  1385,  1408,  1425,  1545,  1552,  1600,  1668,  1700,  2048,  2053,  2056,  2068,  2088,  2113,
     2116,  2128,  2130,  2184,  2308,  2368,  2562,  2580,  4097,  4100,  4112,  4129,  4160,  4192,  4228,  4240,
     4245,  4352,  4360,  4384,  4432,  4442,  4480,  4644,  4677,  5120,  5128,  5152,  5157,  5193,  5248,  5400,
     5474,  5632,  5654,  6145,  6148,  6160,  6208,  6273,  6400,  6405,  6560,  6737,  8192,  8194,  8202,  8260,
     8289,  8320,  8322,  8489,  8520,  8704,  8706,  9217,  9220,  9232,  9280,  9302,  9472,  9537,  9572,  9872,
    10248, 10272, 10388, 10820, 16385, 16388, 16400, 16408, 16417, 16420, 16448, 16456, 16470, 16480, 16513, 16516,
    16528, 16640, 16672, 16737, 16768, 16773, 16897, 16912, 16968, 16982, 17000, 17408, 17416, 17440, 17536, 17561,
    17682, 17700, 17920, 18433, 18436, 18448, 18496, 18501, 18688, 18776, 18785, 18818, 19013, 19088, 20480, 20488,
    20497, 20505, 20512, 20608, 20616, 20740, 20802, 20900, 21137, 21648, 21650, 21770, 22017, 22100, 22528, 22545,
    22553, 22628, 22848, 23048, 24580, 24592, 24640, 24680, 24832, 24917, 25112, 25184, 25600, 25605, 25872, 25874,
    25988, 26690, 32768, 32770, 32778, 32833, 32898, 33028, 33048, 33088, 33297, 33793, 33796, 33808, 33813, 33856,
    33888, 34048, 34118, 34196, 34313, 34368, 34400, 34818, 35076, 35345, 36868, 36880, 36900, 36928, 37025, 37142,
    37248, 37445, 37888, 37922, 37956, 38225, 39041, 39200, 40962, 41040, 41093, 41225, 41472, 42008, 43088, 43268,
};

namespace iq2_detail {
constexpr std::array<uint64_t, 256> make_iq2xxs_grid() {
    constexpr uint8_t kMag[3] = {8, 25, 43};
    std::array<uint64_t, 256> g{};
    for (int j = 0; j < 256; ++j) {
        uint64_t v = 0;
        for (int k = 0; k < 8; ++k)
            v |= (uint64_t)kMag[(kgrid_2bit_256[j] >> (2 * k)) & 3] << (8 * k);
        g[j] = v;
    }
    return g;
}
constexpr std::array<uint8_t, 128> make_ksigns() {
    std::array<uint8_t, 128> s{};
    for (int i = 0; i < 128; ++i) {
        int parity = 0;
        for (int b = 0; b < 7; ++b) parity ^= (i >> b) & 1;
        s[i] = (uint8_t)(i | (parity << 7));
    }
    return s;
}
}  // namespace iq2_detail

inline constexpr std::array<uint64_t, 256> iq2xxs_grid = iq2_detail::make_iq2xxs_grid();
inline constexpr std::array<uint8_t, 128> ksigns_iq2xs = iq2_detail::make_ksigns();
inline constexpr std::array<uint8_t, 8> kmask_iq2xs = {1, 2, 4, 8, 16, 32, 64, 128};

// Spot checks against ggml-common.h.
static_assert(iq2xxs_grid[0] == 0x0808080808080808ull);
static_assert(iq2xxs_grid[1] == 0x080808080808082bull);
static_assert(iq2xxs_grid[2] == 0x0808080808081919ull);
static_assert(iq2xxs_grid[255] == 0x2b2b2b1908081908ull);
static_assert(ksigns_iq2xs[1] == 129 && ksigns_iq2xs[3] == 3 && ksigns_iq2xs[127] == 255);

}  // namespace ds4
