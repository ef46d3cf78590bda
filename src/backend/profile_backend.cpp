#include "backend/profile_backend.h"

#include "backend/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace ds4 {
namespace {

using Clock = std::chrono::steady_clock;

struct Stat {
    double sec[2] = {0, 0};  // [decode, prefill]
    uint64_t calls[2] = {0, 0};
    double bytes[2] = {0, 0};  // weight bytes streamed (matmuls, experts)
};

// "blk.12.attn_q_b.weight" -> "attn_q_b"; "output.weight" -> "output".
std::string tensor_class(const std::string& name) {
    std::string s = name;
    if (s.rfind("blk.", 0) == 0) {
        const size_t dot = s.find('.', 4);
        if (dot != std::string::npos) s = s.substr(dot + 1);
    }
    if (s.size() > 7 && s.compare(s.size() - 7, 7, ".weight") == 0) s.resize(s.size() - 7);
    return s;
}

class ProfilingBackend final : public Backend {
public:
    explicit ProfilingBackend(std::unique_ptr<Backend> b) : b_(std::move(b)) { ThreadPool::enable_stats(true); }
    ~ProfilingBackend() override { report(); }

    void set_phase(int T) {
        phase_ = T > 1;
        pool0_ = ThreadPool::stats();
    }
    void region(const char* name, int T, double sec) {
        add(stat(name), T, sec);
        const ThreadPool::Stats p = ThreadPool::stats();
        jobs_[phase_] += p.jobs - pool0_.jobs;
        wait_[phase_] += p.join_wait_s - pool0_.join_wait_s;
    }

    std::string name() const override { return b_->name(); }
    int n_threads() const override { return b_->n_threads(); }
    void* alloc(size_t n) override { return b_->alloc(n); }
    void free(void* p) override { b_->free(p); }
    void upload(void* d, const void* s, size_t n) override { b_->upload(d, s, n); }
    void download(void* d, const void* s, size_t n) override { b_->download(d, s, n); }
    void copy(void* d, const void* s, size_t n) override { b_->copy(d, s, n); }
    void fill_f32(float* d, float v, size_t n) override { b_->fill_f32(d, v, n); }
    size_t resident_bytes() const override { return b_->resident_bytes(); }

