#include "util/mmap_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace ds4 {

MappedFile::MappedFile(const std::string& path) : path_(path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("cannot open %s: %s", path.c_str(), strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        fail("cannot stat %s: %s", path.c_str(), strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        fail("%s is not a regular file", path.c_str());
    }
    size_ = (size_t)st.st_size;
    if (size_ > 0) {
        // At a 2 MiB-aligned address (file offset 0 on a huge-page boundary) and with
        // MADV_HUGEPAGE, the kernel can map the page cache's 2 MiB folios with one PMD entry
        // each: decode streams ~1.5 GB per token, and 4 KiB mappings cost a TLB miss (a nested
        // page walk in a VM) every 4 KiB. Only an address hint (recent kernels align large file
        // mappings themselves): any failure keeps 4 KiB pages. DS4_NO_HUGEPAGES=1: no advice.
        constexpr size_t kHuge = size_t(2) << 20;
        void* want = nullptr;
        void* res = mmap(nullptr, size_ + kHuge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (res != MAP_FAILED) {
            want = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(res) + kHuge - 1) & ~uintptr_t(kHuge - 1));
            munmap(res, size_ + kHuge);  // the aligned range is free for the next mmap's hint
        }
        void* p = mmap(want, size_, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            fail("cannot mmap %s: %s", path.c_str(), strerror(e));
        }
        if (!getenv("DS4_NO_HUGEPAGES")) madvise(p, size_, MADV_HUGEPAGE);
        data_ = static_cast<const uint8_t*>(p);
    }
    close(fd);
}

MappedFile::~MappedFile() { release(); }

void MappedFile::advise_sparse(const uint8_t* p, size_t n) const {
    constexpr uintptr_t kHuge = uintptr_t(2) << 20;
    if (!data_ || p < data_ || n > size_ || size_t(p - data_) > size_ - n) return;
    const uintptr_t b = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
    const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n) & ~(kHuge - 1);
    if (b < e) madvise(reinterpret_cast<void*>(b), e - b, MADV_NOHUGEPAGE);
}

void MappedFile::release() {
    if (data_) munmap(const_cast<uint8_t*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
}

MappedFile::MappedFile(MappedFile&& o) noexcept : data_(o.data_), size_(o.size_), path_(std::move(o.path_)) {
    o.data_ = nullptr;
    o.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
    if (this != &o) {
        release();
        data_ = o.data_;
        size_ = o.size_;
        path_ = std::move(o.path_);
        o.data_ = nullptr;
        o.size_ = 0;
    }
    return *this;
}

std::string read_text_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("cannot open %s: %s", path.c_str(), strerror(errno));
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace ds4
