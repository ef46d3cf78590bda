// Engine / Session: the public API (session.h) over the model code and a backend.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "backend/backend.h"
#include "backend/profile_backend.h"
#include "engine/debug.h"
#include "engine/session.h"
#include "gguf/gguf.h"
#include "model/config.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/weights.h"
#include "util/error.h"

namespace ds4 {

NumericsFlags numerics_flags(Numerics n) {
    NumericsFlags f = n == Numerics::Fp32 ? NumericsFlags::fp32() : NumericsFlags::official();
    // Debugging aid: DS4_NUMERICS_OFF=act,bf16,kv,idx,ops switches single emulations off.
    if (const char* off = std::getenv("DS4_NUMERICS_OFF")) {
        const std::string s = off;
        if (s.find("kv") != std::string::npos) f.kv_fp8 = false;
        if (s.find("idx") != std::string::npos) f.idx_fp4 = false;
        if (s.find("act") != std::string::npos) f.act_fp8 = false;
        if (s.find("bf16") != std::string::npos) f.bf16 = false;
        if (s.find("ops") != std::string::npos) f.ops = false;
    }
    return f;
}

namespace {

size_t rss_bytes() {
    FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return 0;
    long pages = 0, res = 0;
    if (std::fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
    std::fclose(f);
    return size_t(res) * 4096;
}

double mib(size_t b) { return double(b) / (1024.0 * 1024.0); }

class EngineImpl;

class SessionImpl final : public Session {
public:
    SessionImpl(EngineImpl& e, int n_ctx, int ubatch);
    ~SessionImpl() override;
    void prefill(const int32_t* tokens, int n, float* logits) override;
    const float* decode(int32_t token) override {
        prefill(&token, 1, nullptr);
        return last_.data();
    }
    const float* logits() const override { return last_.data(); }
    int n_past() const override { return n_past_; }
    int n_ctx() const override { return cache_.n_ctx(); }
    int n_vocab() const override { return n_vocab_; }
    void reset() override {
        cache_.reset();
        n_past_ = 0;
        std::fill(last_.begin(), last_.end(), 0.0f);
    }
    size_t kv_bytes() const override { return cache_.bytes(); }
    std::vector<uint8_t> save_state() const override {
        std::vector<uint8_t> s = cache_.save(n_past_);
        const size_t o = s.size();
        s.resize(o + last_.size() * sizeof(float));
        std::memcpy(s.data() + o, last_.data(), last_.size() * sizeof(float));
        return s;
    }
    void load_state(const std::vector<uint8_t>& s) override {
        const size_t lb = last_.size() * sizeof(float);
        if (s.size() < lb) fail("session state: truncated");
        std::vector<uint8_t> kv(s.begin(), s.end() - lb);
        n_past_ = cache_.load(kv);
        std::memcpy(last_.data(), s.data() + (s.size() - lb), lb);
    }
    Forward& forward() { return fwd_; }

private:
    EngineImpl& eng_;
    KvCache cache_;
    Forward fwd_;
    int ubatch_;
    int n_vocab_;
    int n_past_ = 0;
    std::vector<float> last_;
};

class EngineImpl final : public Engine {
public:
    explicit EngineImpl(const LoadOptions& o) : opts_(o) {
        file_ = gguf::File::open(o.path);
        cfg_ = ModelConfig::from_gguf(*file_, o.experts);
        weights_ = ModelWeights::bind(*file_, cfg_);
        // Decode reads one embedding row per token: on a cold page cache, a 2 MiB read each.
        file_->advise_sparse(weights_.tok_embd.data, size_t(weights_.tok_embd.n_rows()) * weights_.tok_embd.row_bytes);
        be_ = make_cpu_backend(o.n_threads);
        if (const char* p = std::getenv("DS4_PROFILE"); p && std::strcmp(p, "1") == 0) {
            be_ = make_profiling_backend(std::move(be_));
            profiling_ = true;
        }
        dev_ = upload_model_tables(*be_, cfg_, weights_);
        nf_ = numerics_flags(o.numerics);
        if (o.progress) touch_weights(o.progress);
        sum_.name = cfg_.name;
        sum_.n_layer = cfg_.n_layer;
        sum_.n_embd = cfg_.n_embd;
        sum_.n_vocab = cfg_.n_vocab;
        sum_.n_head = cfg_.n_head;
        sum_.head_dim = cfg_.head_dim;
        sum_.n_expert = cfg_.n_expert;
        sum_.n_expert_used = cfg_.n_expert_used;
        sum_.n_ctx_train = cfg_.n_ctx_train;
        sum_.weight_bytes = weights_.total_bytes;
        if (o.verbose)
            std::fprintf(stderr, "ds4: %s\nds4: weights %.1f MiB (mmapped), backend %s with %d threads, numerics %s, RSS %.1f MiB\n",
                         cfg_.summary().c_str(), mib(weights_.total_bytes), be_->name().c_str(), be_->n_threads(),
                         o.numerics == Numerics::Fp32 ? "fp32" : "official", mib(rss_bytes()));
    }
    const ModelSummary& summary() const override { return sum_; }
    const gguf::File& file() const override { return *file_; }
    std::unique_ptr<Session> new_session(int n_ctx, int ubatch) override {
        if (n_ctx <= 0) fail("n_ctx must be > 0 (got %d)", n_ctx);
        if (ubatch <= 0) fail("ubatch must be > 0 (got %d)", ubatch);
        auto s = std::make_unique<SessionImpl>(*this, n_ctx, std::min(ubatch, n_ctx));
        if (opts_.verbose)
            std::fprintf(stderr, "ds4: session n_ctx %d, ubatch %d: KV state %.2f MiB, backend memory %.1f MiB, RSS %.1f MiB\n",
                         n_ctx, ubatch, mib(s->kv_bytes()), mib(be_->resident_bytes()), mib(rss_bytes()));
        return s;
    }

    Backend& backend() { return *be_; }
    const ModelConfig& config() const { return cfg_; }
    const ModelWeights& weights() const { return weights_; }
    const ModelDevice& device() const { return dev_; }
    NumericsFlags numerics() const { return nf_; }
    bool profiling() const { return profiling_; }
    // The backend's scratch buffers are shared: sessions of one engine run one at a time.
    std::mutex& run_mutex() { return run_mu_; }

private:
    // Faults every weight page in (reading one byte per page), reporting progress, so the
    // first tokens do not pay for disk reads.
    void touch_weights(const std::function<void(uint64_t, uint64_t)>& progress) {
        const uint64_t total = weights_.total_bytes;
        uint64_t done = 0;
        volatile uint8_t sink = 0;
        for (const gguf::TensorInfo& t : file_->tensors()) {
            for (uint64_t o = 0; o < t.nbytes; o += 4096) sink = sink + t.data[o];
            done += t.nbytes;
            progress(std::min(done, total), total);
        }
    }

    LoadOptions opts_;
    std::unique_ptr<gguf::File> file_;
    ModelConfig cfg_;
    ModelWeights weights_;
    std::unique_ptr<Backend> be_;
    ModelDevice dev_;
    NumericsFlags nf_;
    ModelSummary sum_;
    std::mutex run_mu_;
    bool profiling_ = false;
};

SessionImpl::SessionImpl(EngineImpl& e, int n_ctx, int ubatch)
    : eng_(e),
      cache_(e.backend(), e.config(), n_ctx, e.device().comp_ape, e.device().idx_ape),
      fwd_(e.backend(), e.config(), e.weights(), e.device(), e.numerics(), ubatch),
      ubatch_(ubatch),
      n_vocab_(e.config().n_vocab),
      last_(size_t(e.config().n_vocab), 0.0f) {
    if (const char* v = std::getenv("DS4_TRACE_NORMS"); v && std::strcmp(v, "1") == 0) {
        const int nhc = e.config().n_hc, D = e.config().n_embd;
        fwd_.hook = [nhc, D](const LayerTrace& tr) {
            for (int t = 0; t < tr.T; ++t) {
                double ss = 0;
                const float* s = tr.state + size_t(t) * nhc * D;
                for (int i = 0; i < nhc * D; ++i) ss += double(s[i]) * s[i];
                std::fprintf(stderr, "ds4-trace: layer %d pos %lld |h| %.6g\n", tr.layer, (long long)(tr.pos0 + t),
                             std::sqrt(ss));
            }
        };
    }
}

SessionImpl::~SessionImpl() = default;

void SessionImpl::prefill(const int32_t* tokens, int n, float* logits) {
    if (n <= 0) return;
    std::lock_guard<std::mutex> lk(eng_.run_mutex());
    if (int64_t(n_past_) + n > cache_.n_ctx())
        fail("context overflow: %d + %d tokens exceed n_ctx %d", n_past_, n, cache_.n_ctx());
    for (int i = 0; i < n; i += ubatch_) {
        const int T = std::min(ubatch_, n - i);
        const bool last = i + T == n;
        const auto t0 = std::chrono::steady_clock::now();
        if (eng_.profiling()) profile_phase(eng_.backend(), T);
        if (logits) {
            fwd_.run(cache_, tokens + i, T, n_past_, T, logits + size_t(i) * n_vocab_);
            if (last) std::memcpy(last_.data(), logits + size_t(n - 1) * n_vocab_, sizeof(float) * n_vocab_);
        } else {
            fwd_.run(cache_, tokens + i, T, n_past_, last ? 1 : 0, last_.data());
        }
        if (eng_.profiling())
            profile_region(eng_.backend(), "forward", T,
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        n_past_ += T;
    }
}

}  // namespace

std::unique_ptr<Engine> Engine::load(const LoadOptions& opts) { return std::make_unique<EngineImpl>(opts); }

void set_layer_hook(Session& s, LayerHook hook) {
    auto* impl = dynamic_cast<SessionImpl*>(&s);
    if (!impl) fail("set_layer_hook: not an engine session");
    impl->forward().hook = std::move(hook);
}

}  // namespace ds4
