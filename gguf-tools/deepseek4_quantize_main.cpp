// deepseek4-quantize: official DeepSeek V4 safetensors checkpoint (HF directory) -> ds4-layout
// GGUF. Metadata comes from config.json (or --template), the tokenizer from tokenizer.json /
// tokenizer_config.json; weights are dequantized to f32 exactly and re-quantized per the type
// policy. See docs in src/convert/plan.h and `deepseek4-quantize --help`.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "convert/hf_source.h"
#include "convert/pipeline.h"
#include "convert/plan.h"
#include "gguf/gguf.h"
#include "quant/quants.h"
#include "safetensors/safetensors.h"
#include "util/error.h"
#include "util/json.h"
#include "util/mmap_file.h"

using namespace ds4;
using namespace ds4::convert;

namespace {

const char* kTool = "deepseek4-quantize";

void usage(FILE* f) {
    fprintf(f,
            "usage: deepseek4-quantize --hf DIR --out FILE.gguf [options]\n"
            "Converts an official DeepSeek V4 safetensors checkpoint (FP8/FP4/BF16) into a ds4-layout GGUF.\n"
            "\n"
            "  --hf DIR             checkpoint directory: config.json, model.safetensors or\n"
            "                       model.safetensors.index.json + shards, tokenizer.json, tokenizer_config.json\n"
            "  --out FILE           output GGUF (written to FILE.tmp, then renamed)\n"
            "  --template FILE      copy metadata and tokenizer from an existing ds4 GGUF instead of\n"
            "                       config.json / tokenizer.json (shapes then come from its metadata)\n"
            "  --overwrite          replace an existing output file\n"
            "  --dry-run            print every tensor (source, type, size) and the total; write nothing\n"
            "  --vocab-only         write metadata + tokenizer only (no tensors; weights not needed)\n"
            "  --experts-used K     override expert_used_count (tid2eid keeps its first K columns)\n"
            "  --imatrix FILE       legacy llama.cpp imatrix (.dat) for q4_k / q2_k / iq2_xxs\n"
            "  --threads N          quantization threads (default: all cores)\n"
            "  --name NAME          general.name (default: the HF directory name)\n"
            "  --quiet              no progress lines\n"
            "  --help               this text\n"
            "\n%s"
            "\nMTP tensors (mtp.*) are not converted: the MTP block goes to a separate GGUF.\n",
            policy_help());
}

bool file_exists(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0;
}

std::string basename_of(std::string p) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    if (size_t s = p.rfind('/'); s != std::string::npos) p = p.substr(s + 1);
    return p;
}

int64_t parse_int(const std::string& flag, const std::string& v) {
    char* end = nullptr;
    errno = 0;
    long long x = strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || errno) fail("%s: bad integer '%s'", flag.c_str(), v.c_str());
    return x;
}

// Core shape facts must agree between --template metadata and config.json.
void cross_check(const ModelParams& t, const ModelParams& c, const std::string& tl, const std::string& cl) {
    auto eq = [&](const char* what, int64_t a, int64_t b) {
        if (a != b) fail("%s and %s disagree on %s (%lld vs %lld)", tl.c_str(), cl.c_str(), what, (long long)a, (long long)b);
    };
    eq("layers", t.n_layer, c.n_layer);
    eq("hidden size", t.n_embd, c.n_embd);
    eq("vocab size", t.n_vocab, c.n_vocab);
    eq("heads", t.n_head, c.n_head);
    eq("head dim", t.head_dim, c.head_dim);
    eq("experts", t.n_expert, c.n_expert);
    eq("expert width", t.n_ff_exp, c.n_ff_exp);
    eq("hash layers", t.n_hash, c.n_hash);
    for (int64_t i = 0; i < t.n_layer; i++) eq("compress ratio", t.ratio(i), c.ratio(i));
}

