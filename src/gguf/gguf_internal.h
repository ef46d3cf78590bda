// Helpers shared by the GGUF reader, writer and tools; not part of the public API.
#pragma once
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

#include "gguf/gguf.h"

namespace ds4::gguf {

// Encoded size of a fixed-size value type; 0 for STRING, ARRAY and unknown codes.
size_t value_size(ValueType t);

// A name or key taken from a file, made safe for a one-line message: control bytes and
// quotes escaped as \xNN, long names cut.
std::string printable(std::string_view s);

// Throws Error("<label>: <formatted>").
[[noreturn]] void bad(const std::string& label, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Unaligned little-endian load (GGUF is little-endian and so are the hosts ds4 supports).
template <class T>
inline T load(const void* p) {
    T v;
    memcpy(&v, p, sizeof v);
    return v;
}

// Steps through a packed string-array payload (u64 length + bytes per element), starting
// at byte `pos`. Returns false, leaving *out alone, when the payload is exhausted or
// inconsistent (only possible for a hand-built KV: the reader validates the packing).
inline bool next_packed_string(const KV& kv, uint64_t& pos, std::string_view* out) {
    if (pos > kv.arr_bytes || kv.arr_bytes - pos < 8) return false;
    uint64_t len = load<uint64_t>(kv.arr_data + pos);
    if (len > kv.arr_bytes - pos - 8) return false;
    *out = std::string_view((const char*)kv.arr_data + pos + 8, (size_t)len);
    pos += 8 + len;
    return true;
}

}  // namespace ds4::gguf
