// Tokenizer::from_gguf: the GGUF tokenizer section -> Tokenizer (same result as from_vocab).
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace ds4 {

Tokenizer Tokenizer::from_gguf(const gguf::File& f) {
    static constexpr char kTokens[] = "tokenizer.ggml.tokens";
    static constexpr char kMerges[] = "tokenizer.ggml.merges";
    static constexpr char kTypes[] = "tokenizer.ggml.token_type";
    if (!f.find(kTokens)) fail("%s: missing key %s", f.path().c_str(), kTokens);
    if (!f.find(kMerges)) fail("%s: missing key %s", f.path().c_str(), kMerges);
    std::vector<std::string> tokens = f.get_string_array(kTokens);
    std::vector<std::string> merges = f.get_string_array(kMerges);
    std::vector<int32_t> types;
    if (f.find(kTypes)) {
        const std::vector<int64_t> raw = f.get_int_array(kTypes);
        if (raw.size() != tokens.size())
            fail("%s: %s has %zu entries for %zu tokens", f.path().c_str(), kTypes, raw.size(), tokens.size());
        types.reserve(raw.size());
        for (size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] < 0 || raw[i] > 6) fail("%s: %s[%zu] = %lld is not a token type", f.path().c_str(), kTypes, i,
                                               (long long)raw[i]);
            types.push_back(int32_t(raw[i]));
        }
    }
    return build(std::move(tokens), std::move(merges), std::move(types), kTokens, kMerges, kTypes);
}

}  // namespace ds4
