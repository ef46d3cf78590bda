#include "model/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace ds4 {
namespace {

// The head-vectorised exact kernel behind attend(bf16, exact) must match the scalar
// reference bit for bit: padded window slots, partial blocks (last block of 2, 5, 13, 44 slots:
// every branch of the block sum, also as the only block), live-row counts with every
// score-pass tail, head counts not a multiple of 16, widths with a tail of 8, 6 and 5 dims,
// scores large enough to exercise the exp clamps, and a first block with no live slot (NaN
// rescale: the NaN lanes of the exp).
TEST(Attention, ExactVectorisedMatchesScalarBitForBit) {
    std::mt19937 rng(7);
    struct Case { int H, D, n_win, win_slots, n_comp, comp_slots; float amp; };
    const Case cases[] = {{64, 512, 128, 128, 40, 64, 1.0f},  {64, 512, 3, 128, 0, 0, 1.0f},
                          {20, 512, 70, 128, 130, 130, 4.0f}, {5, 72, 9, 16, 17, 20, 30.0f},
                          {17, 136, 1, 8, 200, 256, 0.5f},    {64, 512, 65, 128, 512, 512, 2.0f},
                          {16, 70, 60, 64, 133, 133, 3.0f},   {3, 37, 128, 128, 13, 13, 1.0f},
                          {33, 160, 100, 128, 44, 44, 8.0f},  {16, 48, 5, 5, 0, 0, 1.0f},
                          {7, 24, 13, 13, 0, 0, 2.0f},        {9, 40, 44, 44, 0, 0, 2.0f},
                          {4, 32, 0, 64, 10, 10, 1.0f}};
    for (const Case& c : cases) {
        std::normal_distribution<float> nd(0.0f, c.amp);
        const int n_rows = c.n_win + c.n_comp;
        std::vector<float> data(size_t(n_rows) * c.D), q(size_t(c.H) * c.D), sinks(c.H);
        for (float& x : data) x = nd(rng);
        for (float& x : q) x = nd(rng);
        for (float& x : sinks) x = nd(rng);
        std::vector<const float*> rows(n_rows);
        for (int j = 0; j < n_rows; ++j) rows[j] = data.data() + size_t(j) * c.D;
        attention::RowSet rs{rows.data(), n_rows, c.n_win, c.win_slots, c.win_slots + c.comp_slots};
        const float scale = 1.0f / std::sqrt(float(c.D));
        std::vector<float> ref(q.size()), got(q.size()), scratch(std::max(n_rows, 64));
        attention::attend_reference(q.data(), rs, sinks.data(), 0, c.H, c.D, scale, scratch.data(), ref.data());
        attention::attend(q.data(), rs, sinks.data(), 0, c.H, c.D, scale, true, scratch.data(), got.data(), true);
        ASSERT_EQ(0, std::memcmp(ref.data(), got.data(), ref.size() * sizeof(float)))
            << "H=" << c.H << " D=" << c.D << " n_win=" << c.n_win << " n_comp=" << c.n_comp;
        // A head range not starting at 0.
        std::vector<float> got2(q.size(), 0.0f), ref2(q.size(), 0.0f);
        attention::attend_reference(q.data(), rs, sinks.data(), 1, c.H, c.D, scale, scratch.data(), ref2.data());
        attention::attend(q.data(), rs, sinks.data(), 1, c.H, c.D, scale, true, scratch.data(), got2.data(), true);
        ASSERT_EQ(0, std::memcmp(ref2.data(), got2.data(), ref2.size() * sizeof(float)));
    }
}

}  // namespace
}  // namespace ds4