int run(int argc, char** argv) {
    std::string hf, out, tmpl_path, imatrix_path, name;
    bool dry = false, vocab_only = false, overwrite = false, quiet = false;
    int64_t experts_used = -1;
    int threads = (int)std::max(1u, std::thread::hardware_concurrency());
    Policy policy = Policy::q4();
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) fail("%s needs a value", a.c_str());
            return argv[++i];
        };
        if (a == "--help" || a == "-h") {
            usage(stdout);
            return 0;
        } else if (a == "--hf") hf = val();
        else if (a == "--out" || a == "-o") out = val();
        else if (a == "--template") tmpl_path = val();
        else if (a == "--imatrix") imatrix_path = val();
        else if (a == "--name") name = val();
        else if (a == "--dry-run") dry = true;
        else if (a == "--vocab-only") vocab_only = true;
        else if (a == "--overwrite") overwrite = true;
        else if (a == "--quiet") quiet = true;
        else if (a == "--threads" || a == "-t") {
            const int64_t t = parse_int(a, val());
            if (t < 1 || t > 1024) fail("--threads must be in 1..1024");
            threads = (int)t;
        } else if (a == "--experts-used") {
            experts_used = parse_int(a, val());
            if (experts_used < 1) fail("--experts-used must be >= 1");
        } else if (a.rfind("--", 0) == 0 && i + 1 < argc && policy.set_flag(a, argv[i + 1])) {
            i++;
        } else {
            fail("unknown argument '%s' (see --help)", a.c_str());
        }
    }
    if (hf.empty() && tmpl_path.empty()) fail("--hf DIR is required (see --help)");
    if (hf.empty() && !vocab_only && !dry) fail("--hf DIR is required to convert weights");
    if (out.empty() && !dry) fail("--out FILE is required (see --help)");
    if (!out.empty() && !overwrite && !dry && file_exists(out))
        fail("%s already exists (pass --overwrite to replace it)", out.c_str());

    // ---- parameters and metadata ----
    ModelParams p;
    bool tokenizer_only = false;
    std::unique_ptr<gguf::File> tmpl;
    const std::string cfg_path = hf.empty() ? "" : hf + "/config.json";
    if (!tmpl_path.empty()) {
        tmpl = gguf::File::open(tmpl_path);
        p = params_from_gguf(*tmpl);
        if (!cfg_path.empty() && file_exists(cfg_path)) {
            ModelParams c = params_from_hf_config(json::parse(read_text_file(cfg_path)), cfg_path);
            cross_check(p, c, tmpl_path, cfg_path);
        }
    } else if (vocab_only && !file_exists(cfg_path)) {
        // A tokenizer-only GGUF (like llama.cpp's vocab files) needs no config.json: the
        // vocab size is the tokenizer's own.
        tokenizer_only = true;
    } else {
        if (!file_exists(cfg_path)) fail("%s: not found (or pass --template FILE.gguf)", cfg_path.c_str());
        json::Value cfg;
        try {
            cfg = json::parse(read_text_file(cfg_path));
        } catch (const Error& e) {
            fail("%s: %s", cfg_path.c_str(), e.what());
        }
        p = params_from_hf_config(cfg, cfg_path);
        p.name = name.empty() ? basename_of(hf) : name;
    }
    if (experts_used > 0) {
        if (experts_used > p.n_expert)
            fail("--experts-used %lld exceeds the expert count %lld", (long long)experts_used, (long long)p.n_expert);
        p.n_expert_used = experts_used;
    }

    gguf::Writer w;
    if (tmpl) {
        copy_template_metadata(w, *tmpl);
        w.set_alignment(tmpl->alignment());
        if (!name.empty()) {
            w.remove("general.name");
            w.set_string("general.name", name);
        }
        if (experts_used > 0) {
            w.remove("deepseek4.expert_used_count");
            w.set_u32("deepseek4.expert_used_count", (uint32_t)experts_used);
        }
    } else {
        const std::string tj = hf + "/tokenizer.json", tc = hf + "/tokenizer_config.json";
        if (!file_exists(tj)) fail("%s: not found (the GGUF needs the tokenizer)", tj.c_str());
        const std::string tcfg = file_exists(tc) ? tc : "";
        if (tokenizer_only) {
            w.set_string("general.architecture", "deepseek4");
            w.set_string("general.name", name.empty() ? basename_of(hf) : name);
            write_hf_tokenizer(w, tj, tcfg, 0);  // the tokenizer's own size
        } else {
            write_model_metadata(w, p);
            write_hf_tokenizer(w, tj, tcfg, p.n_vocab);
        }
    }

    // ---- plan ----
    std::vector<PlannedTensor> plan;
    if (!vocab_only) plan = build_plan(p, policy);
    std::unique_ptr<safetensors::Checkpoint> ck;
    if (!vocab_only && !hf.empty()) {
        try {
            ck = safetensors::Checkpoint::open(hf);
        } catch (const Error& e) {
            if (!dry) throw;
            printf("warning: %s (listing the plan without sources)\n", e.what());
        }
    }
    std::unique_ptr<HfSource> src;
    if (ck) src = std::make_unique<HfSource>(*ck, p.n_expert);

    std::vector<std::string> mtp, other;
    if (src) src->unused(plan, &mtp, &other);
    if (dry) {
        printf("model: %lld layers, hidden %lld, vocab %lld, %lld experts (top-%lld) of %lld, ratios", (long long)p.n_layer,
               (long long)p.n_embd, (long long)p.n_vocab, (long long)p.n_expert, (long long)p.n_expert_used,
               (long long)p.n_ff_exp);
        for (int64_t i = 0; i < p.n_layer; i++) printf(" %lld", (long long)p.ratio(i));
        printf("\n");
        print_plan(stdout, plan, src.get(), 0);
        if (!mtp.empty()) printf("skipped %zu mtp.* tensors: the MTP block goes to a separate GGUF (not written by this tool)\n", mtp.size());
        for (const auto& n : other) printf("unused checkpoint tensor: %s\n", n.c_str());
        return 0;
    }
    for (const auto& t : plan)
        if (!t.note.empty() && !quiet) fprintf(stderr, "%s: note: %s: %s\n", kTool, t.name.c_str(), t.note.c_str());
    if (!quiet) {
        if (!mtp.empty()) fprintf(stderr, "%s: skipping %zu mtp.* tensors (MTP goes to a separate GGUF)\n", kTool, mtp.size());
        for (const auto& n : other) fprintf(stderr, "%s: warning: unused checkpoint tensor %s\n", kTool, n.c_str());
    }

    std::unique_ptr<Imatrix> im;
    if (!imatrix_path.empty()) {
        im = std::make_unique<Imatrix>(Imatrix::load(imatrix_path));
        w.remove("quantize.imatrix.file");
        write_imatrix_metadata(w, *im);
    }
    if (!quiet) fprintf(stderr, "%s: writing %s (%zu tensors, %d threads)\n", kTool, out.c_str(), plan.size(), threads);
    bool need_iq2 = false;
    for (const auto& t : plan) need_iq2 |= t.type == GgmlType::IQ2_XXS;
    if (need_iq2) iq2xxs_init();

    WriteOptions opt;
    opt.tool = kTool;
    opt.threads = threads;
    opt.progress = !quiet;
    opt.overwrite = overwrite;
    opt.imatrix = im.get();
    struct Empty : WeightSource {
        void fill(const PlannedTensor&, int64_t, float*) const override {}
        void fill_i32(const PlannedTensor&, int32_t*) const override {}
        std::string describe(const PlannedTensor&) const override { return ""; }
    } empty;
    const auto t0 = std::chrono::steady_clock::now();
    write_gguf(w, out, plan, src ? static_cast<const WeightSource&>(*src) : empty, opt);
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    struct stat st;
    stat(out.c_str(), &st);
    if (!quiet)
        fprintf(stderr, "%s: wrote %s: %zu tensors, %s in %.2f s\n", kTool, out.c_str(), plan.size(),
                human_bytes((double)st.st_size).c_str(), el);
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
