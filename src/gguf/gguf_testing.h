// Test-only helpers (header-only, never linked into libds4): an independent little-endian
// serialiser for hand-made GGUF images, including invalid ones that the Writer refuses to
// produce, and the seed files for the fuzzer. Used by gguf_test.cpp,
// tests/gguf_hostile_test.cpp and tests/fuzz/gguf_fuzz.cpp.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quant/ggml_types.h"

namespace ds4::gguf::testing {

struct Bytes {
    std::vector<uint8_t> b;
    template <class T>
    Bytes& put(T v) {
        const uint8_t* p = reinterpret_cast<const uint8_t*>(&v);
        b.insert(b.end(), p, p + sizeof v);
        return *this;
    }
    Bytes& u8(uint8_t v) { return put(v); }
    Bytes& u32(uint32_t v) { return put(v); }
    Bytes& u64(uint64_t v) { return put(v); }
    Bytes& str(std::string_view s) {
        u64(s.size());
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    Bytes& raw(const std::vector<uint8_t>& v) {
        b.insert(b.end(), v.begin(), v.end());
        return *this;
    }
};

// Value-type codes as plain numbers, so that invalid ones can be written too.
enum : uint32_t { T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STRING, T_ARRAY, T_U64, T_I64, T_F64 };

struct RawKV {
    std::string key;
    uint32_t type;
    std::vector<uint8_t> value;  // encoded value, exactly as it follows the type code
};
struct RawTensor {
    std::string name;
    std::vector<int64_t> ne;
    uint32_t type;
    uint64_t offset;
};

inline uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

inline RawKV kv_u32(const std::string& k, uint32_t v) { return {k, T_U32, Bytes().u32(v).b}; }
inline RawKV kv_str(const std::string& k, std::string_view v) { return {k, T_STRING, Bytes().str(v).b}; }
inline RawKV kv_str_array(const std::string& k, const std::vector<std::string>& v) {
    Bytes b;
    b.u32(T_STRING).u64(v.size());
    for (const std::string& s : v) b.str(s);
    return {k, T_ARRAY, b.b};
}

inline uint64_t tensor_bytes(uint32_t type, const std::vector<int64_t>& ne) {
    TypeTraits tr = type_traits(type);
    uint64_t n = (uint64_t)(ne[0] / tr.block_size * tr.type_size);
    for (size_t d = 1; d < ne.size(); d++) n *= (uint64_t)ne[d];
    return n;
}

// A GGUF described field by field. build() lays it out the way ggml does; tests corrupt
// the description (or the built bytes) to make each hostile case.
struct RawGguf {
    uint32_t magic = 0x46554747;
    uint32_t version = 3;
    int64_t n_tensors = -1;  // -1: the real count
    int64_t n_kv = -1;
    std::vector<RawKV> kvs;
    std::vector<RawTensor> tensors;
    uint32_t alignment = 32;  // padding used by build(); add general.alignment to kvs yourself
    int64_t data_bytes = -1;  // -1: up to the end of the last tensor, padded
    uint8_t data_fill = 0;

    // Gives every tensor the running padded offset, as ggml's writer does.
    void place_tensors() {
        uint64_t off = 0;
        for (RawTensor& t : tensors) {
            t.offset = off;
            off = (off + tensor_bytes(t.type, t.ne) + alignment - 1) / alignment * alignment;
        }
    }

