// Engine-level checks on the tiny synthetic model (make-synthetic --preset tiny): loading and
// validation messages, batch/chunk invariance of the forward pass, state snapshots, top-k
// overrides. Numerical agreement with the official reference is in oracle_test.cpp.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>

#include "engine/session.h"
#include "gguf/gguf.h"
#include "test_util.h"
#include "util/error.h"

namespace ds4::test {
namespace {

// The tiny model with a mix of stored types (the synthetic default policy: q8_0 projections,
// f16 router/compressor, q4_k-or-fallback experts).
const std::string& tiny() {
    static std::string p;
    if (p.empty()) {
        p = tmp_dir() + "/model-test-tiny.gguf";
        const RunResult r = run("gguf-tools/make-synthetic --preset tiny --overwrite --quiet --out " + p);
        if (r.code != 0) p = "";
    }
    return p;
}

#define REQUIRE_TINY()                                                             \
    do {                                                                           \
        if (tiny().empty()) FAIL() << "gguf-tools/make-synthetic is missing or failed"; \
    } while (0)

std::unique_ptr<Engine> load(const std::string& path, int experts = 0, Numerics num = Numerics::Official) {
    LoadOptions o;
    o.path = path;
    o.verbose = false;
    o.experts = experts;
    o.numerics = num;
    o.n_threads = 2;
    return Engine::load(o);
}

std::string load_error(const std::string& path, int experts = 0) {
    try {
        load(path, experts);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// Rewrites `src` into `dst` through a mutation of the tensor list and metadata.
struct Mutation {
    std::function<bool(const gguf::KV&)> keep_kv = [](const gguf::KV&) { return true; };
    std::function<bool(gguf::TensorInfo&)> tensor = [](gguf::TensorInfo&) { return true; };  // false = drop
};
std::string rewrite(const std::string& name, const Mutation& m) {
    auto f = gguf::File::open(tiny());
    gguf::Writer w;
    for (const gguf::KV& kv : f->kvs())
        if (kv.key != "general.alignment" && m.keep_kv(kv)) w.copy_kv(kv);
    std::vector<std::pair<const uint8_t*, uint64_t>> data;
    for (gguf::TensorInfo t : f->tensors()) {
        const uint8_t* src = t.data;
        if (!m.tensor(t)) continue;
        std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
        const size_t idx = w.add_tensor(t.name, t.type, ne);
        data.push_back({src, w.tensor_nbytes(idx)});
    }
    const std::string out = tmp_dir() + "/model-test-" + name + ".gguf";
    w.begin(out);
    std::vector<uint8_t> zeros;
    for (auto& [p, n] : data) {
        zeros.assign(n, 0);
        w.write_tensor_data(n <= 1 || p == nullptr ? zeros.data() : p, n);
    }
    w.finish();
    return out;
}

std::vector<int32_t> tokens(int n, int vocab) {
    std::vector<int32_t> t(n);
    t[0] = 0;
    for (int i = 1; i < n; ++i) t[i] = 7 + (i * 131 + 17) % (vocab - 7);
    return t;
}

TEST(Model, LoadsTheTinyModelFromMetadata) {
    REQUIRE_TINY();
    auto e = load(tiny());
    const ModelSummary& s = e->summary();
    EXPECT_EQ(s.n_layer, 6);
    EXPECT_EQ(s.n_embd, 128);
    EXPECT_EQ(s.n_expert, 16);
    EXPECT_EQ(s.n_expert_used, 6);
    EXPECT_GT(s.weight_bytes, 0u);
    auto sess = e->new_session(256, 64);
    EXPECT_GT(sess->kv_bytes(), 0u);
    EXPECT_EQ(sess->n_ctx(), 256);
    EXPECT_EQ(sess->n_vocab(), s.n_vocab);
}

// Prefill in any chunking, and token-by-token decode, are the same computation: identical
// logits bit for bit (state crosses chunk boundaries, including partial compressor windows).
TEST(Model, ChunkedPrefillAndDecodeAgreeExactly) {
    REQUIRE_TINY();
    // The fp32 graph; Official numerics add the attention kernel's index-list layout, which
    // depends on the length of a fresh prefill (see model/attention.h), so it is chunk-
    // invariant only for chunks of at least a window.
    auto e = load(tiny(), 0, Numerics::Fp32);
    const int V = e->summary().n_vocab, n = 260;
    const std::vector<int32_t> ids = tokens(n, V);
    std::vector<float> ref(size_t(n) * V);
    e->new_session(n, 512)->prefill(ids.data(), n, ref.data());
    for (int chunk : {1, 2, 3, 7, 33, 130}) {  // (2, 3: the decode paths for a few tokens)
        auto s = e->new_session(n, chunk);
        std::vector<float> got(size_t(n) * V);
        s->prefill(ids.data(), n, got.data());
        ASSERT_EQ(0, std::memcmp(got.data(), ref.data(), got.size() * sizeof(float))) << "chunk " << chunk;
        EXPECT_EQ(0, std::memcmp(s->logits(), got.data() + size_t(n - 1) * V, V * sizeof(float)));
    }
    auto d = e->new_session(n, 512);
    d->prefill(ids.data(), 129);
    for (int t = 129; t < n; ++t)
        ASSERT_EQ(0, std::memcmp(d->decode(ids[t]), ref.data() + size_t(t) * V, V * sizeof(float))) << "decode at " << t;
    EXPECT_EQ(d->n_past(), n);
}

TEST(Model, SaveAndLoadStateResumeExactly) {
    REQUIRE_TINY();
    auto e = load(tiny());
    const int V = e->summary().n_vocab;
    const std::vector<int32_t> ids = tokens(160, V);
    auto s = e->new_session(256, 64);
    s->prefill(ids.data(), 137);  // mid-window for every ratio
    const std::vector<uint8_t> snap = s->save_state();
    std::vector<float> a;
    for (int t = 137; t < 160; ++t) {
        const float* l = s->decode(ids[t]);
        a.insert(a.end(), l, l + V);
    }
    auto s2 = e->new_session(256, 64);
    s2->load_state(snap);
    EXPECT_EQ(s2->n_past(), 137);
    for (int t = 137; t < 160; ++t) {
        const float* l = s2->decode(ids[t]);
        ASSERT_EQ(0, std::memcmp(l, a.data() + size_t(t - 137) * V, V * sizeof(float))) << t;
    }
    s2->reset();
    EXPECT_EQ(s2->n_past(), 0);
    std::vector<uint8_t> bad = snap;
    bad[0] ^= 1;
    EXPECT_THROW(s2->load_state(bad), Error);
}

TEST(Model, ContextOverflowIsAnError) {
    REQUIRE_TINY();
    auto e = load(tiny());
    auto s = e->new_session(8, 4);
    const std::vector<int32_t> ids = tokens(9, e->summary().n_vocab);
    s->prefill(ids.data(), 8);
    EXPECT_THROW(s->decode(ids[8]), Error);
    EXPECT_EQ(s->n_past(), 8);
}

TEST(Model, ExpertOverride) {
    REQUIRE_TINY();
    auto e4 = load(tiny(), 4);
    EXPECT_EQ(e4->summary().n_expert_used, 4);
    const std::vector<int32_t> ids = tokens(40, e4->summary().n_vocab);
    auto s4 = e4->new_session(64, 64);
    s4->prefill(ids.data(), 40);
    auto e6 = load(tiny());
    auto s6 = e6->new_session(64, 64);
    s6->prefill(ids.data(), 40);
    EXPECT_NE(0, std::memcmp(s4->logits(), s6->logits(), sizeof(float) * e6->summary().n_vocab));
    const std::string wide = load_error(tiny(), 7);
    EXPECT_NE(wide.find("blk.0.ffn_gate_tid2eid.weight"), std::string::npos) << wide;
    EXPECT_NE(wide.find("6 columns"), std::string::npos) << wide;
    const std::string many = load_error(tiny(), 17);
    EXPECT_NE(many.find("expert_count 16"), std::string::npos) << many;
}

TEST(Model, ValidationNamesTheProblem) {
    REQUIRE_TINY();
    Mutation drop;
    drop.tensor = [](gguf::TensorInfo& t) { return t.name != "blk.4.indexer.proj.weight"; };
    std::string err = load_error(rewrite("missing", drop));
    EXPECT_NE(err.find("blk.4.indexer.proj.weight: missing"), std::string::npos) << err;

    Mutation shape;
    shape.tensor = [](gguf::TensorInfo& t) {
        if (t.name == "blk.2.attn_sinks.weight") t.ne[0] = 5;
        return true;
    };
    err = load_error(rewrite("shape", shape));
    EXPECT_NE(err.find("blk.2.attn_sinks.weight: expected shape [4], found [5]"), std::string::npos) << err;

    Mutation type;
    type.tensor = [](gguf::TensorInfo& t) {
        if (t.name == "output_norm.weight") t.type = GgmlType::F16, t.ne[0] = 128;
        return true;
    };
    err = load_error(rewrite("type", type));
    EXPECT_NE(err.find("output_norm.weight: expected type F32, found"), std::string::npos) << err;

    Mutation key;
    key.keep_kv = [](const gguf::KV& kv) { return kv.key != "deepseek4.attention.indexer.top_k"; };
    err = load_error(rewrite("key", key));
    EXPECT_NE(err.find("deepseek4.attention.indexer.top_k"), std::string::npos) << err;

    Mutation ratios;  // swiglu_clamp_shexp is optional
    ratios.keep_kv = [](const gguf::KV& kv) { return kv.key != "deepseek4.swiglu_clamp_shexp"; };
    EXPECT_EQ(load_error(rewrite("noshexp", ratios)), "");  // absent clamp key: accepted
}

}  // namespace
}  // namespace ds4::test