    void matmul(const Weight& w, int64_t row0, int64_t n_rows, const float* x, int64_t ldx, int T, float* y,
                int64_t ldy, ActQuant aq, int exact_block) override {
        Stat& s = weight_stat(w);
        const auto t0 = Clock::now();
        b_->matmul(w, row0, n_rows, x, ldx, T, y, ldy, aq, exact_block);
        add(s, T, since(t0), double(n_rows) * double(w.row_bytes));
    }
    // A batch is one row, "matmul a+b+...": its products share one job and cannot be timed apart.
    void matmuls(const MatmulCall* c, int n, int T) override {
        std::string name = "matmul ";
        double bytes = 0;
        for (int i = 0; i < n; ++i) {
            name += (i ? "+" : "") + tensor_class(c[i].w->name);
            bytes += double(c[i].n_rows) * double(c[i].w->row_bytes);
        }
        Stat& s = stat(name.c_str());
        const auto t0 = Clock::now();
        b_->matmuls(c, n, T);
        add(s, T, since(t0), bytes);
    }
    void matmul_groups(const Weight& w, int G, int64_t rows, const float* x, int T, float* y, int64_t ldy,
                       int exact_block) override {
        Stat& s = weight_stat(w);
        const auto t0 = Clock::now();
        b_->matmul_groups(w, G, rows, x, T, y, ldy, exact_block);
        add(s, T, since(t0), double(G) * double(rows) * double(w.row_bytes));
    }
    void get_rows(const Weight& t, const int32_t* ids, int T, float* y) override {
        timed("get_rows", T, [&] { b_->get_rows(t, ids, T, y); });
    }
    void rms_norm(const float* x, const float* w, int rows, int n, float eps, float* y, bool exact) override {
        timed("rms_norm", rows, [&] { b_->rms_norm(x, w, rows, n, eps, y, exact); });
    }
    void rms_norm_bf16(float* x, int rows, int n, float eps) override {
        timed("rms_norm_bf16", rows, [&] { b_->rms_norm_bf16(x, rows, n, eps); });
    }
    void add(float* y, const float* x, size_t n) override { timed("add", 0, [&] { b_->add(y, x, n); }); }
    void scale(float* x, size_t n, float s) override { timed("scale", 0, [&] { b_->scale(x, n, s); }); }
    void round_bf16(float* x, size_t n) override { timed("round_bf16", 0, [&] { b_->round_bf16(x, n); }); }
    void hc_pre(const float* mix, const float* state, const float* scale, const float* base, int T, int n_hc,
                int dim, int iters, float hc_eps, float norm_eps, float* x, float* post, float* comb,
                bool exact) override {
        timed("hc_pre", T, [&] {
            b_->hc_pre(mix, state, scale, base, T, n_hc, dim, iters, hc_eps, norm_eps, x, post, comb, exact);
        });
    }
    void hc_post(float* state, const float* y, const float* post, const float* comb, int T, int n_hc,
                 int dim, bool bf16) override {
        timed("hc_post", T, [&] { b_->hc_post(state, y, post, comb, T, n_hc, dim, bf16); });
    }
    void hc_head(const float* mix, const float* state, const float* scale, const float* base, int T, int n_hc,
                 int dim, float hc_eps, float norm_eps, float* x, int exact_row0, int exact_T) override {
        timed("hc_head", T, [&] {
            b_->hc_head(mix, state, scale, base, T, n_hc, dim, hc_eps, norm_eps, x, exact_row0, exact_T);
        });
    }
    void broadcast_streams(const float* x, int T, int n_hc, int dim, float* state) override {
        timed("broadcast_streams", T, [&] { b_->broadcast_streams(x, T, n_hc, dim, state); });
    }
    void rope_tail(float* x, int T, int n_heads, int head_dim, int64_t pos0, int64_t pos_step,
                   const float* inv_freq, int n_pairs, bool inverse, bool bf16) override {
        timed("rope_tail", T, [&] {
            b_->rope_tail(x, T, n_heads, head_dim, pos0, pos_step, inv_freq, n_pairs, inverse, bf16);
        });
    }
    void fp8_rows(float* x, int rows, int64_t ld, int n) override {
        timed("fp8_rows", rows, [&] { b_->fp8_rows(x, rows, ld, n); });
    }
    void hadamard_rows(float* x, int rows, int n) override {
        timed("hadamard_rows", rows, [&] { b_->hadamard_rows(x, rows, n); });
    }
    void fp4_rows(float* x, int rows, int n) override { timed("fp4_rows", rows, [&] { b_->fp4_rows(x, rows, n); }); }
    bool compressor_push(const CompressorArgs& a, const float* kv, const float* score, int64_t pos,
                         float* out) override {
        bool r = false;
        timed("compressor_push", 0, [&] { r = b_->compressor_push(a, kv, score, pos, out); });
        return r;
    }
    void indexer_select(const float* q, const float* w, const float* keys, int T, int64_t pos0, int ratio,
                        int n_heads, int dim, int top_k, bool bf16_scores, int32_t* sel, int32_t* sel_n) override {
        timed("indexer_select", T, [&] {
            b_->indexer_select(q, w, keys, T, pos0, ratio, n_heads, dim, top_k, bf16_scores, sel, sel_n);
        });
    }
    void attention(const AttnArgs& a, const float* q, int T, float* out) override {
        timed("attention", T, [&] { b_->attention(a, q, T, out); });
    }
    void route(const float* logits, const float* bias, const Weight* tid2eid, const int32_t* tokens, int T,
               int n_expert, int k, float scale, int32_t* sel, float* weight, bool exact) override {
        timed("route", T, [&] { b_->route(logits, bias, tid2eid, tokens, T, n_expert, k, scale, sel, weight, exact); });
    }
    void moe(const Weight& gate, const Weight& up, const Weight& down, const float* x, int T, const int32_t* sel,
             const float* weight, int k, float clamp, ActQuant aq, bool bf16_hidden, float* out, bool exact) override {
        // bytes: the distinct experts' slices (each streamed once per call)
        const int64_t E = std::max<int64_t>(1, gate.ne[2]);
        std::vector<bool> used(size_t(E), false);
        int64_t n_used = 0;
        for (int i = 0; i < T * k; ++i)
            if (sel[i] >= 0 && sel[i] < E && !used[size_t(sel[i])]) used[size_t(sel[i])] = true, ++n_used;
        const double bytes = double(n_used) * double(gate.ne[1] * gate.row_bytes + up.ne[1] * up.row_bytes + down.ne[1] * down.row_bytes);
        timed("moe (ffn_*_exps)", T, [&] {
            b_->moe(gate, up, down, x, T, sel, weight, k, clamp, aq, bf16_hidden, out, exact);
        }, bytes);
    }
    void swiglu(float* g, const float* u, size_t n, float clamp, bool exact) override {
        timed("swiglu", 0, [&] { b_->swiglu(g, u, n, clamp, exact); });
    }

private:
    static double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
    // Every op counts towards the phase of the forward pass it runs in (set by the engine).
    void add(Stat& s, int, double sec, double bytes = 0) {
        s.sec[phase_] += sec;
        s.calls[phase_]++;
        s.bytes[phase_] += bytes;
    }
    Stat& stat(const char* name) {
        auto it = by_name_.find(name);
        if (it == by_name_.end()) it = by_name_.emplace(name, Stat{}).first;
        return it->second;
    }
    Stat& weight_stat(const Weight& w) {
        auto it = by_weight_.find(&w);
        if (it != by_weight_.end()) return *it->second;
        Stat* s = &stat(("matmul " + tensor_class(w.name)).c_str());
        by_weight_.emplace(&w, s);
        return *s;
    }
    template <class F>
    void timed(const char* name, int T, F&& f, double bytes = 0) {
        Stat& s = stat(name);
        const auto t0 = Clock::now();
        f();
        add(s, T, since(t0), bytes);
    }