    std::vector<uint8_t> build() const {
        Bytes h;
        h.u32(magic).u32(version);
        h.u64(n_tensors < 0 ? tensors.size() : (uint64_t)n_tensors);
        h.u64(n_kv < 0 ? kvs.size() : (uint64_t)n_kv);
        for (const RawKV& kv : kvs) h.str(kv.key).u32(kv.type).raw(kv.value);
        uint64_t end = 0;
        for (const RawTensor& t : tensors) {
            h.str(t.name).u32((uint32_t)t.ne.size());
            for (int64_t v : t.ne) h.put<int64_t>(v);
            h.u32(t.type).u64(t.offset);
            TypeTraits tr = type_traits(t.type);
            if (tr.block_size) end = std::max(end, t.offset + tensor_bytes(t.type, t.ne));
        }
        while (h.b.size() % alignment) h.u8(0);
        uint64_t n = data_bytes >= 0 ? (uint64_t)data_bytes : (end + alignment - 1) / alignment * alignment;
        h.b.resize(h.b.size() + n, data_fill);
        return h.b;
    }
};

// A small valid file: a few keys and three tensors of different types.
inline RawGguf small_valid() {
    RawGguf g;
    g.kvs.push_back(kv_str("general.architecture", "deepseek4"));
    g.kvs.push_back(kv_u32("general.alignment", 32));
    g.kvs.push_back(kv_u32("deepseek4.block_count", 2));
    g.kvs.push_back(kv_str_array("tokenizer.ggml.tokens", {"a", "bc", "<｜begin▁of▁sentence｜>"}));
    g.tensors.push_back({"token_embd.weight", {64, 3}, (uint32_t)GgmlType::Q8_0, 0});
    g.tensors.push_back({"output_norm.weight", {5}, (uint32_t)GgmlType::F32, 0});
    g.tensors.push_back({"blk.0.ffn_down.weight", {256, 2}, (uint32_t)GgmlType::Q4_K, 0});
    g.place_tensors();
    return g;
}

// Seed inputs for the fuzzer: valid files exercising every value type, string arrays,
// v2, a larger alignment, no tensors, 4-D tensors and block-quantised types.
inline std::vector<std::pair<std::string, std::vector<uint8_t>>> fuzz_seeds() {
    std::vector<std::pair<std::string, std::vector<uint8_t>>> seeds;
    RawGguf g = small_valid();
    seeds.push_back({"small-v3", g.build()});
    g.version = 2;
    seeds.push_back({"small-v2", g.build()});

    RawGguf all;  // one key per value type, plus arrays of each element type
    Bytes bools;
    bools.u32(T_BOOL).u64(3).u8(1).u8(0).u8(1);
    all.kvs = {{"u8", T_U8, Bytes().u8(200).b},
               {"i8", T_I8, Bytes().put<int8_t>(-5).b},
               {"u16", T_U16, Bytes().put<uint16_t>(60000).b},
               {"i16", T_I16, Bytes().put<int16_t>(-30000).b},
               kv_u32("u32", 4000000000u),
               {"i32", T_I32, Bytes().put<int32_t>(-7).b},
               {"f32", T_F32, Bytes().put<float>(1.5f).b},
               {"bool", T_BOOL, Bytes().u8(1).b},
               kv_str("string", "héllo"),
               {"u64", T_U64, Bytes().u64(1ull << 40).b},
               {"i64", T_I64, Bytes().put<int64_t>(-(1ll << 40)).b},
               {"f64", T_F64, Bytes().put<double>(1e-6).b},
               {"arr.bool", T_ARRAY, bools.b},
               {"arr.i32", T_ARRAY, Bytes().u32(T_I32).u64(2).put<int32_t>(-1).put<int32_t>(4).b},
               {"arr.f32", T_ARRAY, Bytes().u32(T_F32).u64(2).put<float>(10.f).put<float>(0.5f).b},
               {"arr.u64", T_ARRAY, Bytes().u32(T_U64).u64(1).u64(~0ull).b},
               {"arr.f64", T_ARRAY, Bytes().u32(T_F64).u64(1).put<double>(2.5).b},
               {"arr.empty", T_ARRAY, Bytes().u32(T_U8).u64(0).b},
               kv_str_array("arr.string", {"x", "", "yz"})};
    seeds.push_back({"all-types", all.build()});

    RawGguf a64;
    a64.alignment = 64;
    a64.kvs = {kv_u32("general.alignment", 64)};
    a64.tensors = {{"t4d", {2, 3, 2, 2}, (uint32_t)GgmlType::F16, 0},
                   {"iq", {256, 1}, (uint32_t)GgmlType::IQ2_XXS, 0},
                   {"q2", {256, 1}, (uint32_t)GgmlType::Q2_K, 0},
                   {"i32", {3}, (uint32_t)GgmlType::I32, 0},
                   {"bf16", {4, 2}, (uint32_t)GgmlType::BF16, 0}};
    a64.place_tensors();
    a64.data_fill = 0x5a;
    seeds.push_back({"align64-4d", a64.build()});
    return seeds;
}

}  // namespace ds4::gguf::testing
