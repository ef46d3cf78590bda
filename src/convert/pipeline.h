// The GGUF-writing pipeline shared by deepseek4-quantize and make-synthetic: a weight source
// fills float32 matrices in GGUF order, the pipeline quantizes them (threaded, per expert for
// 3-D stacks, with optional importance vectors) and streams a ds4-layout GGUF to FILE.tmp,
// then renames it into place.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "convert/plan.h"

namespace ds4::gguf { class File; class Writer; }

namespace ds4::convert {

class WeightSource {
public:
    virtual ~WeightSource() = default;
    // Fills one matrix of t in GGUF order: rows * ne[0] floats (for stacked experts, one
    // expert: ne[1] rows; otherwise the whole tensor). Called concurrently from several threads.
    virtual void fill(const PlannedTensor& t, int64_t expert, float* out) const = 0;
    // Optional shortcut: writes one matrix (same extent as fill) directly in t.type's bytes and
    // returns true, or returns false to have the pipeline quantize fill()'s floats.
    virtual bool fill_quantized(const PlannedTensor& t, int64_t expert, uint8_t* dst) const { return false; }
    // tid2eid: ne[1] rows of ne[0] expert ids.
    virtual void fill_i32(const PlannedTensor& t, int32_t* out) const = 0;
    // Throws if the tensor is missing or its shape / dtype is wrong (called for every tensor
    // before anything is written).
    virtual void check(const PlannedTensor& t) const {}
    // A short description of where the data comes from (for --dry-run).
    virtual std::string describe(const PlannedTensor& t) const = 0;
};

// Legacy llama.cpp imatrix (.dat): i32 n_entries; per entry i32 name_len, name, i32 ncall,
// i32 nval, f32[nval]; then optionally i32 chunks, i32 dataset_len, dataset. Values are
// divided by ncall on load.
class Imatrix {
public:
    static Imatrix load(const std::string& path);
    // Importance vector of ncols values for t (expert e for stacks), or nullptr. Tries
    // NAME.expert.E, NAME.expert_E, NAME (sliced per expert when it holds ncols*n_expert),
    // then the HF names. Throws when a matching entry has an unusable length.
    const float* find(const PlannedTensor& t, int64_t expert) const;
    size_t size() const { return entries_.size(); }
    const std::string& path() const { return path_; }
    const std::string& dataset() const { return dataset_; }
    int32_t chunks() const { return chunks_; }

private:
    const float* lookup(const std::string& name, int64_t ncols, int64_t expert, int64_t n_expert) const;
    std::string path_;
    std::map<std::string, std::vector<float>> entries_;
    std::string dataset_;
    int32_t chunks_ = 0;
};

struct WriteOptions {
    std::string tool = "deepseek4-quantize";  // prefix of progress / note lines
    int threads = 1;
    bool progress = true;
    bool overwrite = false;
    const Imatrix* imatrix = nullptr;
};

// Prints the plan (every tensor: name, source, class, type, dims, size, fallback notes) and
// the total output size to `out`.
void print_plan(FILE* out, const std::vector<PlannedTensor>& plan, const WeightSource* src, uint64_t meta_bytes);

// Writes the tokenizer arrays of an HF tokenizer.json (+ tokenizer_config.json, may be ""),
// padded to n_vocab tokens; n_vocab 0 = the tokenizer's own size. Returns the token count.
int64_t write_hf_tokenizer(gguf::Writer& w, const std::string& tokenizer_json, const std::string& tokenizer_config,
                           int64_t n_vocab);
// Built-in small byte-level vocab: the 7 ds4 specials (ids 0..6), the 256 byte tokens, then
// "[PAD<id>]" fillers up to n_vocab (n_vocab >= 263).
void write_builtin_tokenizer(gguf::Writer& w, int64_t n_vocab);
// Copies every KV of an existing GGUF except general.alignment and quantize.imatrix.*.
void copy_template_metadata(gguf::Writer& w, const gguf::File& tmpl);
// Adds the quantize.imatrix.* keys.
void write_imatrix_metadata(gguf::Writer& w, const Imatrix& im);

// Declares the planned tensors in `w` (whose metadata is already set), quantizes and writes
// everything to out_path (via out_path + ".tmp", renamed at the end). Refuses to replace an
// existing file unless opt.overwrite. An empty plan writes a metadata-only file.
void write_gguf(gguf::Writer& w, const std::string& out_path, const std::vector<PlannedTensor>& plan,
                const WeightSource& src, const WriteOptions& opt);

// Human-readable byte count ("1.23 GiB").
std::string human_bytes(double b);

}  // namespace ds4::convert
