// How far one row of logits is from a reference row: relative L2, max |diff|, KL and argmax.
// Shared by the oracle, recipe and peer tests so they all measure the same way.
#pragma once
#include <algorithm>
#include <cmath>

namespace ds4::test {

struct RowDiff {
    double rel_l2 = 0, max_abs = 0, kl = 0;  // kl = KL(softmax a || softmax b), in double
    bool same_argmax = true;                 // first maximum of each row
};

inline RowDiff compare_row(const float* a, const float* b, int n) {
    RowDiff d;
    double num = 0, den = 0;
    int am = 0, bm = 0;
    for (int i = 0; i < n; ++i) {
        const double e = double(a[i]) - b[i];
        num += e * e;
        den += double(b[i]) * b[i];
        d.max_abs = std::max(d.max_abs, std::fabs(e));
        if (a[i] > a[am]) am = i;
        if (b[i] > b[bm]) bm = i;
    }
    d.rel_l2 = std::sqrt(num / std::max(den, 1e-30));
    d.same_argmax = am == bm;
    const double ma = a[am], mb = b[bm];
    double za = 0, zb = 0;
    for (int i = 0; i < n; ++i) {
        za += std::exp(a[i] - ma);
        zb += std::exp(b[i] - mb);
    }
    const double lza = std::log(za), lzb = std::log(zb);
    for (int i = 0; i < n; ++i) {
        const double la = a[i] - ma - lza, lb = b[i] - mb - lzb;
        d.kl += std::exp(la) * (la - lb);
    }
    if (!std::isfinite(d.kl)) d.kl = INFINITY;
    return d;
}

}  // namespace ds4::test
