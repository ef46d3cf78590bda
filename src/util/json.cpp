#include "util/json.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "util/error.h"

namespace ds4::json {

namespace {

struct Parser {
    const char* p;
    const char* begin;
    const char* end;
    int max_depth;

    [[noreturn]] void error(const char* what) const {
        fail("json: %s at byte %zu", what, (size_t)(p - begin));
    }
    void ws() {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    }
    bool lit(const char* s) {
        size_t n = strlen(s);
        if ((size_t)(end - p) >= n && memcmp(p, s, n) == 0) {
            p += n;
            return true;
        }
        return false;
    }
    static void put_utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) {
            out += (char)cp;
        } else if (cp < 0x800) {
            out += (char)(0xC0 | (cp >> 6));
            out += (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += (char)(0xE0 | (cp >> 12));
            out += (char)(0x80 | ((cp >> 6) & 0x3F));
            out += (char)(0x80 | (cp & 0x3F));
        } else {
            out += (char)(0xF0 | (cp >> 18));
            out += (char)(0x80 | ((cp >> 12) & 0x3F));
            out += (char)(0x80 | ((cp >> 6) & 0x3F));
            out += (char)(0x80 | (cp & 0x3F));
        }
    }
    uint32_t hex4() {
        if (end - p < 4) error("truncated \\u escape");
        uint32_t v = 0;
        for (int i = 0; i < 4; i++) {
            char c = *p++;
            v <<= 4;
            if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
            else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
            else error("bad \\u escape");
        }
        return v;
    }
    std::string string() {
        // at opening quote
        p++;
        std::string out;
        while (true) {
            if (p >= end) error("unterminated string");
            unsigned char c = (unsigned char)*p;
            if (c == '"') {
                p++;
                return out;
            }
            if (c < 0x20) error("control character in string");
            if (c != '\\') {
                // copy a run of plain bytes
                const char* s = p;
                while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
                out.append(s, p);
                continue;
            }
            p++;
            if (p >= end) error("unterminated escape");
            char e = *p++;
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    uint32_t cp = hex4();
                    if (cp >= 0xD800 && cp < 0xDC00) {
                        // high surrogate: pair it if a low one follows, else keep U+FFFD
                        if (end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                            const char* save = p;
                            p += 2;
                            uint32_t lo = hex4();
                            if (lo >= 0xDC00 && lo < 0xE000) {
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            } else {
                                p = save;
                                cp = 0xFFFD;
                            }
                        } else {
                            cp = 0xFFFD;
                        }
                    } else if (cp >= 0xDC00 && cp < 0xE000) {
                        cp = 0xFFFD;
                    }
                    put_utf8(out, cp);
                    break;
                }
                default: error("bad escape");
            }
        }
    }
    void number(Value& v) {
        const char* s = p;
        if (p < end && *p == '-') p++;
        if (p >= end) error("bad number");
        if (*p == '0') {
            p++;
        } else if (*p >= '1' && *p <= '9') {
            while (p < end && *p >= '0' && *p <= '9') p++;
        } else {
            error("bad number");
        }
        bool integral = true;
        if (p < end && *p == '.') {
            integral = false;
            p++;
            if (p >= end || !(*p >= '0' && *p <= '9')) error("bad number");
            while (p < end && *p >= '0' && *p <= '9') p++;
        }
        if (p < end && (*p == 'e' || *p == 'E')) {
            integral = false;
            p++;
            if (p < end && (*p == '+' || *p == '-')) p++;
            if (p >= end || !(*p >= '0' && *p <= '9')) error("bad number");
            while (p < end && *p >= '0' && *p <= '9') p++;
        }
        std::string tok(s, p);
        v.type = Type::Number;
        v.number = strtod(tok.c_str(), nullptr);
        if (integral) {
            errno = 0;
            char* e = nullptr;
            long long ll = strtoll(tok.c_str(), &e, 10);
            if (errno == 0 && e && *e == 0) {
                v.is_int = true;
                v.integer = ll;
            }
        }
    }
    void value(Value& v, int depth) {
        if (depth > max_depth) error("nesting too deep");
        ws();
        if (p >= end) error("unexpected end of input");
        char c = *p;
        if (c == '{') {
            p++;
            v.type = Type::Object;
            ws();
            if (p < end && *p == '}') {
                p++;
                return;
            }
            while (true) {
                ws();
                if (p >= end || *p != '"') error("expected object key");
                std::string key = string();
                ws();
                if (p >= end || *p != ':') error("expected ':'");
                p++;
                v.obj.emplace_back(std::move(key), Value{});
                value(v.obj.back().second, depth + 1);
                ws();
                if (p < end && *p == ',') {
                    p++;
                    continue;
                }
                if (p < end && *p == '}') {
                    p++;
                    return;
                }
                error("expected ',' or '}'");
            }
        } else if (c == '[') {
            p++;
            v.type = Type::Array;
            ws();
            if (p < end && *p == ']') {
                p++;
                return;
            }
            while (true) {
                v.arr.emplace_back();
                value(v.arr.back(), depth + 1);
                ws();
                if (p < end && *p == ',') {
                    p++;
                    continue;
                }
                if (p < end && *p == ']') {
                    p++;
                    return;
                }
                error("expected ',' or ']'");
            }
        } else if (c == '"') {
            v.type = Type::String;
            v.str = string();
        } else if (c == 't') {
            if (!lit("true")) error("bad literal");
            v.type = Type::Bool;
            v.boolean = true;
        } else if (c == 'f') {
            if (!lit("false")) error("bad literal");
            v.type = Type::Bool;
        } else if (c == 'n') {
            if (!lit("null")) error("bad literal");
            v.type = Type::Null;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            number(v);
        } else if (c == 'N' && lit("NaN")) {  // Python's json.dumps writes these
            v.type = Type::Number;
            v.number = NAN;
        } else if (c == 'I' && lit("Infinity")) {
            v.type = Type::Number;
            v.number = INFINITY;
        } else {
            error("unexpected character");
        }
    }
};

