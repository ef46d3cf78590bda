// ds4-bench: loads a model once, walks a prompt to growing context frontiers, and measures
// incremental prefill and a fixed greedy generation at each frontier (as ds4's ds4-bench).
// --roofline adds the weight bytes one decoded token must read and the machine's measured
// read bandwidth over those same bytes, paired token by token with decode: how close decode is
// to the memory-bandwidth limit.
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "engine/session.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/mmap_file.h"

using namespace ds4;
using Clock = std::chrono::steady_clock;

namespace {

struct BenchOptions {
    std::string model = "ds4flash.gguf";
    std::string prompt_file;
    std::string csv;
    int threads = 0;
    int ctx_start = 2048, ctx_max = 32768, step_incr = 2048;
    double step_mul = 1.0;
    int gen = 128;
    int ubatch = 512;
    bool roofline = false;
    Numerics numerics = Numerics::Official;
};

const char* kUsage =
    "usage: ds4-bench [-m FILE] [--prompt-file F] [-t N] [--ctx-start N] [--ctx-max N]\n"
    "                 [--step-incr N] [--step-mul X] [--gen-tokens N] [--ubatch N] [--csv FILE]\n"
    "                 [--roofline] [--numerics official|fp32]\n"
    "  Without --prompt-file a deterministic pseudo-random token stream is used.\n"
    "  CSV columns: ctx_tokens,prefill_tokens,prefill_tps,gen_tokens,gen_tps,kvcache_bytes\n";

int to_int(const char* flag, const char* v) {
    char* e = nullptr;
    long x = strtol(v, &e, 10);
    if (!e || *e || x <= 0 || x > (1 << 28)) fail("%s: expected a positive integer, got '%s'", flag, v);
    return (int)x;
}

BenchOptions parse(int argc, char** argv) {
    BenchOptions o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) fail("%s needs a value", a.c_str());
            return argv[++i];
        };
        if (a == "-h" || a == "--help") { fputs(kUsage, stdout); exit(0); }
        else if (a == "-m" || a == "--model") o.model = next();
        else if (a == "--prompt-file") o.prompt_file = next();
        else if (a == "--csv") o.csv = next();
        else if (a == "-t" || a == "--threads") o.threads = to_int("-t", next());
        else if (a == "--ctx-start") o.ctx_start = to_int("--ctx-start", next());
        else if (a == "--ctx-max") o.ctx_max = to_int("--ctx-max", next());
        else if (a == "--step-incr") o.step_incr = to_int("--step-incr", next());
        else if (a == "--step-mul") { o.step_mul = atof(next()); if (!(o.step_mul >= 1.0)) fail("--step-mul must be >= 1"); }
        else if (a == "--gen-tokens" || a == "--tokens" || a == "-n") o.gen = to_int("--gen-tokens", next());
        else if (a == "--ubatch") o.ubatch = to_int("--ubatch", next());
        else if (a == "--roofline") o.roofline = true;
        else if (a == "--numerics") {
            std::string m = next();
            if (m == "fp32") o.numerics = Numerics::Fp32;
            else if (m == "official") o.numerics = Numerics::Official;
            else fail("--numerics: expected fp32 or official");
        }
        else fail("unknown option '%s' (see ds4-bench --help)", a.c_str());
    }
    if (o.ctx_start > o.ctx_max) fail("--ctx-start %d is larger than --ctx-max %d", o.ctx_start, o.ctx_max);
    return o;
}

// The weight bytes one decoded token reads, as spans of the mapped file: every dense matrix
// whole, 1 row of the embedding (and of the hash-routing table), and for routed-expert tensors
// the first K experts' slices (experts are the outermost dimension, so that is one span of the
// same size as any K experts).
struct Span {
    const uint8_t* p;
    uint64_t n;
};
std::vector<Span> decode_spans(const gguf::File& f, int k_used) {
    int64_t n_expert = 0;
    if (auto* kv = f.find("deepseek4.expert_count")) n_expert = (int64_t)kv->u;
    std::vector<Span> spans;
    for (const auto& t : f.tensors()) {
        uint64_t n = t.nbytes;
        if (t.name == "token_embd.weight" || t.name.find("tid2eid") != std::string::npos)
            n = t.nbytes / (uint64_t)std::max<int64_t>(1, t.ne[1]);
        else if (t.name.find("_exps.") != std::string::npos && n_expert > 0)
            n = t.nbytes / (uint64_t)n_expert * (uint64_t)k_used;
        spans.push_back({t.data, n});
    }
    return spans;
}

