// The DeepSeek V3/V4 pre-tokenizer (tokenizer.json `pre_tokenizer`, llama.cpp "joyai-llm" /
// "deepseek-v3"): three HF `Split` steps with behaviour Isolated, each applied to every piece
// of the previous one, implemented by hand with real Unicode classes:
//   1. \p{N}{1,3}
//   2. [一-龥぀-ゟ゠-ヿ]+            (U+4E00..U+9FA5, U+3040..U+30FF)
//   3. [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
//      ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// (`\s` = White_Space, as in Oniguruma.) Matches and the gaps between them are both pieces.
// Invalid UTF-8 bytes are single characters of class Other.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace ds4 {

struct PieceSpan {
    uint32_t off, len;  // byte range in the input
};

// Appends the pieces of `text` (in order, covering it exactly) to `out`.
void pretokenize(std::string_view text, std::vector<PieceSpan>& out);

}  // namespace ds4
