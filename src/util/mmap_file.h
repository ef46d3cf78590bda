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

private:
    void release();
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    std::string path_;
};

// Whole-file read into memory (small files: JSON, configs).
std::string read_text_file(const std::string& path);

}  // namespace ds4
