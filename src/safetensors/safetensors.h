// Safetensors reader: memory-mapped, hostile-file safe, with the dtypes of the official
// DeepSeek V4 release (BF16/F16/F32 dense, F8_E4M3 + F8_E8M0 128x128 block scales, FP4 E2M1
// packed in I8 + F8_E8M0 per-32 scales, I64 tid2eid) and sharded checkpoints
// (model.safetensors.index.json).
//
// File layout: u64 LE header length N, N bytes of JSON header
//   {"name": {"dtype": "BF16", "shape": [a, b], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"k": "v"}}
// then the data section; offsets are relative to its start (byte 8 + N).
//
// open() validates everything up front: header length within the file, strict JSON, known
// dtypes, non-negative shapes whose element count does not overflow, data_offsets in bounds
// with end - begin == numel * dtype size, and no two tensors overlapping. Errors are one-line
// ds4::Error("<path>: <problem>").
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util/mmap_file.h"

namespace ds4::safetensors {

enum class DType : uint8_t {
    BOOL, U8, I8, I16, U16, I32, U32, I64, U64, F16, BF16, F32, F64, F8_E4M3, F8_E5M2, F8_E8M0,
};
const char* dtype_name(DType t);
size_t dtype_size(DType t);
bool parse_dtype(std::string_view s, DType* out);

struct Tensor {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;      // as stored (PyTorch order, last dim contiguous)
    uint64_t numel = 1;
    const uint8_t* data = nullptr;   // into the map
    uint64_t nbytes = 0;
    std::string shape_str() const;   // "[4096, 128]"
};

class File {
public:
    static std::unique_ptr<File> open(const std::string& path);
    // Parses an in-memory image (tests); `data` must outlive the File.
    static std::unique_ptr<File> from_memory(const uint8_t* data, size_t size, const std::string& label = "<memory>");

    const std::string& path() const { return label_; }
    const std::vector<Tensor>& tensors() const { return tensors_; }
    const Tensor* find(std::string_view name) const;
    const std::vector<std::pair<std::string, std::string>>& metadata() const { return meta_; }

private:
    File() = default;
    void parse();
    MappedFile map_;
    const uint8_t* base_ = nullptr;
    size_t size_ = 0;
    std::string label_;
    std::vector<Tensor> tensors_;
    std::unordered_map<std::string, size_t> index_;
    std::vector<std::pair<std::string, std::string>> meta_;
};

// Element-wise decode of a stored tensor to float32 (numel values): BF16/F16/F32/F64 exact
// (F64 rounded), F8_E4M3 with NaN codes 0x7f/0xff -> 0 (as ds4's converter), F8_E8M0 ->
// 2^(e-127), integers converted (I64/U64 rounded when beyond 2^24). BOOL/U8/I8 as numbers.
void decode_to_f32(const Tensor& t, float* out);

// A checkpoint: one .safetensors file, or a directory with model.safetensors.index.json
// (weight_map name -> shard), or a directory with a single model.safetensors.
class Checkpoint {
public:
    static std::unique_ptr<Checkpoint> open(const std::string& dir_or_file);

    const std::string& path() const { return path_; }
    const Tensor* find(std::string_view name) const;
    // Every stored tensor name, sorted.
    std::vector<std::string> names() const;

    // How a logical weight is stored.
    enum class Encoding {
        Plain,      // any numeric dtype, decoded element-wise
        Fp8Block,   // F8_E4M3 weight + `.scale` [ceil(out/128), ceil(in/128)] (E8M0 or F32)
        Fp4Packed,  // I8/U8 [out, in/2], two E2M1 codes per byte + `.scale` [out, in/32] (E8M0 or F32)
    };
    struct Logical {
        const Tensor* weight = nullptr;
        const Tensor* scale = nullptr;   // null for Plain
        Encoding enc = Encoding::Plain;
        std::vector<int64_t> shape;      // logical (dequantized) shape, PyTorch order
        uint64_t numel = 1;
    };
    // Resolves `name` (e.g. "layers.3.attn.wq_a.weight"); the scale companion is the same
    // name with the trailing ".weight" replaced by ".scale". Throws if absent or malformed.
    Logical logical(const std::string& name) const;
    bool has(const std::string& name) const { return find(name) != nullptr; }

    // Decodes a logical weight to float32, exactly (all source formats are exactly
    // representable in f32). `out` must hold numel floats.
    void load_f32(const Logical& l, float* out) const;
    std::vector<float> load_f32(const std::string& name, std::vector<int64_t>* shape = nullptr) const;
    // Integer tensor (I64/I32/U8/...) as int64 values.
    std::vector<int64_t> load_i64(const std::string& name, std::vector<int64_t>* shape = nullptr) const;

private:
    std::string path_;
    std::vector<std::unique_ptr<File>> files_;
    std::unordered_map<std::string, const Tensor*> by_name_;
};

}  // namespace ds4::safetensors
