// make-synthetic: a random-weight (fixed seed) GGUF in the ds4 layout, from the same
// conversion plan as deepseek4-quantize. See --help.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "convert/pipeline.h"
#include "convert/plan.h"
#include "convert/synthetic.h"
#include "gguf/gguf.h"
#include "quant/quants.h"
#include "util/error.h"

using namespace ds4;
using namespace ds4::convert;

namespace {

const char* kTool = "make-synthetic";

void usage(FILE* f) {
    fprintf(f,
            "usage: make-synthetic --out FILE.gguf --preset tiny|bench-q4|bench-q2 [options]\n"
            "Writes a random-weight ds4-layout GGUF (deterministic for a given seed).\n"
            "\n"
            "Presets: tiny      6 layers (ratios 0,4,128,0,4,128; hash layers 0-2), D 128, vocab 512,\n"
            "                   16 experts (top-6) of 128 - a few MB, every layer kind\n"
            "         bench-q4  D 4096, 64 heads x 512, q rank 1024, 8 x 1024 output groups, 4 layers\n"
            "                   (ratios 0,4,128,4, hash layer 0), 32 experts of 2048 (top-6) + shared,\n"
            "                   vocab 129280, q4 recipe (~4 GB)\n"
            "         bench-q2  bench-q4 with iq2_xxs gate/up + q2_k down experts\n"
            "\n"
            "  --out FILE          output GGUF          --seed N            RNG seed (default 1234)\n"
            "  --overwrite         replace FILE         --dry-run           print the plan only\n"
            "  --threads N         worker threads       --quiet             no progress lines\n"
            "  --tokenizer FILE    tokenizer.json for the tokenizer section (tokenizer_config.json beside\n"
            "                      it is used when present); default: built-in byte-level vocab\n"
            "                      (7 ds4 specials + 256 byte tokens + padding)\n"
            "  --name NAME         general.name\n"
            "  --exact-random      quantize every random row of q4_k/q2_k/iq2_xxs tensors (slow: minutes for\n"
            "                      the bench presets); default: blocks drawn from 64 quantized random rows\n"
            "Shape overrides: --layers N --embd N --heads N --head-dim N --rope-dims N --experts-count N\n"
            "  --experts-used N --ff N --shared-count N --ratios 0,4,128,... --vocab N --q-rank N\n"
            "  --o-groups N --o-rank N --window N --idx-heads N --idx-head-dim N --idx-topk N\n"
            "  --hash-layers N --swiglu-limit X --ctx N\n"
            "\n%s",
            policy_help());
}

int64_t parse_int(const std::string& flag, const std::string& v) {
    char* end = nullptr;
    errno = 0;
    long long x = strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || errno) fail("%s: bad integer '%s'", flag.c_str(), v.c_str());
    return x;
}

