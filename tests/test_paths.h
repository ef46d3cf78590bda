// Where tests find ../shared (official vectors, tokenizer, quant goldens) and built tools.
#pragma once
#include <cstdlib>
#include <string>
#include <sys/stat.h>

namespace ds4::test {

inline bool path_exists(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0;
}

// $DS4_SHARED, else ../shared relative to the current directory (tests run from the repo root).
inline std::string shared_dir() {
    if (const char* e = getenv("DS4_SHARED"); e && *e) return e;
    return "../shared";
}

inline bool allow_missing_vectors() {
    const char* e = getenv("DS4_ALLOW_MISSING_VECTORS");
    return e && std::string(e) == "1";
}

// A scratch directory for files written by tests (build/test-tmp), created on demand.
inline std::string tmp_dir() {
    std::string d = "build/test-tmp";
    mkdir("build", 0755);
    mkdir(d.c_str(), 0755);
    return d;
}

}  // namespace ds4::test
