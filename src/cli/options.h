// Command-line options of ./ds4, parsed into one struct (testable without a model).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/session.h"

namespace ds4::cli {

enum class ThinkMode { Think, NoThink, ThinkMax };

struct Options {
    std::string model = "ds4flash.gguf";
    std::string prompt;          // -p
    bool has_prompt = false;
    std::string system;          // --system
    int n_predict = 512;         // -n (-1 = until EOS or context end)
    int n_ctx = 32768;           // -c / --ctx
    int n_threads = 0;           // -t (0 = cores)
    int ubatch = 512;            // --ubatch
    int experts = 0;             // --experts (0 = from metadata)
    float temp = 1.0f;
    float top_p = 1.0f;
    int top_k = 0;
    float min_p = 0.05f;
    uint64_t seed = 0;
    bool has_seed = false;
    ThinkMode think = ThinkMode::Think;
    Numerics numerics = Numerics::Official;
    bool color = true;           // only used on a TTY
    bool verbose = false;

    // diagnostics
    std::vector<int32_t> prompt_tokens;  // --prompt-tokens
    bool has_prompt_tokens = false;
    std::string dump_logits;             // --dump-logits OUT.f32
    int decode_from = -1;                // --decode-from N
    bool tokenize = false;               // --tokenize (stdin -> ids)
    bool detokenize = false;             // --detokenize (stdin ids -> text)
    bool help = false;
};

// Throws ds4::Error with a one-line message for unknown flags, missing or bad values.
Options parse_options(int argc, const char* const* argv);
std::string usage();

// Parses "0,5,7" or "0 5 7" into ids; throws on anything else.
std::vector<int32_t> parse_token_list(const std::string& s);

}  // namespace ds4::cli
