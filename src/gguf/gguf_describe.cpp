// Human-readable rendering of metadata values (gguf-info, ds4's --verbose model summary).
#include <cmath>

#include "gguf/gguf.h"
#include "gguf/gguf_internal.h"
#include "util/error.h"
#include "util/json.h"

namespace ds4::gguf {

namespace {

// JSON-quoted, cut at a UTF-8 character boundary when longer than max_str bytes.
std::string quoted(std::string_view s, size_t max_str) {
    if (s.size() <= max_str) return json::quote(s);
    size_t cut = max_str;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;
    return json::quote(s.substr(0, cut)) + strfmt("... (%zu bytes)", s.size());
}

std::string fixed_element(ValueType t, const uint8_t* p) {
    switch (t) {
        case ValueType::U8: return strfmt("%u", p[0]);
        case ValueType::I8: return strfmt("%d", (int8_t)p[0]);
        case ValueType::BOOL: return p[0] ? "true" : "false";
        case ValueType::U16: return strfmt("%u", load<uint16_t>(p));
        case ValueType::I16: return strfmt("%d", load<int16_t>(p));
        case ValueType::U32: return strfmt("%u", load<uint32_t>(p));
        case ValueType::I32: return strfmt("%d", load<int32_t>(p));
        case ValueType::U64: return strfmt("%llu", (unsigned long long)load<uint64_t>(p));
        case ValueType::I64: return strfmt("%lld", (long long)load<int64_t>(p));
        case ValueType::F32: return strfmt("%.9g", load<float>(p));
        case ValueType::F64: return strfmt("%.17g", load<double>(p));
        default: return "?";
    }
}

}  // namespace

std::string describe_value(const KV& kv, size_t max_elems, size_t max_str) {
    switch (kv.type) {
        case ValueType::STRING: return "string " + quoted(kv.str, max_str);
        case ValueType::ARRAY: break;
        default: {
            // Re-encode the scalar so that one formatter serves scalars and array elements.
            uint8_t buf[8] = {};
            size_t es = value_size(kv.type);
            if (kv.type == ValueType::F32) {
                float f = (float)kv.f;
                memcpy(buf, &f, 4);
            } else if (kv.type == ValueType::F64) {
                memcpy(buf, &kv.f, 8);
            } else {
                uint64_t v = (kv.type == ValueType::I8 || kv.type == ValueType::I16 || kv.type == ValueType::I32 ||
                              kv.type == ValueType::I64) ? (uint64_t)kv.i : kv.u;
                memcpy(buf, &v, es);
            }
            return std::string(value_type_name(kv.type)) + " " + fixed_element(kv.type, buf);
        }
    }
    std::string out = strfmt("[%s x %llu]", value_type_name(kv.arr_type), (unsigned long long)kv.arr_n);
    size_t es = value_size(kv.arr_type);
    uint64_t p = 0;  // byte position inside the array payload
    for (uint64_t j = 0; j < kv.arr_n && j < max_elems; j++) {
        out += j ? ", " : " ";
        if (es) {
            out += fixed_element(kv.arr_type, kv.arr_data + j * es);
            continue;
        }
        std::string_view s;
        if (!next_packed_string(kv, p, &s)) break;
        out += quoted(s, max_str);
    }
    if (kv.arr_n > max_elems) out += ", ...";
    return out;
}

}  // namespace ds4::gguf
