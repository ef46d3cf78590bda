// GGUF container: read-only view of a memory-mapped file, and a writer.
//
// Reader: the file is mmapped; metadata is parsed into small values (arrays keep a
// pointer into the map plus a count, so a 129k-entry vocab costs no copies until asked);
// tensor data pointers point into the map. Every structural problem is an Error with a
// one-line message naming the offending key/tensor (see gguf.cpp for the full list).
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "quant/ggml_types.h"
#include "util/mmap_file.h"

namespace ds4::gguf {

enum class ValueType : uint32_t {
    U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
    STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
const char* value_type_name(ValueType t);

constexpr int kMaxDims = 4;

struct Cursor;  // parsing cursor, defined in gguf.cpp

struct KV {
    std::string key;
    ValueType type;
    // scalars
    uint64_t u = 0;    // unsigned integer types and bool
    int64_t i = 0;     // signed integer types
    double f = 0;      // F32/F64
    std::string str;   // STRING
    // arrays: element type, count, and the raw bytes in the map (strings: packed u64-len+bytes)
    ValueType arr_type = ValueType::U8;
    uint64_t arr_n = 0;
    const uint8_t* arr_data = nullptr;
    uint64_t arr_bytes = 0;
};

struct TensorInfo {
    std::string name;
    GgmlType type;
    int n_dims = 0;
    int64_t ne[kMaxDims] = {1, 1, 1, 1};  // ne[0] contiguous
    uint64_t offset = 0;                  // relative to the data section
    uint64_t nbytes = 0;
    const uint8_t* data = nullptr;        // into the map
    int64_t nelements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    std::string shape_str() const;        // "[4096, 1024]"
};

// One-line rendering of a value for listings: `u32 43`, `string "deepseek4"`,
// `[string x 129280] "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", ...`. Arrays show
// their first max_elems elements; strings are JSON-quoted and cut after max_str bytes.
std::string describe_value(const KV& kv, size_t max_elems = 3, size_t max_str = 80);

class File {
public:
    // Opens and validates; throws Error("<path>: <problem>").
    static std::unique_ptr<File> open(const std::string& path);
    // Parses an in-memory image (fuzzing, tests); `data` must outlive the File.
    static std::unique_ptr<File> from_memory(const uint8_t* data, size_t size, const std::string& label = "<memory>");

    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }
    size_t file_size() const { return size_; }
    const std::string& path() const { return label_; }
    // See MappedFile::advise_sparse (no-op for in-memory images).
    void advise_sparse(const uint8_t* p, size_t n) const { map_.advise_sparse(p, n); }

    const std::vector<KV>& kvs() const { return kvs_; }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const KV* find(std::string_view key) const;
    const TensorInfo* tensor(std::string_view name) const;

