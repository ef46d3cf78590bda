#include "tokenizer/pretokenizer.h"

#include "tokenizer/unicode.h"

namespace ds4 {

namespace {

using unicode::CharClass;

struct Ch {
    uint32_t off;
    uint32_t cp;
    CharClass cls;
};

inline bool is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FA5) || (cp >= 0x3040 && cp <= 0x30FF);
}
inline bool is_ascii_punct(uint32_t cp) {
    return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
           (cp >= 0x7B && cp <= 0x7E);
}
inline bool is_ascii_alpha(uint32_t cp) { return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z'; }
inline bool is_lm(const Ch& c) { return c.cls == CharClass::Letter || c.cls == CharClass::Mark; }
inline bool is_ps(const Ch& c) { return c.cls == CharClass::Punct || c.cls == CharClass::Symbol; }
inline bool is_crlf(const Ch& c) { return c.cp == '\r' || c.cp == '\n'; }

// Length in characters of the pass-3 match starting at ch[i] within [i, e), 0 if none.
// Alternatives are tried in order; each one's length is what the backtracking regex
// engine would produce.
size_t match3(const Ch* ch, size_t i, size_t e) {
    const Ch& c = ch[i];
    // [!"#...~][A-Za-z]+
    if (c.cp < 0x80 && is_ascii_punct(c.cp) && i + 1 < e && is_ascii_alpha(ch[i + 1].cp)) {
        size_t j = i + 1;
        while (j < e && is_ascii_alpha(ch[j].cp)) ++j;
        return j - i;
    }
    // [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
    const bool prefix_ok = !is_crlf(c) && c.cls != CharClass::Letter && !is_ps(c);
    if (prefix_ok && i + 1 < e && is_lm(ch[i + 1])) {
        size_t j = i + 1;
        while (j < e && is_lm(ch[j])) ++j;
        return j - i;
    }
    if (is_lm(c)) {
        size_t j = i;
        while (j < e && is_lm(ch[j])) ++j;
        return j - i;
    }
    //  ?[\p{P}\p{S}]+[\r\n]*
    {
        size_t k = (c.cp == ' ' && i + 1 < e && is_ps(ch[i + 1])) ? i + 1 : i;
        if (is_ps(ch[k])) {
            size_t j = k;
            while (j < e && is_ps(ch[j])) ++j;
            while (j < e && is_crlf(ch[j])) ++j;
            return j - i;
        }
    }
    if (c.cls == CharClass::Space) {
        size_t j = i;
        size_t last_nl = SIZE_MAX;
        while (j < e && ch[j].cls == CharClass::Space) {
            if (is_crlf(ch[j])) last_nl = j;
            ++j;
        }
        if (last_nl != SIZE_MAX) return last_nl + 1 - i;  // \s*[\r\n]+
        if (j == e) return j - i;                          // \s+(?!\S) at the end
        if (j - i >= 2) return j - 1 - i;                  // \s+(?!\S): leave one space
        return j - i;                                      // \s+
    }
    return 0;
}

void emit(const Ch* ch, size_t a, size_t b, std::vector<PieceSpan>& out) {
    // ch has a sentinel entry at index n whose off is the text length
    out.push_back({ch[a].off, ch[b].off - ch[a].off});
}

void pass3(const Ch* ch, size_t a, size_t b, std::vector<PieceSpan>& out) {
    size_t gap = a, i = a;
    while (i < b) {
        const size_t len = match3(ch, i, b);
        if (len == 0) { ++i; continue; }
        if (gap < i) emit(ch, gap, i, out);
        emit(ch, i, i + len, out);
        i += len;
        gap = i;
    }
    if (gap < b) emit(ch, gap, b, out);
}

}  // namespace

void pretokenize(std::string_view text, std::vector<PieceSpan>& out) {
    thread_local std::vector<Ch> chars;
    chars.clear();
    for (size_t i = 0; i < text.size();) {
        uint32_t cp;
        const int len = unicode::decode_utf8(text, i, cp);
        chars.push_back({uint32_t(i), cp, unicode::char_class(cp)});
        i += size_t(len);
    }
    const size_t n = chars.size();
    chars.push_back({uint32_t(text.size()), 0, CharClass::Other});  // sentinel
    const Ch* ch = chars.data();
    // Passes 1 and 2 together: number runs cut into chunks of 3 from the left, CJK runs, and
    // the maximal runs of everything else (no CJK character is \p{N}, so the two passes
    // commute); pass 3 then runs on each piece on its own.
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        if (ch[i].cls == CharClass::Number) {
            while (j < n && ch[j].cls == CharClass::Number) ++j;
            for (size_t k = i; k < j; k += 3) emit(ch, k, k + 3 < j ? k + 3 : j, out);
        } else if (is_cjk(ch[i].cp)) {
            while (j < n && is_cjk(ch[j].cp)) ++j;
            pass3(ch, i, j, out);
        } else {
            while (j < n && ch[j].cls != CharClass::Number && !is_cjk(ch[j].cp)) ++j;
            pass3(ch, i, j, out);
        }
        i = j;
    }
    if (chars.capacity() > (size_t(1) << 16)) std::vector<Ch>().swap(chars);  // no huge per-thread buffer
}

}  // namespace ds4
