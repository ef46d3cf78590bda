#include "tokenizer/unicode.h"

#include <vector>

namespace ds4::unicode {

namespace {

CharClass search(uint32_t cp) {
    size_t lo = 0, hi = kCharRangesCount;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (kCharRanges[mid].hi < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo < kCharRangesCount && kCharRanges[lo].lo <= cp) return CharClass(kCharRanges[lo].cls);
    return CharClass::Other;
}

struct BmpTable {
    std::vector<uint8_t> t;
    BmpTable() : t(0x10000, 0) {
        for (size_t k = 0; k < kCharRangesCount; ++k) {
            const CharRange& r = kCharRanges[k];
            for (uint32_t c = r.lo; c <= r.hi && c < 0x10000; ++c) t[c] = r.cls;
        }
    }
};

}  // namespace

CharClass char_class(uint32_t cp) {
    static const BmpTable bmp;
    if (cp < 0x10000) return CharClass(bmp.t[cp]);
    return search(cp);
}

int utf8_lead_len(uint8_t b) {
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 0;
}

int decode_utf8(std::string_view s, size_t i, uint32_t& cp) {
    const uint8_t b0 = uint8_t(s[i]);
    const int len = utf8_lead_len(b0);
    if (len == 1) { cp = b0; return 1; }
    if (len == 0 || i + len > s.size()) { cp = 0x110000 + b0; return 1; }
    const uint8_t b1 = uint8_t(s[i + 1]);
    // Allowed range of the second byte (excludes overlongs, surrogates, > U+10FFFF).
    uint8_t lo = 0x80, hi = 0xBF;
    if (b0 == 0xE0) lo = 0xA0;
    else if (b0 == 0xED) hi = 0x9F;
    else if (b0 == 0xF0) lo = 0x90;
    else if (b0 == 0xF4) hi = 0x8F;
    if (b1 < lo || b1 > hi) { cp = 0x110000 + b0; return 1; }
    uint32_t c = (len == 2) ? (b0 & 0x1Fu) : (len == 3) ? (b0 & 0x0Fu) : (b0 & 0x07u);
    c = (c << 6) | (b1 & 0x3Fu);
    for (int k = 2; k < len; ++k) {
        const uint8_t b = uint8_t(s[i + k]);
        if ((b & 0xC0) != 0x80) { cp = 0x110000 + b0; return 1; }
        c = (c << 6) | (b & 0x3Fu);
    }
    cp = c;
    return len;
}

}  // namespace ds4::unicode
