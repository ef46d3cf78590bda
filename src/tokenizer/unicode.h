// Unicode helpers for the tokenizer: character classes (generated tables) and UTF-8 decoding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ds4::unicode {

// Major General_Category classes the DeepSeek pre-tokenizer regexes use, plus \s.
// Space = the White_Space property (Oniguruma's \s for Unicode); no White_Space code point
// is L/M/N/P/S, so the classes are disjoint. Unassigned, Cc/Cf/Co/Cs and the like are Other.
enum class CharClass : uint8_t { Other = 0, Letter = 1, Mark = 2, Number = 3, Punct = 4, Symbol = 5, Space = 6 };

struct CharRange {
    uint32_t lo, hi;
    uint8_t cls;
};
extern const CharRange kCharRanges[];       // generated: unicode_tables.cpp
extern const size_t kCharRangesCount;
extern const char* const kUnicodeVersion;

// Class of a code point (binary search; BMP through a direct table). Out of range: Other.
CharClass char_class(uint32_t cp);

// Decodes one UTF-8 sequence at s[i] (i < s.size()). Returns its length (1..4) and sets cp.
// A byte that does not start a valid, complete, shortest-form sequence (no surrogates, no
// code point above U+10FFFF) decodes as a single byte with cp = 0x110000 + byte (class Other).
int decode_utf8(std::string_view s, size_t i, uint32_t& cp);

// Length a UTF-8 lead byte announces (2..4), 1 for ASCII, 0 for a byte that cannot lead.
int utf8_lead_len(uint8_t b);

}  // namespace ds4::unicode
