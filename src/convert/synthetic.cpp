#include "convert/synthetic.h"

#include <cmath>
#include <cstring>
#include <algorithm>
#include <atomic>
#include <numeric>
#include <thread>
#include <vector>

#include "quant/quants.h"
#include "util/rng.h"
#include "util/error.h"

namespace ds4::convert {

SyntheticPreset synthetic_preset(const std::string& name) {
    SyntheticPreset s;
    ModelParams& p = s.params;
    if (name == "tiny") {
        // MODEL-SPEC 15.1 TINY-A shapes: hash x {0,4,128} on layers 0-2, score-routed x {0,4,128} on 3-5.
        p.name = "ds4-tiny";
        p.n_layer = 6;
        p.compress_ratios = {0, 4, 128, 0, 4, 128, 0};
        p.n_embd = 128;
        p.n_vocab = 512;
        p.n_head = 4;
        p.head_dim = 128;
        p.n_rot = 64;
        p.q_rank = 64;
        p.o_groups = 2;
        p.o_rank = 32;
        p.window = 16;
        p.n_expert = 16;
        p.n_expert_used = 6;
        p.n_ff_exp = 128;
        p.n_shared = 1;
        p.n_hash = 3;
        p.idx_heads = 4;
        p.idx_head_dim = 128;
        p.idx_topk = 4;
        p.context_length = 4096;
        s.policy = Policy::q4();
    } else if (name == "bench-q4" || name == "bench-q2") {
        p.name = "ds4-" + name;
        p.n_layer = 4;
        p.compress_ratios = {0, 4, 128, 4};
        p.n_hash = 1;
        p.n_expert = 32;
        p.n_expert_used = 6;
        // everything else: the Flash widths (ModelParams defaults)
        s.policy = name == "bench-q4" ? Policy::q4() : Policy::q2();
    } else {
        fail("unknown preset '%s' (tiny, bench-q4, bench-q2)", name.c_str());
    }
    return s;
}

namespace {

uint64_t fnv1a(const std::string& s) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

// Fixed-seed generator (util/rng.h) plus the normals the weights are drawn from.
struct WeightRng : Rng {
    using Rng::Rng;
    // Fills n normals N(mean, std^2).
    void normals(float* out, int64_t n, float mean, float std) {
        int64_t i = 0;
        while (i < n) {  // Marsaglia polar method, both outputs used
            const float u = 2.0f * (float)(next() >> 40) * 0x1.0p-24f - 1.0f;
            const float v = 2.0f * (float)(next() >> 40) * 0x1.0p-24f - 1.0f;
            const float s = u * u + v * v;
            if (s >= 1.0f || s == 0.0f) continue;
            const float m = std::sqrt(-2.0f * std::log(s) / s);
            out[i++] = mean + std * (u * m);
            if (i < n) out[i++] = mean + std * (v * m);
        }
    }
};

bool ends_with(const std::string& s, const char* suf) {
    const size_t n = strlen(suf);
    return s.size() >= n && s.compare(s.size() - n, n, suf) == 0;
}

}  // namespace

// One chunk of a tensor's values: a pure function of (seed, tensor, expert, chunk), so the
// result does not depend on how chunks are spread over threads.
void SyntheticSource::fill_chunk(const PlannedTensor& t, int64_t expert, int64_t chunk, float* out, int64_t n) const {
    WeightRng rng(seed_ ^ fnv1a(t.name) ^ (0xA5A5A5A5ull * (uint64_t)(expert + 1)) ^ (0x9E3779B97F4A7C15ull * (uint64_t)chunk));
    const std::string& nm = t.name;
    if (ends_with(nm, "_norm.weight")) {
        rng.normals(out, n, 1.0f, 0.1f);
    } else if (ends_with(nm, "hc_attn_scale.weight") || ends_with(nm, "hc_ffn_scale.weight") || nm == "output_hc_scale.weight") {
        for (int64_t i = 0; i < n; i++) out[i] = 0.3f + 0.7f * (float)rng.uniform();
    } else if (ends_with(nm, "hc_attn_base.weight") || ends_with(nm, "hc_ffn_base.weight")) {
        // [pre (hc), post (hc), comb (hc x hc)]: near-identity mixing as mHC starts.
        rng.normals(out, n, 0.0f, 0.5f);
        const int64_t hc = p_.hc;
        for (int64_t i = 0; i < hc; i++)
            if (2 * hc + i * hc + i < n) out[2 * hc + i * hc + i] += 3.0f;
    } else if (nm == "output_hc_base.weight" || ends_with(nm, "_ape.weight")) {
        rng.normals(out, n, 0.0f, 0.5f);
    } else if (ends_with(nm, "attn_sinks.weight")) {
        rng.normals(out, n, 1.0f, 1.0f);
    } else if (ends_with(nm, "exp_probs_b.bias")) {
        rng.normals(out, n, 0.0f, 0.1f);
    } else if (nm == "token_embd.weight") {
        rng.normals(out, n, 0.0f, 1.0f);
    } else {
        // every matrix: N(0, 1/fan_in) so that a matvec of an O(1) input stays O(1)
        rng.normals(out, n, 0.0f, (float)(1.0 / std::sqrt((double)t.ne[0])));
    }
}

void SyntheticSource::fill(const PlannedTensor& t, int64_t expert, float* out) const {
    const int64_t n = t.experts ? t.ne[0] * t.ne[1] : t.nelements();
    constexpr int64_t kChunk = 1 << 16;
    const int64_t nchunks = (n + kChunk - 1) / kChunk;
    // Expert slices are already filled in parallel by the pipeline; big single tensors
    // (embedding, output) are split here.
    const int nt = (expert < 0 && nchunks >= 64) ? std::max(1, threads_) : 1;
    std::atomic<int64_t> next{0};
    auto work = [&] {
        for (int64_t c; (c = next.fetch_add(1)) < nchunks;)
            fill_chunk(t, expert, c, out + c * kChunk, std::min(kChunk, n - c * kChunk));
    };
    std::vector<std::thread> ts;
    for (int i = 1; i < nt; i++) ts.emplace_back(work);
    work();
    for (auto& th : ts) th.join();
}

void SyntheticSource::fill_i32(const PlannedTensor& t, int32_t* out) const {
    WeightRng rng(seed_ ^ fnv1a(t.name));
    const int64_t K = t.ne[0], V = t.ne[1], E = p_.n_expert;
    std::vector<int32_t> perm((size_t)E);
    for (int64_t v = 0; v < V; v++) {
        std::iota(perm.begin(), perm.end(), 0);
        for (int64_t k = 0; k < K; k++) {  // partial Fisher-Yates: K distinct experts
            const int64_t j = k + (int64_t)(rng.next() % (uint64_t)(E - k));
            std::swap(perm[k], perm[j]);
            out[v * K + k] = perm[k];
        }
    }
}

bool SyntheticSource::fill_quantized(const PlannedTensor& t, int64_t expert, uint8_t* dst) const {
    if (!block_pool_ || !(t.type == GgmlType::Q4_K || t.type == GgmlType::Q2_K || t.type == GgmlType::IQ2_XXS)) return false;
    constexpr int64_t kPoolRows = 64;
    const int64_t n0 = t.ne[0];
    std::shared_ptr<const std::vector<uint8_t>> pool;
    {
        std::lock_guard<std::mutex> lk(mu_);  // built once per tensor; other experts wait for it
        auto it = pools_.find(t.name);
        if (it != pools_.end()) {
            pool = it->second;
        } else {
            std::vector<float> x((size_t)(kPoolRows * n0));
            WeightRng rng(seed_ ^ fnv1a(t.name) ^ 0x5EED5EED5EEDull);
            rng.normals(x.data(), (int64_t)x.size(), 0.0f, (float)(1.0 / std::sqrt((double)n0)));
            std::vector<float> imat((size_t)n0, 0.0f);
            for (int64_t r = 0; r < kPoolRows; r++)
                for (int64_t c = 0; c < n0; c++) imat[c] += x[r * n0 + c] * x[r * n0 + c];
            auto q = std::make_shared<std::vector<uint8_t>>((size_t)(row_size(t.type, n0) * kPoolRows));
            quantize_rows(t.type, x.data(), q->data(), kPoolRows, n0, quant_requires_imatrix(t.type) ? imat.data() : nullptr);
            pools_[t.name] = q;
            pool = q;
        }
    }
    const TypeTraits tr = type_traits(t.type);
    const int64_t rows = t.experts ? t.ne[1] : t.rows();
    const int64_t nblocks = rows * (n0 / tr.block_size);
    const uint64_t pool_blocks = (uint64_t)(kPoolRows * (n0 / tr.block_size));
    WeightRng rng(seed_ ^ fnv1a(t.name) ^ (0xA5A5A5A5ull * (uint64_t)(expert + 1)) ^ 0xB10Cull);
    for (int64_t b = 0; b < nblocks; b++)
        memcpy(dst + b * tr.type_size, pool->data() + (rng.next() % pool_blocks) * tr.type_size, (size_t)tr.type_size);
    return true;
}

std::string SyntheticSource::describe(const PlannedTensor& t) const {
    if (block_pool_ && (t.type == GgmlType::Q4_K || t.type == GgmlType::Q2_K || t.type == GgmlType::IQ2_XXS))
        return "random (seeded; blocks drawn from 64 quantized rows)";
    return "random (seeded)";
}

}  // namespace ds4::convert
