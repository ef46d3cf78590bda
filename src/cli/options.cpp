#include "cli/options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "util/error.h"

namespace ds4::cli {

namespace {

long long to_int(const std::string& flag, const char* v, long long lo, long long hi) {
    errno = 0;
    char* end = nullptr;
    long long x = strtoll(v, &end, 10);
    if (errno || !end || *end || end == v) fail("%s: expected an integer, got '%s'", flag.c_str(), v);
    if (x < lo || x > hi) fail("%s: %lld is out of range [%lld, %lld]", flag.c_str(), x, lo, hi);
    return x;
}

float to_float(const std::string& flag, const char* v, float lo, float hi) {
    errno = 0;
    char* end = nullptr;
    double x = strtod(v, &end);
    if (errno || !end || *end || end == v || !std::isfinite(x))
        fail("%s: expected a number, got '%s'", flag.c_str(), v);
    if (x < lo || x > hi) fail("%s: %g is out of range [%g, %g]", flag.c_str(), x, lo, hi);
    return (float)x;
}

}  // namespace

std::vector<int32_t> parse_token_list(const std::string& s) {
    std::vector<int32_t> ids;
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ',' || s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) i++;
        if (i >= s.size()) break;
        size_t j = i;
        while (j < s.size() && s[j] >= '0' && s[j] <= '9') j++;
        if (j == i || j - i > 9) fail("bad token id list near '%s'", s.substr(i, 16).c_str());
        ids.push_back((int32_t)strtol(s.substr(i, j - i).c_str(), nullptr, 10));
        i = j;
        if (i < s.size() && !(s[i] == ',' || s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
            fail("bad token id list near '%s'", s.substr(i, 16).c_str());
    }
    return ids;
}

std::string usage() {
    return
        "usage: ds4 [options]\n"
        "  Runs DeepSeek V4 Flash from a GGUF file. With -p: one answer, streamed; without -p:\n"
        "  interactive multi-turn chat (type /help there).\n"
        "\n"
        "model and runtime:\n"
        "  -m, --model FILE      GGUF model (default ds4flash.gguf)\n"
        "  -c, --ctx N           context size in tokens (default 32768)\n"
        "  -t, --threads N       CPU threads (default: all cores)\n"
        "      --experts K       routed experts per token (default: the file's expert_used_count)\n"
        "      --ubatch N        prefill chunk size (default 512)\n"
        "      --numerics MODE   official (default: emulate the official FP8/FP4 rounding of KV rows\n"
        "                        and indexer inputs) or fp32 (no in-graph quantisation)\n"
        "\n"
        "prompt and generation:\n"
        "  -p, --prompt TEXT     user message (one-shot mode)\n"
        "      --system TEXT     system prompt\n"
        "  -n, --n-predict N     tokens to generate (default 512; -1 = until end of context)\n"
        "      --think           thinking mode (default): reasoning first, shown dimmed\n"
        "      --nothink         answer directly\n"
        "      --think-max       maximum reasoning effort (needs --ctx >= 393216 to be effective)\n"
        "\n"
        "sampling:\n"
        "      --temp T          temperature (default 1.0; 0 = greedy)\n"
        "      --top-k K         keep the K most likely tokens (default 0 = off)\n"
        "      --top-p P         nucleus sampling (default 1.0 = off)\n"
        "      --min-p P         drop tokens below P x the top probability (default 0.05)\n"
        "      --seed S          random seed (default: time-based)\n"
        "\n"
        "output:\n"
        "      --no-color        never colour the thinking section\n"
        "  -v, --verbose         load details\n"
        "\n"
        "diagnostics:\n"
        "      --tokenize        read text from stdin, print token ids (no BOS, no template)\n"
        "      --detokenize      read ids from stdin, print the text\n"
        "      --prompt-tokens L run exactly these ids (comma-separated; no BOS, no template)\n"
        "      --dump-logits OUT write float32 logits for every position [n_tokens][n_vocab]\n"
        "      --decode-from N   positions >= N go through single-token decode\n"
        "  -h, --help            this text\n";
}

Options parse_options(int argc, const char* const* argv) {
    Options o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        std::string val;
        // --flag=value form
        bool inline_val = false;
        if (a.size() > 2 && a[0] == '-' && a[1] == '-') {
            size_t eq = a.find('=');
            if (eq != std::string::npos) {
                val = a.substr(eq + 1);
                a = a.substr(0, eq);
                inline_val = true;
            }
        }
        auto next = [&]() -> const char* {
            if (inline_val) return val.c_str();
            if (i + 1 >= argc) fail("%s needs a value", a.c_str());
            return argv[++i];
        };
        if (a == "-h" || a == "--help") o.help = true;
        else if (a == "-m" || a == "--model") o.model = next();
        else if (a == "-p" || a == "--prompt") { o.prompt = next(); o.has_prompt = true; }
        else if (a == "--system" || a == "-sys") o.system = next();
        else if (a == "-n" || a == "--n-predict" || a == "--tokens") o.n_predict = (int)to_int(a, next(), -1, 1 << 30);
        else if (a == "-c" || a == "--ctx" || a == "--ctx-size") o.n_ctx = (int)to_int(a, next(), 1, 1 << 24);
        else if (a == "-t" || a == "--threads") o.n_threads = (int)to_int(a, next(), 1, 4096);
        else if (a == "--ubatch" || a == "-ub") o.ubatch = (int)to_int(a, next(), 1, 1 << 20);
        else if (a == "--experts") o.experts = (int)to_int(a, next(), 1, 1 << 16);
        else if (a == "--temp") o.temp = to_float(a, next(), 0.0f, 100.0f);
        else if (a == "--top-p") o.top_p = to_float(a, next(), 0.0f, 1.0f);
        else if (a == "--top-k") o.top_k = (int)to_int(a, next(), 0, 1 << 24);
        else if (a == "--min-p") o.min_p = to_float(a, next(), 0.0f, 1.0f);
        else if (a == "--seed") { o.seed = (uint64_t)to_int(a, next(), 0, INT64_MAX); o.has_seed = true; }
        else if (a == "--think") o.think = ThinkMode::Think;
        else if (a == "--nothink" || a == "--no-think") o.think = ThinkMode::NoThink;
        else if (a == "--think-max") o.think = ThinkMode::ThinkMax;
        else if (a == "--numerics") {
            std::string m = next();
            if (m == "fp32") o.numerics = Numerics::Fp32;
            else if (m == "official") o.numerics = Numerics::Official;
            else fail("--numerics: expected fp32 or official, got '%s'", m.c_str());
        }
        else if (a == "--no-color") o.color = false;
        else if (a == "-v" || a == "--verbose") o.verbose = true;
        else if (a == "--tokenize") o.tokenize = true;
        else if (a == "--detokenize") o.detokenize = true;
        else if (a == "--prompt-tokens") { o.prompt_tokens = parse_token_list(next()); o.has_prompt_tokens = true; }
        else if (a == "--dump-logits") o.dump_logits = next();
        else if (a == "--decode-from") o.decode_from = (int)to_int(a, next(), 0, 1 << 30);
        else fail("unknown option '%s' (see ds4 --help)", argv[i]);
    }
    if (o.has_prompt_tokens && o.prompt_tokens.empty()) fail("--prompt-tokens: empty token list");
    if (!o.dump_logits.empty() && !o.has_prompt_tokens) fail("--dump-logits needs --prompt-tokens");
    if (o.decode_from >= 0 && !o.has_prompt_tokens) fail("--decode-from needs --prompt-tokens");
    if (o.tokenize && o.detokenize) fail("--tokenize and --detokenize are exclusive");
    return o;
}

}  // namespace ds4::cli
