// Read-only memory map of a whole file. Weights are never copied: tensors point into it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ds4 {

class MappedFile {
public:
    MappedFile() = default;
    explicit MappedFile(const std::string& path);  // throws Error with the path and reason
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    MappedFile(MappedFile&& o) noexcept;
    MappedFile& operator=(MappedFile&& o) noexcept;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }
    // Bytes [p, p + n) of the mapping are read sparsely (a few rows of a table per token):
    // small pages there, so a page-cache miss reads a readahead window, not a 2 MiB folio.
    // The whole 2 MiB pages inside the range only (the edges stay with their neighbours).
    void advise_sparse(const uint8_t* p, size_t n) const;

private:
    void release();
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    std::string path_;
};

// Whole-file read into memory (small files: JSON, configs).
std::string read_text_file(const std::string& path);

}  // namespace ds4