    void report() {
        const Stat* fwd = nullptr;
        auto it = by_name_.find("forward");
        if (it != by_name_.end()) fwd = &it->second;
        std::vector<std::pair<std::string, const Stat*>> rows;
        double ops[2] = {0, 0}, stream_sec = 0, stream_bytes = 0;
        for (const auto& [k, s] : by_name_) {
            if (k == "forward") continue;
            rows.push_back({k, &s});
            ops[0] += s.sec[0];
            ops[1] += s.sec[1];
            if (s.bytes[0] > 0) stream_sec += s.sec[0], stream_bytes += s.bytes[0];
        }
        std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second->sec[0] > b.second->sec[0]; });
        const double n_dec = fwd ? double(fwd->calls[0]) : 0, tot_dec = fwd ? fwd->sec[0] : ops[0];
        const double tot_pre = fwd ? fwd->sec[1] : ops[1];
        std::fprintf(stderr, "\nds4 profile (%s, %d threads): decode %.0f tokens, %.3f ms/token; prefill %.3f s\n",
                     b_->name().c_str(), b_->n_threads(), n_dec, n_dec > 0 ? 1e3 * tot_dec / n_dec : 0.0, tot_pre);
        int w = 30;  // (batched matmuls have long names)
        for (const auto& r : rows) w = std::max(w, int(r.first.size()));
        std::fprintf(stderr, "%-*s %12s %7s %9s %7s | %10s %7s\n", w, "op", "decode ms/tok", "share", "calls/tok",
                     "GB/s", "prefill s", "share");
        auto line = [&](const char* k, double sd, double cd, double bd, double sp) {
            char gbs[16] = "";
            if (bd > 0 && sd > 0) std::snprintf(gbs, sizeof gbs, "%.1f", bd / sd * 1e-9);
            std::fprintf(stderr, "%-*s %12.3f %6.1f%% %9.1f %7s | %10.3f %6.1f%%\n", w, k,
                         n_dec > 0 ? 1e3 * sd / n_dec : 0.0, tot_dec > 0 ? 100 * sd / tot_dec : 0.0,
                         n_dec > 0 ? cd / n_dec : 0.0, gbs, sp, tot_pre > 0 ? 100 * sp / tot_pre : 0.0);
        };
        for (const auto& [k, s] : rows) line(k.c_str(), s->sec[0], double(s->calls[0]), s->bytes[0], s->sec[1]);
        if (fwd) line("(forward outside ops)", tot_dec - ops[0], 0, 0, tot_pre - ops[1]);
        if (n_dec > 0 && stream_sec > 0)
            std::fprintf(stderr, "decode: weight-streaming ops %.3f ms/token for %.1f MB (%.1f GB/s), everything else "
                                 "%.3f ms/token\n",
                         1e3 * stream_sec / n_dec, 1e-6 * stream_bytes / n_dec, stream_bytes / stream_sec * 1e-9,
                         1e3 * (tot_dec - stream_sec) / n_dec);
        std::fprintf(stderr, "thread pool: decode %.1f parallel jobs/token, caller waiting at the join %.3f ms/token; "
                             "prefill %llu jobs, %.3f s waiting\n",
                     n_dec > 0 ? double(jobs_[0]) / n_dec : 0.0, n_dec > 0 ? 1e3 * wait_[0] / n_dec : 0.0,
                     (unsigned long long)jobs_[1], wait_[1]);
    }

    std::unique_ptr<Backend> b_;
    std::map<std::string, Stat, std::less<>> by_name_;
    std::unordered_map<const Weight*, Stat*> by_weight_;
    int phase_ = 0;
    ThreadPool::Stats pool0_;
    uint64_t jobs_[2] = {0, 0};
    double wait_[2] = {0, 0};
};

}  // namespace

std::unique_ptr<Backend> make_profiling_backend(std::unique_ptr<Backend> inner) {
    return std::make_unique<ProfilingBackend>(std::move(inner));
}

void profile_phase(Backend& be, int T) {
    if (auto* p = dynamic_cast<ProfilingBackend*>(&be)) p->set_phase(T);
}

void profile_region(Backend& be, const char* name, int T, double seconds) {
    if (auto* p = dynamic_cast<ProfilingBackend*>(&be)) p->region(name, T, seconds);
}

}  // namespace ds4
