#include "sample/sampler.h"

#include <algorithm>
#include <cmath>

namespace ds4::sample {

int32_t argmax(const float* logits, size_t n) {
    int32_t best = 0;
    float bv = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (logits[i] > bv) {  // NaN never compares greater
            bv = logits[i];
            best = (int32_t)i;
        }
    }
    return best;
}

int token_rank(const float* logits, size_t n, int32_t token) {
    if (token < 0 || (size_t)token >= n) return 0;
    const float v = logits[token];
    int rank = 1;
    for (size_t i = 0; i < n; i++)
        if (logits[i] > v || (logits[i] == v && (int32_t)i < token)) rank++;
    return rank;
}

Sampler::Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {}

void Sampler::reset(uint64_t seed) {
    rng_.seed_with(seed);
    history_.clear();
}

void Sampler::accept(int32_t token) {
    if (p_.repeat_penalty == 1.0f || p_.repeat_last_n <= 0) return;
    history_.push_back(token);
    while ((int)history_.size() > p_.repeat_last_n) history_.pop_front();
}

// Logits with the repeat penalty applied (a copy only when the penalty is active).
const float* Sampler::penalised(const float* logits, size_t n) {
    if (p_.repeat_penalty == 1.0f || history_.empty()) return logits;
    scratch_.assign(logits, logits + n);
    std::vector<int32_t> seen(history_.begin(), history_.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());  // penalise once per token
    for (int32_t t : seen) {
        if (t < 0 || (size_t)t >= n) continue;
        float& l = scratch_[t];
        l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
    }
    return scratch_.data();
}

int32_t Sampler::sample(const float* raw, size_t n) {
    const float* l = penalised(raw, n);
    const int32_t best = argmax(l, n);
    if (p_.temp <= 0.0f || n == 0) return best;
    const float maxl = l[best];
    if (!std::isfinite(maxl)) return best;
    const double inv_t = 1.0 / p_.temp;

    // min-p in logit space: p_i >= min_p * p_max  <=>  l_i >= max + T*ln(min_p).
    // min_p is clamped to 1 so the top token always survives.
    const double min_p = std::min(p_.min_p, 1.0f);
    const float thresh = min_p > 0 ? (float)(maxl + p_.temp * std::log(min_p)) : -INFINITY;
    auto weight = [&](float v) { return std::exp(((double)v - maxl) * inv_t); };
    const bool need_order = p_.top_k > 0 || p_.top_p < 1.0f;

    if (!need_order) {
        // Fast path: draw straight from the survivors in index order, no candidate list.
        double sum = 0;
        for (size_t i = 0; i < n; i++)
            if (l[i] >= thresh && std::isfinite(l[i])) sum += weight(l[i]);
        double r = rng_.uniform() * sum;
        for (size_t i = 0; i < n; i++) {
            if (!(l[i] >= thresh && std::isfinite(l[i]))) continue;
            r -= weight(l[i]);
            if (r < 0) return (int32_t)i;
        }
        return best;
    }

    cand_.clear();
    for (size_t i = 0; i < n; i++)
        if (l[i] >= thresh && std::isfinite(l[i])) cand_.push_back({(int32_t)i, l[i]});
    // Descending logit, ties by index: the same order argmax/token_rank use.
    auto before = [](const Cand& a, const Cand& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); };
    size_t m = cand_.size();
    if (m == 0) return best;
    if (p_.top_k > 0 && (size_t)p_.top_k < m) {
        std::nth_element(cand_.begin(), cand_.begin() + p_.top_k, cand_.end(), before);
        m = (size_t)p_.top_k;
    }
    double total = 0;
    for (size_t i = 0; i < m; i++) total += weight(cand_[i].logit);

    size_t keep = m;
    if (p_.top_p < 1.0f) {
        // Grow a sorted prefix geometrically until it holds top_p of the mass: the nucleus
        // is usually a few tokens, so this sorts far less than the survivor set.
        const double target = (double)std::max(p_.top_p, 0.0f) * total;
        double acc = 0;
        size_t sorted = 0, i = 0;
        keep = 0;
        for (size_t chunk = 64; keep == 0; chunk *= 4) {
            size_t upto = std::min(m, sorted + chunk);
            if (upto < m) std::nth_element(cand_.begin() + sorted, cand_.begin() + upto, cand_.begin() + m, before);
            std::sort(cand_.begin() + sorted, cand_.begin() + upto, before);
            sorted = upto;
            for (; i < sorted; i++) {
                acc += weight(cand_[i].logit);
                if (acc >= target) {
                    keep = i + 1;
                    break;
                }
            }
            if (keep == 0 && sorted == m) keep = m;  // rounding: mass never reached target
        }
        if (keep < m) {
            total = 0;
            for (size_t j = 0; j < keep; j++) total += weight(cand_[j].logit);
        }
    }
    double r = rng_.uniform() * total;
    for (size_t i = 0; i < keep; i++) {
        r -= weight(cand_[i].logit);
        if (r < 0) return cand_[i].id;
    }
    return cand_[keep - 1].id;
}

}  // namespace ds4::sample
