#include "util/mmap_file.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "tests/test_paths.h"

namespace ds4 {
namespace {

// VmFlags of the mapping that starts at p (/proc/self/smaps), "" if none.
std::string vm_flags(const void* p) {
    std::ifstream f("/proc/self/smaps");
    std::string line;
    bool in = false;
    char want[32];
    std::snprintf(want, sizeof want, "%lx-", static_cast<unsigned long>(reinterpret_cast<uintptr_t>(p)));
    while (std::getline(f, line)) {
        if (line.rfind(want, 0) == 0) in = true;
        if (in && line.rfind("VmFlags:", 0) == 0) return line;
    }
    return "";
}

// The mapping starts on a 2 MiB boundary and asks for huge pages (so the page cache's 2 MiB
// folios are mapped whole), and reads the file's bytes. DS4_NO_HUGEPAGES turns the advice off.
TEST(MappedFile, MapsOnAHugePageBoundaryAndReadsTheBytes) {
    const std::string p = test::tmp_dir() + "/mmap-test.bin";
    std::vector<uint8_t> bytes((size_t(6) << 20) + 12345);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(i * 2654435761u >> 13);
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    for (int k = 0; k < 3; ++k) {  // (each mapping, not just a lucky first one)
        MappedFile m(p);
        ASSERT_EQ(m.size(), bytes.size());
        EXPECT_EQ(reinterpret_cast<uintptr_t>(m.data()) % (uintptr_t(2) << 20), 0u);
        EXPECT_EQ(0, std::memcmp(m.data(), bytes.data(), bytes.size()));
        EXPECT_NE(vm_flags(m.data()).find(" hg"), std::string::npos) << vm_flags(m.data());
    }
    setenv("DS4_NO_HUGEPAGES", "1", 1);
    {
        MappedFile m(p);
        EXPECT_EQ(vm_flags(m.data()).find(" hg"), std::string::npos) << vm_flags(m.data());
    }
    unsetenv("DS4_NO_HUGEPAGES");
    {
        // A sparse range: its whole 2 MiB pages ([2, 4) MiB of [1, 5) MiB + 7) lose the advice,
        // the rest keeps it; out-of-range requests are ignored.
        MappedFile m(p);
        m.advise_sparse(m.data() + (size_t(1) << 20), (size_t(4) << 20) + 7);
        m.advise_sparse(m.data() + m.size() - 10, 20);
        EXPECT_NE(vm_flags(m.data()).find(" hg"), std::string::npos) << vm_flags(m.data());
        const std::string mid = vm_flags(m.data() + (size_t(2) << 20));
        EXPECT_NE(mid.find(" nh"), std::string::npos) << mid;
        EXPECT_NE(vm_flags(m.data() + (size_t(4) << 20)).find(" hg"), std::string::npos);
    }
}

}  // namespace
}  // namespace ds4
