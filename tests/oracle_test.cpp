// The engine against the official DeepSeek V4 reference (shared/vectors/oracle, README there).
//
// Fp32: each checkpoint converted with the all-f32 policy, loaded with Numerics::Fp32, must
// reproduce the oracle's fp32 logits at every listed position (relative L2 < 1e-4, max |diff|
// < 1e-3, same argmax) for one prefill over the whole sequence, for chunked prefill (chunks of
// 1, 7, 64) and for prefill + single-token decode. On failure the first diverging layer is
// located from the oracle's debug dumps (per-layer hidden norms, routing, indexer choices).
//
// Official: Numerics::Official against the oracle's `exact` logits; per variant, mean KL and
// top-1 agreement must be at least as good as the exact-vs-exact64 floor in metrics.json.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "engine/debug.h"
#include "engine/session.h"
#include "logit_metrics.h"
#include "test_util.h"
#include "util/json.h"

namespace ds4::test {
namespace {


json::Value load_json(const std::string& path) { return json::parse(slurp(path)); }

template <class T>
std::vector<T> load_bin(const std::string& path) {
    const std::string s = slurp(path);
    std::vector<T> v(s.size() / sizeof(T));
    std::memcpy(v.data(), s.data(), v.size() * sizeof(T));
    return v;
}

struct Seq {
    std::string name;
    std::vector<int32_t> ids;
};

std::vector<Seq> load_sequences(const std::string& set) {
    const json::Value j = load_json(oracle_dir(set) + "/tokens.json");
    std::vector<Seq> out;
    for (const auto& [name, v] : j.find("sequences")->obj) {
        Seq s;
        s.name = name;
        for (const json::Value& id : v.find("ids")->as_array()) s.ids.push_back(int32_t(id.as_int()));
        out.push_back(std::move(s));
    }
    // Shorter sequences first: they are cheaper and usually fail the same way.
    std::sort(out.begin(), out.end(), [](const Seq& a, const Seq& b) { return a.ids.size() < b.ids.size(); });
    return out;
}

// Reference logits rows with their positions.
struct RefLogits {
    std::vector<int> positions;
    int prefill_len = 0;
    int vocab = 0;
    std::vector<float> data;
    const float* row(size_t i) const { return data.data() + i * vocab; }
};

RefLogits load_ref(const std::string& set, const std::string& variant, const std::string& mode, const std::string& seq,
                   const std::string& kind) {
    const std::string base = oracle_dir(set) + "/logits/" + variant + "_" + mode + "_" + seq + "_" + kind;
    RefLogits r;
    const json::Value j = load_json(base + ".json");
    for (const json::Value& p : j.find("positions")->as_array()) r.positions.push_back(int(p.as_int()));
    if (const json::Value* pl = j.find("prefill_len")) r.prefill_len = int(pl->as_int());
    r.vocab = int(j.find("shape")->as_array()[1].as_int());
    r.data = load_bin<float>(base + ".bin");
    EXPECT_EQ(r.data.size(), r.positions.size() * size_t(r.vocab)) << base;
    return r;
}

// One converted + loaded model per (set, variant, numerics), shared by the tests.
Engine& engine_for(const std::string& set, const std::string& variant, Numerics num) {
    static std::map<std::string, std::unique_ptr<Engine>> cache;
    const std::string key = set + "_" + variant + (num == Numerics::Fp32 ? "_fp32" : "_official");
    auto it = cache.find(key);
    if (it != cache.end()) return *it->second;
    const std::string gguf = convert_oracle(set, variant, "f32", kF32Policy);
    LoadOptions o;
    o.path = gguf;
    o.numerics = num;
    o.verbose = false;
    o.n_threads = 0;
    auto e = Engine::load(o);
    Engine& ref = *e;
    cache[key] = std::move(e);
    return ref;
}

bool have_oracle() {
    if (path_exists(oracle_dir("public") + "/tokens.json")) return true;
    return false;
}

#define REQUIRE_ORACLE()                                                                 \
    do {                                                                                 \
        if (!have_oracle()) {                                                            \
            if (allow_missing_vectors()) GTEST_SKIP() << "oracle vectors missing";       \
            FAIL() << "oracle vectors missing under " << shared_dir();                   \
        }                                                                                \
    } while (0)

// Locates the first layer whose residual-stream norm departs from the oracle's fp32 debug
// dump at position pos (full-length prefill), and compares routing and indexer choices there.
std::string diagnose(Engine& eng, const std::string& set, const std::string& variant, const Seq& seq, int pos) {
    const std::string base = oracle_dir(set) + "/debug/" + variant + "_fp32_" + seq.name;
    if (!path_exists(base + "_hidden_norms.bin")) return " (no debug dumps)";
    const json::Value j = load_json(base + "_hidden_norms.json");
    const int L = int(j.find("shape")->as_array()[0].as_int()) - 1;
    const int N = int(j.find("shape")->as_array()[1].as_int());
    const std::vector<float> norms = load_bin<float>(base + "_hidden_norms.bin");
    const std::vector<int32_t> rids = load_bin<int32_t>(base + "_routing_ids.bin");
    const int K = eng.summary().n_expert_used;
    std::vector<std::vector<double>> ours(L, std::vector<double>(N, 0));
    std::vector<std::vector<int32_t>> our_ids(L);
    std::map<int, std::vector<std::set<int>>> our_idx;
    auto s = eng.new_session(int(seq.ids.size()), int(seq.ids.size()));
    set_layer_hook(*s, [&](const LayerTrace& tr) {
        const int per = tr.state_width;
        for (int t = 0; t < tr.T; ++t) {
            double ss = 0;
            const float* st = tr.state + size_t(t) * per;
            for (int i = 0; i < per; ++i) ss += double(st[i]) * st[i];
            ours[tr.layer][tr.pos0 + t] = std::sqrt(ss);
        }
        our_ids[tr.layer].assign(tr.experts, tr.experts + size_t(tr.T) * tr.k);
        if (tr.idx_sel) {
            auto& v = our_idx[tr.layer];
            v.resize(tr.T);
            for (int t = 0; t < tr.T; ++t)
                v[t] = std::set<int>(tr.idx_sel + size_t(t) * tr.idx_stride, tr.idx_sel + size_t(t) * tr.idx_stride + tr.idx_n[t]);
        }
    });
    s->prefill(seq.ids.data(), int(seq.ids.size()));
    std::ostringstream os;
    double worst = 0;
    int worst_l = 0;
    for (int l = 0; l < L; ++l) {
        for (int p = 0; p <= std::min(pos, N - 1); ++p) {
            const double ref = norms[size_t(l + 1) * N + p];
            if (std::fabs(ours[l][p] - ref) / std::max(1.0, std::fabs(ref)) > worst)
                worst = std::fabs(ours[l][p] - ref) / std::max(1.0, std::fabs(ref)), worst_l = l;
            if (std::fabs(ours[l][p] - ref) > 1e-4 * std::max(1.0, std::fabs(ref))) {
                os << " first divergence: layer " << l << " position " << p << " (|h| ours " << ours[l][p] << " ref " << ref
                   << ")";
                std::set<int> a(our_ids[l].begin() + size_t(p) * K, our_ids[l].begin() + size_t(p + 1) * K);
                std::set<int> b(rids.begin() + (size_t(l) * N + p) * K, rids.begin() + (size_t(l) * N + p + 1) * K);
                if (a != b) os << "; routed experts differ there";
                const std::string ib = base + "_indexer_layer" + std::to_string(l) + ".bin";
                if (our_idx.count(l) && path_exists(ib)) {
                    const json::Value ij = load_json(base + "_indexer_layer" + std::to_string(l) + ".json");
                    const int k = int(ij.find("shape")->as_array()[1].as_int());
                    const std::vector<int32_t> sel = load_bin<int32_t>(ib);
                    std::set<int> rs;
                    for (int i = 0; i < k; ++i)
                        if (sel[size_t(p) * k + i] >= 0) rs.insert(sel[size_t(p) * k + i]);
                    if (rs != our_idx[l][p]) os << "; indexer selection differs there";
                }
                return os.str();
            }
        }
    }
    os << " (per-layer norms agree with the oracle to 1e-4 up to that position, worst " << worst << " at layer "
       << worst_l << ": look at the output head)";
    return os.str();
}

struct Gate {
    double worst_rel = 0, worst_abs = 0;
    int rows = 0;
};

void check_rows(const RefLogits& ref, const std::vector<float>& ours, const std::vector<int>& our_pos, int vocab,
                const std::string& what, Gate& g, Engine& eng, const std::string& set, const std::string& variant,
                const Seq& seq) {
    bool diagnosed = false;
    for (size_t i = 0; i < ref.positions.size(); ++i) {
        const int p = ref.positions[i];
        const auto it = std::find(our_pos.begin(), our_pos.end(), p);
        ASSERT_NE(it, our_pos.end()) << what << ": no row for position " << p;
        const float* a = ours.data() + size_t(it - our_pos.begin()) * vocab;
        const RowDiff d = compare_row(a, ref.row(i), vocab);
        g.worst_rel = std::max(g.worst_rel, d.rel_l2);
        g.worst_abs = std::max(g.worst_abs, d.max_abs);
        g.rows++;
        const bool ok = d.rel_l2 < 1e-4 && d.max_abs < 1e-3 && d.same_argmax;
        if (!ok) {
            std::string why = diagnosed ? "" : diagnose(eng, set, variant, seq, p);
            diagnosed = true;
            ADD_FAILURE() << what << " position " << p << ": rel L2 " << d.rel_l2 << ", max |diff| " << d.max_abs
                          << (d.same_argmax ? "" : ", argmax differs") << why;
        }
    }
}

// Logits of every position from prefill in chunks of `chunk` (0 = one chunk).
std::vector<float> prefill_all(Engine& eng, const std::vector<int32_t>& ids, int chunk) {
    const int n = int(ids.size());
    auto s = eng.new_session(n, chunk > 0 ? chunk : n);
    std::vector<float> out(size_t(n) * eng.summary().n_vocab);
    s->prefill(ids.data(), n, out.data());
    return out;
}

struct Variant {
    std::string set, variant;
};
const Variant kVariants[] = {{"public", "topk6"}, {"public", "topk4"}, {"publicq", "topk6"}, {"publicq", "topk4"}};

class OracleFp32 : public ::testing::TestWithParam<Variant> {};

TEST_P(OracleFp32, PrefillEveryChunkSizeAndDecode) {
    REQUIRE_ORACLE();
    const Variant v = GetParam();
    Engine& eng = engine_for(v.set, v.variant, Numerics::Fp32);
    const int V = eng.summary().n_vocab;
    Gate prefill_gate, decode_gate;
    for (const Seq& seq : load_sequences(v.set)) {
        const int n = int(seq.ids.size());
        std::vector<int> all(n);
        for (int p = 0; p < n; ++p) all[p] = p;
        const RefLogits pre = load_ref(v.set, v.variant, "fp32", seq.name, "prefill");
        ASSERT_EQ(pre.vocab, V);
        // Chunk 1 is the decode path token by token; run it on the shorter sequence only.
        for (int chunk : {0, 64, 7, 1}) {
            if (chunk == 1 && n > 320) continue;
            const std::vector<float> logits = prefill_all(eng, seq.ids, chunk);
            check_rows(pre, logits, all, V, v.set + "/" + v.variant + "/" + seq.name + " prefill chunk " +
                       (chunk ? std::to_string(chunk) : std::string("all")), prefill_gate, eng, v.set, v.variant, seq);
        }
        // Prefill of prefill_len, then one token at a time.
        const RefLogits dec = load_ref(v.set, v.variant, "fp32", seq.name, "decode");
        auto s = eng.new_session(n, 512);
        std::vector<float> rows;
        std::vector<int> pos;
        s->prefill(seq.ids.data(), dec.prefill_len);
        rows.insert(rows.end(), s->logits(), s->logits() + V);
        pos.push_back(dec.prefill_len - 1);
        for (int t = dec.prefill_len; t < n; ++t) {
            const float* l = s->decode(seq.ids[t]);
            if (std::find(dec.positions.begin(), dec.positions.end(), t) == dec.positions.end()) continue;
            rows.insert(rows.end(), l, l + V);
            pos.push_back(t);
        }
        check_rows(dec, rows, pos, V, v.set + "/" + v.variant + "/" + seq.name + " decode", decode_gate, eng, v.set,
                   v.variant, seq);
    }
    std::printf("[ oracle   ] %s/%s fp32: prefill %d rows max rel L2 %.3g max|diff| %.3g; decode %d rows max rel L2 %.3g "
                "max|diff| %.3g\n",
                v.set.c_str(), v.variant.c_str(), prefill_gate.rows, prefill_gate.worst_rel, prefill_gate.worst_abs,
                decode_gate.rows, decode_gate.worst_rel, decode_gate.worst_abs);
}

INSTANTIATE_TEST_SUITE_P(Oracle, OracleFp32, ::testing::ValuesIn(kVariants),
                         [](const ::testing::TestParamInfo<Variant>& i) { return i.param.set + "_" + i.param.variant; });

// Official numerics against the oracle's exact (bf16 + FP8/FP4) logits.
//
// The exact numerics are chaotic: a 1-ulp difference anywhere (a transcendental function, a
// summation order) eventually flips a bf16 or FP8 rounding, and the logits then drift to the
// quantisation-noise level (README: exact vs exact64, which only changes GEMM accumulation
// precision, already moves them 5-10%). Numerics::Official therefore reproduces the oracle's
// torch 1.13 CPU kernels op by op (model/torch_cpu.h), which keeps the per-layer states bit
// for bit equal to the dumps for the first 100-600 tokens. Gates:
//  * fidelity (deterministic): the per-layer residual norms of a full prefill match the
//    oracle's exact dumps to 1e-4 on every (layer, position) pair of the first 64 positions
//    (the unemulated fp32 graph matches ~2% of them);
//  * the criterion: mean KL <= the exact-vs-exact64 floor and top-1 agreement >= its
//    floor, per variant (measured: KL 3-4x below the floor, top-1 at or above it).
class OracleOfficial : public ::testing::TestWithParam<Variant> {};

double floor_metric(const json::Value& m, const char* table, const std::string& variant, const char* key, int* rows) {
    const json::Value* t = m.find(table);
    if (!t) return NAN;
    double sum = 0;
    int n = 0;
    for (const auto& [k, e] : t->obj) {
        if (k.rfind(variant + "/", 0) != 0) continue;
        const int r = int(e.find("rows")->as_int());
        sum += e.find(key)->as_number() * r;
        n += r;
    }
    if (rows) *rows = n;
    return n ? sum / n : NAN;
}

TEST_P(OracleOfficial, TracksTheExactNumerics) {
    REQUIRE_ORACLE();
    const Variant v = GetParam();
    Engine& eng = engine_for(v.set, v.variant, Numerics::Official);
    const int V = eng.summary().n_vocab, L = eng.summary().n_layer;
    double kl_sum = 0, top1 = 0;
    int rows = 0, fid_ok = 0, fid_n = 0;
    auto add = [&](const float* ours, const float* ref, const std::string& what) {
        const RowDiff d = compare_row(ours, ref, V);
        kl_sum += d.kl;
        top1 += d.same_argmax;
        rows++;
        if (getenv("DS4_ORACLE_ROWS"))
            std::printf("  %s KL %.3g rel L2 %.3g%s\n", what.c_str(), d.kl, d.rel_l2, d.same_argmax ? "" : " (top-1 differs)");
    };
    for (const Seq& seq : load_sequences(v.set)) {
        const int n = int(seq.ids.size());
        // Full prefill, traced: fidelity of the per-layer norms, and the prefill rows at
        // positions >= window-1 (a fresh prefill of p+1 >= window tokens computes the same
        // numbers; shorter ones lay the attention index list out differently, so they run alone).
        const std::string dbg = oracle_dir(v.set) + "/debug/" + v.variant + "_exact_" + seq.name + "_hidden_norms";
        const std::vector<float> norms = load_bin<float>(dbg + ".bin");
        const int N = int(norms.size() / size_t(L + 1));
        ASSERT_EQ(N, n);
        auto s = eng.new_session(n, n);
        set_layer_hook(*s, [&](const LayerTrace& tr) {
            for (int t = 0; t < tr.T && tr.pos0 + t < 64; ++t) {
                double ss = 0;
                const float* st = tr.state + size_t(t) * tr.state_width;
                for (int i = 0; i < tr.state_width; ++i) ss += double(st[i]) * st[i];
                const double ref = norms[size_t(tr.layer + 1) * N + tr.pos0 + t];
                fid_ok += std::fabs(std::sqrt(ss) - ref) <= 1e-4 * ref;
                fid_n++;
            }
        });
        std::vector<float> all(size_t(n) * V);
        s->prefill(seq.ids.data(), n, all.data());
        const RefLogits pre = load_ref(v.set, v.variant, "exact", seq.name, "prefill");
        const int window = 128;  // the oracle models' sliding window
        for (size_t i = 0; i < pre.positions.size(); ++i) {
            const int p = pre.positions[i];
            if (p + 1 >= window && n >= window) {
                add(all.data() + size_t(p) * V, pre.row(i), seq.name + " prefill p" + std::to_string(p));
                continue;
            }
            auto f = eng.new_session(p + 1, p + 1);
            f->prefill(seq.ids.data(), p + 1);
            add(f->logits(), pre.row(i), seq.name + " prefill p" + std::to_string(p));
        }
        const RefLogits dec = load_ref(v.set, v.variant, "exact", seq.name, "decode");
        auto d = eng.new_session(n, 512);
        d->prefill(seq.ids.data(), dec.prefill_len);
        auto add_dec = [&](const float* l, int p) {
            const auto it = std::find(dec.positions.begin(), dec.positions.end(), p);
            if (it != dec.positions.end())
                add(l, dec.row(size_t(it - dec.positions.begin())), seq.name + " decode p" + std::to_string(p));
        };
        add_dec(d->logits(), dec.prefill_len - 1);
        for (int t = dec.prefill_len; t < n; ++t) add_dec(d->decode(seq.ids[t]), t);
    }
    const json::Value m = load_json(oracle_dir(v.set) + "/metrics.json");
    int f_rows = 0;
    const double f64_kl = floor_metric(m, "impl_floor_exact_vs_exact64", v.variant, "kl_mean", &f_rows);
    const double f64_t1 = floor_metric(m, "impl_floor_exact_vs_exact64", v.variant, "top1_agree", nullptr);
    const double f32_kl = floor_metric(m, "noise_floor_exact_vs_fp32", v.variant, "kl_mean", nullptr);
    const double f32_t1 = floor_metric(m, "noise_floor_exact_vs_fp32", v.variant, "top1_agree", nullptr);
    const double kl = kl_sum / rows, t1 = top1 / rows, fid = double(fid_ok) / std::max(1, fid_n);
    std::printf("[ oracle   ] %s/%s official vs exact: %d rows, KL mean %.4g, top-1 %.3f | floors: exact vs exact64 "
                "KL %.4g top-1 %.3f, exact vs fp32 KL %.4g top-1 %.3f | per-layer norms within 1e-4: %.0f%%\n",
                v.set.c_str(), v.variant.c_str(), rows, kl, t1, f64_kl, f64_t1, f32_kl, f32_t1, 100 * fid);
    EXPECT_EQ(rows, f_rows);
    EXPECT_EQ(fid_ok, fid_n) << "Official numerics no longer track the exact graph layer by layer";
    EXPECT_LE(kl, f64_kl) << "KL vs the exact logits is above the exact-vs-exact64 floor";
    EXPECT_GE(t1 + 1e-9, f64_t1) << "top-1 agreement with the exact logits is below the exact-vs-exact64 floor";
}

INSTANTIATE_TEST_SUITE_P(Oracle, OracleOfficial, ::testing::ValuesIn(kVariants),
                         [](const ::testing::TestParamInfo<Variant>& i) { return i.param.set + "_" + i.param.variant; });

}  // namespace
}  // namespace ds4::test