int run(int argc, char** argv) {
    std::string out, preset, tokenizer, name;
    uint64_t seed = 1234;
    bool dry = false, overwrite = false, quiet = false, exact_random = false;
    int threads = (int)std::max(1u, std::thread::hardware_concurrency());
    // preset first (overrides apply on top of it)
    for (int i = 1; i + 1 < argc; i++)
        if (std::string(argv[i]) == "--preset") preset = argv[i + 1];
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    if (preset.empty()) fail("--preset tiny|bench-q4|bench-q2 is required (see --help)");
    SyntheticPreset ps = synthetic_preset(preset);
    ModelParams& p = ps.params;
    Policy& policy = ps.policy;
    bool layers_set = false, ratios_set = false, vocab_set = false;
    const std::vector<uint32_t> preset_ratios = p.compress_ratios;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) fail("%s needs a value", a.c_str());
            return argv[++i];
        };
        auto num = [&]() { return parse_int(a, val()); };
        if (a == "--preset") val();
        else if (a == "--out" || a == "-o") out = val();
        else if (a == "--seed") seed = (uint64_t)num();
        else if (a == "--dry-run") dry = true;
        else if (a == "--overwrite") overwrite = true;
        else if (a == "--quiet") quiet = true;
        else if (a == "--exact-random") exact_random = true;
        else if (a == "--threads" || a == "-t") {
            const int64_t t = num();
            if (t < 1 || t > 1024) fail("--threads must be in 1..1024");
            threads = (int)t;
        } else if (a == "--tokenizer") tokenizer = val();
        else if (a == "--name") name = val();
        else if (a == "--layers") { p.n_layer = num(); layers_set = true; }
        else if (a == "--embd") p.n_embd = num();
        else if (a == "--heads") p.n_head = num();
        else if (a == "--head-dim") p.head_dim = num();
        else if (a == "--rope-dims") p.n_rot = num();
        else if (a == "--experts-count") p.n_expert = num();
        else if (a == "--experts-used") p.n_expert_used = num();
        else if (a == "--ff") p.n_ff_exp = num();
        else if (a == "--shared-count") p.n_shared = num();
        else if (a == "--vocab") { p.n_vocab = num(); vocab_set = true; }
        else if (a == "--q-rank") p.q_rank = num();
        else if (a == "--o-groups") p.o_groups = num();
        else if (a == "--o-rank") p.o_rank = num();
        else if (a == "--window") p.window = num();
        else if (a == "--idx-heads") p.idx_heads = num();
        else if (a == "--idx-head-dim") p.idx_head_dim = num();
        else if (a == "--idx-topk") p.idx_topk = num();
        else if (a == "--hash-layers") p.n_hash = num();
        else if (a == "--ctx") p.context_length = (uint64_t)num();
        else if (a == "--swiglu-limit") p.swiglu_limit = atof(val().c_str());
        else if (a == "--ratios") {
            p.compress_ratios.clear();
            const std::string v = val();
            size_t s = 0;
            while (s <= v.size()) {
                size_t e = v.find(',', s);
                if (e == std::string::npos) e = v.size();
                const int64_t r = parse_int(a, v.substr(s, e - s));
                if (r < 0) fail("--ratios: negative ratio");
                p.compress_ratios.push_back((uint32_t)r);
                s = e + 1;
            }
            ratios_set = true;
        } else if (a.rfind("--", 0) == 0 && i + 1 < argc && policy.set_flag(a, argv[i + 1])) {
            i++;
        } else {
            fail("unknown argument '%s' (see --help)", a.c_str());
        }
    }
    if (out.empty() && !dry) fail("--out FILE is required (see --help)");
    if (ratios_set && !layers_set) p.n_layer = (int64_t)p.compress_ratios.size();
    if (layers_set && !ratios_set) {
        p.compress_ratios.clear();
        for (int64_t i = 0; i < p.n_layer; i++) p.compress_ratios.push_back(preset_ratios[(size_t)i % preset_ratios.size()]);
    }
    if (p.n_hash > p.n_layer) p.n_hash = p.n_layer;
    if (!name.empty()) p.name = name;
    std::string tokenizer_config;
    if (!tokenizer.empty()) {
        std::string dir = ".";
        if (size_t s = tokenizer.rfind('/'); s != std::string::npos) dir = tokenizer.substr(0, s);
        struct stat st;
        if (stat((dir + "/tokenizer_config.json").c_str(), &st) == 0) tokenizer_config = dir + "/tokenizer_config.json";
    }
    validate_params(p, "make-synthetic");

    gguf::Writer w;
    write_model_metadata(w, p);
    if (!tokenizer.empty()) {
        // The model's vocab follows the tokenizer unless --vocab says otherwise; the key keeps
        // its place when it is set again.
        const int64_t n = write_hf_tokenizer(w, tokenizer, tokenizer_config, vocab_set ? p.n_vocab : 0);
        if (n != p.n_vocab) {
            p.n_vocab = n;
            validate_params(p, "make-synthetic");
            w.set_u32("deepseek4.vocab_size", (uint32_t)n);
        }
    } else {
        write_builtin_tokenizer(w, p.n_vocab);
    }
    std::vector<PlannedTensor> plan = build_plan(p, policy);
    SyntheticSource src(p, seed, threads, !exact_random);
    if (dry) {
        print_plan(stdout, plan, &src, 0);
        return 0;
    }
    bool need_iq2 = false;
    for (const auto& t : plan) need_iq2 |= t.type == GgmlType::IQ2_XXS;
    if (need_iq2) iq2xxs_init();
    if (!quiet)
        for (const auto& t : plan)
            if (!t.note.empty()) fprintf(stderr, "%s: note: %s: %s\n", kTool, t.name.c_str(), t.note.c_str());
    WriteOptions opt;
    opt.tool = kTool;
    opt.threads = threads;
    opt.progress = !quiet;
    opt.overwrite = overwrite;
    const auto t0 = std::chrono::steady_clock::now();
    write_gguf(w, out, plan, src, opt);
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    struct stat st;
    stat(out.c_str(), &st);
    if (!quiet)
        fprintf(stderr, "%s: wrote %s (%s, seed %llu): %zu tensors, %s in %.2f s\n", kTool, out.c_str(), preset.c_str(),
                (unsigned long long)seed, plan.size(), human_bytes((double)st.st_size).c_str(), el);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        fprintf(stderr, "%s: %s\n", kTool, e.what());
        return 1;
    }
}
