#include "eval/options.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "util/error.h"

namespace ds4::eval {

namespace {

double parse_num(const char* flag, const char* v, double lo, double hi) {
    char* end = nullptr;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || d < lo || d > hi) fail("%s: bad value '%s' (expected %g..%g)", flag, v, lo, hi);
    return d;
}

int parse_int(const char* flag, const char* v, long lo, long hi) {
    char* end = nullptr;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi) fail("%s: bad value '%s' (expected %ld..%ld)", flag, v, lo, hi);
    return (int)n;
}

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    size_t p = 0;
    while (p <= s.size()) {
        size_t c = s.find(',', p);
        std::string item = s.substr(p, c == std::string::npos ? std::string::npos : c - p);
        if (!item.empty()) out.push_back(item);
        if (c == std::string::npos) break;
        p = c + 1;
    }
    return out;
}

}  // namespace

std::string eval_usage() {
    return "usage: ds4-eval [options]\n"
           "  -m, --model FILE        GGUF model (default ds4flash.gguf)\n"
           "  --set [FMT:]FILE        question set, repeatable (default eval/sets/default.jsonl);\n"
           "                          FMT: ds4 aime mmlu-pro supergpqa humaneval gpqa (.csv = gpqa)\n"
           "  --only ID,..            run only these question ids\n"
           "  --framework NAME        run only this framework\n"
           "  --limit N               first N selected questions\n"
           "  -n, --tokens N          generation budget per question (default 16000)\n"
           "  --think | --nothink | --think-max   thinking mode (default --think)\n"
           "  --temp F  --top-p F  --min-p F  --top-k N   sampling (default greedy: temp 0)\n"
           "  --seed N                sampling seed (default: time based)\n"
           "  -t, --threads N         CPU threads (default: all cores)\n"
           "  --ctx N                 context size (default auto: largest prompt + budget)\n"
           "  --soft-limit-reply-budget N  --hard-limit-reply-budget N  --soft-limit-think-close-rank N\n"
           "                          think cutoff (defaults 1024, 512, 3)\n"
           "  --code-timeout S        seconds per code test run (default 10)\n"
           "  --trace FILE            write prompts, outputs and verdicts\n"
           "  --json FILE             write results as JSON\n"
           "  --resume FILE           skip ids already graded in a previous --json file\n"
           "  --plain                 no live terminal UI\n"
           "  --grade FRAMEWORK --expected SPEC   grade stdin and exit (no model)\n"
           "  -h, --help\n";
}

EvalOptions parse_eval_options(int argc, const char* const* argv) {
    EvalOptions o;
    bool budgets_set = false;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        auto val = [&]() -> const char* {
            if (i + 1 >= argc) fail("%s: missing value", a.c_str());
            return argv[++i];
        };
        const char* f = a.c_str();
        if (a == "-m" || a == "--model") o.model = val();
        else if (a == "--set") o.sets.push_back(val());
        else if (a == "--only") {
            for (auto& id : split_list(val())) o.only.push_back(id);
        }
        else if (a == "--framework") o.framework = val();
        else if (a == "--limit" || a == "--questions") o.limit = parse_int(f, val(), 1, 1 << 30);
        else if (a == "-n" || a == "--tokens") o.tokens = parse_int(f, val(), 1, 1000000);
        else if (a == "--think") o.think = chat::ThinkMode::High;
        else if (a == "--nothink") o.think = chat::ThinkMode::None;
        else if (a == "--think-max") o.think = chat::ThinkMode::Max;
        else if (a == "--temp") o.temp = (float)parse_num(f, val(), 0, 100);
        else if (a == "--top-p") o.top_p = (float)parse_num(f, val(), 0, 1);
        else if (a == "--min-p") o.min_p = (float)parse_num(f, val(), 0, 1);
        else if (a == "--top-k") o.top_k = parse_int(f, val(), 0, 1 << 30);
        else if (a == "--seed") {
            const char* v = val();
            char* end = nullptr;
            errno = 0;
            o.seed = strtoull(v, &end, 10);
            if (errno || end == v || *end) fail("--seed: bad value '%s'", v);
            o.has_seed = true;
        }
        else if (a == "-t" || a == "--threads") o.threads = parse_int(f, val(), 0, 4096);
        else if (a == "--ctx" || a == "-c") o.ctx = parse_int(f, val(), 0, 1 << 30);
        else if (a == "--soft-limit-reply-budget") o.soft_budget = parse_int(f, val(), 0, 1000000), budgets_set = true;
        else if (a == "--hard-limit-reply-budget") o.hard_budget = parse_int(f, val(), 0, 1000000), budgets_set = true;
        else if (a == "--soft-limit-think-close-rank") o.close_rank = parse_int(f, val(), 0, 1000);
        else if (a == "--code-timeout") o.code_timeout = parse_num(f, val(), 0.1, 3600);
        else if (a == "--trace") o.trace = val();
        else if (a == "--json") o.json = val();
        else if (a == "--resume") o.resume = val();
        else if (a == "--plain") o.plain = true;
        else if (a == "--grade") o.grade_framework = val();
        else if (a == "--expected") o.expected = val();
        else if (a == "-h" || a == "--help") o.help = true;
        else fail("unknown option '%s' (see --help)", f);
    }
    if (o.sets.empty()) o.sets.push_back("eval/sets/default.jsonl");
    if (!o.grade_framework.empty() && o.expected.empty()) fail("--grade needs --expected SPEC");
    if (o.grade_framework.empty() && !o.expected.empty()) fail("--expected is only used with --grade");
    // Small --tokens (quick runs, tiny test models) scale the default budgets down instead
    // of failing; explicit budgets are checked as given.
    if (!budgets_set && o.hard_budget >= o.tokens) {
        o.hard_budget = o.tokens / 4;
        o.soft_budget = o.tokens / 2;
    }
    if (o.soft_budget < o.hard_budget) fail("--soft-limit-reply-budget must be >= --hard-limit-reply-budget");
    if (o.hard_budget >= o.tokens && o.think != chat::ThinkMode::None && o.grade_framework.empty())
        fail("--hard-limit-reply-budget (%d) must be < --tokens (%d)", o.hard_budget, o.tokens);
    return o;
}

}  // namespace ds4::eval
