// ds4-bench: loads a model once, walks a prompt to growing context frontiers, and measures
// incremental prefill and a fixed greedy generation at each frontier (as ds4's ds4-bench).
// --roofline adds the weight bytes one decoded token must read and the machine's measured
// read bandwidth, i.e. how close decode is to the memory-bandwidth limit.
#include <algorithm>
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

// Weight bytes one decoded token reads: every dense matrix whole, 1 row of the embedding,
// and for routed-expert tensors only the K selected experts' slices.
uint64_t bytes_per_token(const gguf::File& f, int k_used) {
    int64_t n_expert = 0;
    if (auto* kv = f.find("deepseek4.expert_count")) n_expert = (int64_t)kv->u;
    uint64_t total = 0;
    for (const auto& t : f.tensors()) {
        if (t.name == "token_embd.weight") {
            total += t.nbytes / (uint64_t)std::max<int64_t>(1, t.ne[1]);
        } else if (t.name.find("_exps.") != std::string::npos && n_expert > 0) {
            total += t.nbytes / (uint64_t)n_expert * (uint64_t)k_used;
        } else if (t.name.find("tid2eid") != std::string::npos) {
            total += t.nbytes / (uint64_t)std::max<int64_t>(1, t.ne[1]);
        } else {
            total += t.nbytes;
        }
    }
    return total;
}

// Streaming read bandwidth over a buffer much larger than the caches, all threads.
double measure_bandwidth_gbs(int threads) {
    const size_t bytes = (size_t)1 << 30;
    std::vector<uint64_t> buf(bytes / 8);
    for (size_t i = 0; i < buf.size(); i += 512) buf[i] = i;  // fault pages in
    for (size_t i = 0; i < buf.size(); i++) buf[i] = i;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        std::vector<uint64_t> sums(threads);
        auto t0 = Clock::now();
        std::vector<std::thread> th;
        for (int t = 0; t < threads; t++)
            th.emplace_back([&, t] {
                size_t n = buf.size() / threads, b = n * t;
                uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                for (size_t i = b; i + 4 <= b + n; i += 4) {
                    s0 += buf[i];
                    s1 += buf[i + 1];
                    s2 += buf[i + 2];
                    s3 += buf[i + 3];
                }
                sums[t] = s0 + s1 + s2 + s3;
            });
        for (auto& x : th) x.join();
        double s = std::chrono::duration<double>(Clock::now() - t0).count();
        best = std::max(best, bytes / s / 1e9);
    }
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

        auto s = eng->new_session(o.ctx_max + o.gen + 1, o.ubatch);
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
            for (int g = 0; g < o.gen; g++) {
                int best = eos == 0 ? 1 : 0;  // greedy with EOS excluded, so every run decodes gen tokens
                for (int v = best + 1; v < n_vocab; v++)
                    if (v != eos && l[v] > l[best]) best = v;
                l = s->decode(best);
            }
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
            int k = eng->summary().n_expert_used;
            uint64_t bpt = bytes_per_token(eng->file(), k);
            int th = o.threads > 0 ? o.threads : (int)std::thread::hardware_concurrency();
            double bw = measure_bandwidth_gbs(th);
            double roof = bw * 1e9 / (double)bpt;
            printf("roofline: bytes_per_token=%llu bandwidth_gbs=%.2f achieved_fraction=%.3f\n",
                   (unsigned long long)bpt, bw, best_gen_tps / roof);
        }
        return 0;
    } catch (const std::exception& e) {
        fprintf(stderr, "ds4-bench: %s\n", e.what());
        return 1;
    }
}