// One streaming read of the spans by `threads` threads (thread i reads the i-th slice of the
// spans laid end to end): the fastest way to read exactly the bytes a decoded token reads,
// from the same mapping and pages. The caller reads slice 0; the other threads persist and
// sleep between passes (they must not spin while the engine decodes).
class SpanReader {
public:
    SpanReader(std::vector<Span> spans, int threads) : spans_(std::move(spans)), n_(std::max(1, threads)) {
        for (const Span& s : spans_) total_ += s.n;
        for (int i = 1; i < n_; ++i) th_.emplace_back([this, i] { loop(i); });
    }
    ~SpanReader() {
        stop_ = true;
        go_.fetch_add(1);
        go_.notify_all();
        for (auto& t : th_) t.join();
    }
    uint64_t bytes() const { return total_; }
    double pass_seconds() {
        done_.store(0);
        const auto t0 = Clock::now();
        go_.fetch_add(1, std::memory_order_release);
        go_.notify_all();
        read_slice(0, total_ / n_);
        for (int d; (d = done_.load(std::memory_order_acquire)) != n_ - 1;) done_.wait(d);
        return std::chrono::duration<double>(Clock::now() - t0).count();
    }

private:
    void loop(int i) {
        uint64_t seen = 0;
        for (;;) {
            go_.wait(seen, std::memory_order_acquire);
            seen = go_.load(std::memory_order_acquire);
            if (stop_) return;
            read_slice(total_ * i / n_, total_ * (i + 1) / n_);
            done_.fetch_add(1, std::memory_order_release);
            done_.notify_one();
        }
    }
    void read_slice(uint64_t b, uint64_t e) {
        uint64_t off = 0, acc = 0;
        for (const Span& s : spans_) {
            const uint64_t lo = std::max(b, off), hi = std::min(e, off + s.n);
            if (lo < hi) acc ^= read_bytes(s.p + (lo - off), hi - lo);
            off += s.n;
        }
        sink_.fetch_xor(acc, std::memory_order_relaxed);
    }
#if defined(__x86_64__)
    __attribute__((target("avx2"))) static uint64_t read_bytes(const uint8_t* p, uint64_t n) {
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        uint64_t i = 0;
        for (; i + 128 <= n; i += 128) {
            a0 = _mm256_xor_si256(a0, _mm256_loadu_si256((const __m256i*)(p + i)));
            a1 = _mm256_xor_si256(a1, _mm256_loadu_si256((const __m256i*)(p + i + 32)));
            a2 = _mm256_xor_si256(a2, _mm256_loadu_si256((const __m256i*)(p + i + 64)));
            a3 = _mm256_xor_si256(a3, _mm256_loadu_si256((const __m256i*)(p + i + 96)));
        }
        const __m256i a = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
        uint64_t r = uint64_t(_mm256_extract_epi64(a, 0) ^ _mm256_extract_epi64(a, 3));
#else
    static uint64_t read_bytes(const uint8_t* p, uint64_t n) {
        uint64_t r = 0, i = 0;
#endif
        for (; i < n; ++i) r ^= p[i];
        return r;
    }

    std::vector<Span> spans_;
    int n_;
    uint64_t total_ = 0;
    std::vector<std::thread> th_;
    std::atomic<uint64_t> go_{0}, sink_{0};
    std::atomic<int> done_{0};
    std::atomic<bool> stop_{false};
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int argmax_skip(const float* l, int n_vocab, int eos) {
    int best = eos == 0 ? 1 : 0;  // greedy with EOS excluded, so every run decodes all tokens
    for (int v = best + 1; v < n_vocab; v++)
        if (v != eos && l[v] > l[best]) best = v;
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        BenchOptions o = parse(argc, argv);
        LoadOptions lo;
        lo.path = o.model;
        lo.n_threads = o.threads;
        lo.numerics = o.numerics;
        lo.verbose = false;
        auto eng = Engine::load(lo);
        const int n_vocab = eng->summary().n_vocab;
        const int eos = (int)eng->file().get_u32_or("tokenizer.ggml.eos_token_id", 1);

        std::vector<int32_t> prompt;
        if (!o.prompt_file.empty()) {
            Tokenizer tok = Tokenizer::from_gguf(eng->file());
            prompt = tok.encode(read_text_file(o.prompt_file), false);
            if ((int)prompt.size() < o.ctx_max)
                fail("--prompt-file gives %zu tokens, fewer than --ctx-max %d", prompt.size(), o.ctx_max);
        } else {
            uint64_t x = 0x9E3779B97F4A7C15ull;
            prompt.resize(o.ctx_max);
            for (auto& id : prompt) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                id = (int32_t)(16 + x % (uint64_t)std::max(1, n_vocab - 16));
            }
        }
        FILE* csv = stdout;
        if (!o.csv.empty() && !(csv = fopen(o.csv.c_str(), "w"))) fail("cannot write %s", o.csv.c_str());
        fprintf(csv, "ctx_tokens,prefill_tokens,prefill_tps,gen_tokens,gen_tps,kvcache_bytes\n");
        fflush(csv);

        const int n_pairs = o.roofline ? std::max(o.gen, 8) : 0;  // roofline pairs decode these too
        auto s = eng->new_session(o.ctx_max + std::max(o.gen, n_pairs) + 1, o.ubatch);
        int done = 0;
        double best_gen_tps = 0;
        for (int frontier = o.ctx_start; frontier <= o.ctx_max;) {
            int n_new = frontier - done;
            auto t0 = Clock::now();
            s->prefill(prompt.data() + done, n_new);
            double tp = std::chrono::duration<double>(Clock::now() - t0).count();
            done = frontier;
            std::vector<uint8_t> snap = s->save_state();
            size_t kv = s->kv_bytes();
            const float* l = s->logits();
            auto t1 = Clock::now();
            for (int g = 0; g < o.gen; g++) l = s->decode(argmax_skip(l, n_vocab, eos));
            double tg = std::chrono::duration<double>(Clock::now() - t1).count();
            s->load_state(snap);
            best_gen_tps = std::max(best_gen_tps, o.gen / tg);
            fprintf(csv, "%d,%d,%.2f,%d,%.2f,%zu\n", frontier, n_new, n_new / tp, o.gen, o.gen / tg, kv);
            fflush(csv);
            int next = o.step_mul > 1.0 ? (int)(frontier * o.step_mul) : frontier + o.step_incr;
            if (frontier == o.ctx_max) break;
            frontier = std::min(std::max(next, frontier + 1), o.ctx_max);
        }
        if (csv != stdout) fclose(csv);
        if (o.roofline) {
            // Paired measurement: each decoded token right after one read pass over the bytes it
            // reads. This VM's bandwidth drifts between ~27 and ~49 GB/s from second to second
            // (a neighbour's load), so a bandwidth taken at another moment says little about the
            // tokens; the median of per-pair ratios compares the two under the same conditions.
            const int th = o.threads > 0 ? o.threads : (int)std::thread::hardware_concurrency();
            SpanReader reader(decode_spans(eng->file(), eng->summary().n_expert_used), th);
            std::vector<uint8_t> snap = s->save_state();
            const float* l = s->logits();
            std::vector<double> t_read, frac;
            reader.pass_seconds();  // warm-up
            for (int g = 0; g < n_pairs; g++) {
                // Let the engine's pool threads stop spinning (they go to sleep after 2 ms idle)
                // so they take no core from the read pass.
                std::this_thread::sleep_for(std::chrono::milliseconds(4));
                const double tr = reader.pass_seconds();
                const int tok = argmax_skip(l, n_vocab, eos);
                const auto t0 = Clock::now();
                l = s->decode(tok);
                const double tt = std::chrono::duration<double>(Clock::now() - t0).count();
                t_read.push_back(tr);
                frac.push_back(tr / tt);
            }
            s->load_state(snap);
            const double bw = reader.bytes() / median(t_read) / 1e9;
            std::sort(frac.begin(), frac.end());
            printf("roofline pairs: %zu x (read pass, decoded token): fraction min %.3f median %.3f max %.3f; "
                   "best decode in the CSV %.2f t/s = %.3f of the median bandwidth\n",
                   frac.size(), frac.front(), median(frac), frac.back(), best_gen_tps,
                   best_gen_tps * reader.bytes() / (bw * 1e9));
            printf("roofline: bytes_per_token=%llu bandwidth_gbs=%.2f achieved_fraction=%.3f\n",
                   (unsigned long long)reader.bytes(), bw, median(frac));
        }
        return 0;
    } catch (const std::exception& e) {
        fprintf(stderr, "ds4-bench: %s\n", e.what());
        return 1;
    }
}