    // Typed accessors. get_* throw Error naming the key when missing or of a wrong type;
    // get_*_or return the default when missing (but still throw on a wrong type).
    uint32_t get_u32(std::string_view key) const;          // exactly U32 (as ds4 is strict)
    uint32_t get_u32_or(std::string_view key, uint32_t def) const;
    uint64_t get_u64(std::string_view key) const;          // U64 or U32
    float get_f32(std::string_view key) const;             // F32, F64, U32 or I32
    float get_f32_or(std::string_view key, float def) const;
    bool get_bool(std::string_view key) const;
    bool get_bool_or(std::string_view key, bool def) const;
    std::string get_string(std::string_view key) const;
    std::string get_string_or(std::string_view key, const std::string& def) const;
    // Arrays: numeric arrays convert element-wise (integer types to int64, float types to
    // double); string arrays decode into a vector. Throw when the key is not such an array.
    std::vector<int64_t> get_int_array(std::string_view key) const;
    std::vector<double> get_float_array(std::string_view key) const;   // also accepts integer arrays
    std::vector<std::string> get_string_array(std::string_view key) const;

private:
    File() = default;
    void parse();
    void parse_value(Cursor& c, KV& kv);
    void parse_tensor_info(Cursor& c, uint64_t index, TensorInfo& t);
    void validate_placement();
    const KV& require(std::string_view key) const;
    [[noreturn]] void wrong_type(const KV& kv, const char* expected) const;
    MappedFile map_;
    const uint8_t* base_ = nullptr;
    size_t size_ = 0;
    std::string label_;
    uint32_t version_ = 0;
    uint32_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::vector<KV> kvs_;
    std::vector<TensorInfo> tensors_;
    // Name -> index; the views point into kvs_/tensors_, which never change after parse().
    std::unordered_map<std::string_view, size_t> kv_index_;
    std::unordered_map<std::string_view, size_t> tensor_index_;
};

// ---------------------------------------------------------------------------------------
// Writer: collects metadata and tensor descriptions, then streams the file out. Tensor data
// is written in tensor-info order at aligned running offsets with zero padding, exactly as
// ggml's gguf writer does (ggml rejects any other placement).
class Writer {
public:
    // Setting an existing key replaces its value in place (the key keeps its position).
    void set_u8(const std::string& k, uint8_t v);
    void set_i8(const std::string& k, int8_t v);
    void set_u16(const std::string& k, uint16_t v);
    void set_i16(const std::string& k, int16_t v);
    void set_u32(const std::string& k, uint32_t v);
    void set_i32(const std::string& k, int32_t v);
    void set_u64(const std::string& k, uint64_t v);
    void set_i64(const std::string& k, int64_t v);
    void set_f32(const std::string& k, float v);
    void set_f64(const std::string& k, double v);
    void set_bool(const std::string& k, bool v);
    void set_string(const std::string& k, const std::string& v);
    void set_array_u32(const std::string& k, const std::vector<uint32_t>& v);
    void set_array_i32(const std::string& k, const std::vector<int32_t>& v);
    void set_array_f32(const std::string& k, const std::vector<float>& v);
    void set_array_string(const std::string& k, const std::vector<std::string>& v);
    // Any fixed-size element type (not STRING/ARRAY): n little-endian elements at `elems`.
    void set_array(const std::string& k, ValueType elem, const void* elems, size_t n);
    // Copies a KV (any type, arrays included) from an existing file.
    void copy_kv(const KV& kv);
    void remove(const std::string& k);
    bool has(const std::string& k) const;
    void set_alignment(uint32_t a);  // also written as general.alignment

    // Declares a tensor; ne as in GGUF (ne[0] contiguous). Returns its index.
    size_t add_tensor(const std::string& name, GgmlType type, const std::vector<int64_t>& ne);
    uint64_t tensor_nbytes(size_t idx) const;
    size_t n_tensors() const { return tensors_.size(); }

    // Streaming write: begin() writes header + directory, then each tensor's bytes must be
    // provided in order with write_tensor_data (possibly in several pieces), then finish().
    void begin(const std::string& path);
    void write_tensor_data(const void* data, size_t n);
    void finish();   // pads, flushes, closes; throws on I/O error or size mismatch
    ~Writer();

private:
    struct Item {
        std::string key;
        ValueType type;
        std::vector<uint8_t> payload;  // encoded value (without key and type)
    };
    struct T {
        std::string name;
        GgmlType type;
        std::vector<int64_t> ne;
        uint64_t nbytes;
        uint64_t offset;
    };
    void put(const std::string& k, ValueType t, std::vector<uint8_t> payload);
    void write_raw(const void* p, size_t n);
    void pad_to_alignment();
    std::vector<Item> items_;
    std::vector<T> tensors_;
    uint32_t alignment_ = 32;
    FILE* fp_ = nullptr;
    std::string path_;
    size_t cur_tensor_ = 0;
    uint64_t cur_written_ = 0;
    uint64_t pos_ = 0;
};

}  // namespace ds4::gguf