const char* type_str(Type t) {
    switch (t) {
        case Type::Null: return "null";
        case Type::Bool: return "bool";
        case Type::Number: return "number";
        case Type::String: return "string";
        case Type::Array: return "array";
        case Type::Object: return "object";
    }
    return "?";
}

}  // namespace

Value parse(std::string_view text, int max_depth) {
    Parser ps{text.data(), text.data(), text.data() + text.size(), max_depth};
    Value v;
    ps.value(v, 0);
    ps.ws();
    if (ps.p != ps.end) ps.error("trailing characters");
    return v;
}

const Value* Value::find(std::string_view key) const {
    if (type != Type::Object) return nullptr;
    for (const auto& kv : obj)
        if (kv.first == key) return &kv.second;
    return nullptr;
}

const std::string& Value::as_string(const char* what) const {
    if (type != Type::String) fail("%s: expected a string, found %s", what, type_str(type));
    return str;
}
double Value::as_number(const char* what) const {
    if (type != Type::Number) fail("%s: expected a number, found %s", what, type_str(type));
    return number;
}
int64_t Value::as_int(const char* what) const {
    if (type != Type::Number || !is_int) fail("%s: expected an integer, found %s", what, type_str(type));
    return integer;
}
bool Value::as_bool(const char* what) const {
    if (type != Type::Bool) fail("%s: expected true/false, found %s", what, type_str(type));
    return boolean;
}
const std::vector<Value>& Value::as_array(const char* what) const {
    if (type != Type::Array) fail("%s: expected an array, found %s", what, type_str(type));
    return arr;
}

std::string quote(std::string_view s) {
    std::string out = "\"";
    size_t i = 0;
    while (i < s.size()) {
        unsigned char c = (unsigned char)s[i];
        // validate a UTF-8 sequence; invalid bytes become \u00XX escapes
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= s.size();
        for (int k = 1; ok && k < len; k++) ok = ((unsigned char)s[i + k] >> 6) == 2;
        if (!ok) {
            char buf[8];
            snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
            i++;
            continue;
        }
        if (len == 1) {
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                default:
                    if (c < 0x20) {
                        char buf[8];
                        snprintf(buf, sizeof buf, "\\u%04x", c);
                        out += buf;
                    } else {
                        out += (char)c;
                    }
            }
        } else {
            out.append(s.substr(i, len));
        }
        i += len;
    }
    out += '"';
    return out;
}

}  // namespace ds4::json
