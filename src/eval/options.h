// ds4-eval command-line options (parsed without a model, so they are unit-testable).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "chat/chat.h"

namespace ds4::eval {

struct EvalOptions {
    std::string model = "ds4flash.gguf";
    std::vector<std::string> sets;        // --set (repeatable); default eval/sets/default.jsonl
    std::vector<std::string> only;        // --only ID,..
    std::string framework;                // --framework NAME
    int limit = 0;                        // --limit N (0 = all)
    int tokens = 16000;                   // --tokens / -n
    chat::ThinkMode think = chat::ThinkMode::High;
    float temp = 0.0f;                    // ds4-eval default: greedy
    float top_p = 1.0f, min_p = 0.05f;
    int top_k = 0;
    uint64_t seed = 0;
    bool has_seed = false;
    int threads = 0;
    int ctx = 0;                          // 0 = auto (largest prompt + budget)
    int soft_budget = 1024, hard_budget = 512, close_rank = 3;
    double code_timeout = 10.0;
    std::string trace, json, resume;
    bool plain = false;
    std::string grade_framework, expected;  // --grade FRAMEWORK --expected SPEC
    bool help = false;
};

// Throws ds4::Error naming the flag on unknown flags, missing or bad values.
EvalOptions parse_eval_options(int argc, const char* const* argv);
std::string eval_usage();

}  // namespace ds4::eval
