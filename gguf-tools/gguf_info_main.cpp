// gguf-info FILE: lists a GGUF file's header, metadata and tensor table. It goes through
// the same validating reader as the engine, so "gguf-info exits 0" means ds4 can at least
// parse the container.
#include <cstdio>
#include <cstring>
#include <map>

#include "gguf/gguf.h"
#include "gguf/gguf_internal.h"
#include "util/error.h"

namespace {

void usage(FILE* f) {
    fprintf(f,
            "usage: gguf-info FILE\n"
            "Validates a GGUF file and prints its version, alignment, data offset, every metadata\n"
            "key (type and value; arrays summarised) and the tensor table (name, type, shape,\n"
            "offset relative to the data section, bytes) with totals.\n"
            "Exit status: 0 for a valid file, 1 with a one-line error otherwise.\n");
}

std::string human_bytes(uint64_t n) {
    const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) v /= 1024, u++;
    return u ? ds4::strfmt("%.2f %s", v, unit[u]) : ds4::strfmt("%llu B", (unsigned long long)n);
}

void print_file(const ds4::gguf::File& f) {
    using namespace ds4::gguf;
    printf("file:        %s (%zu bytes)\n", f.path().c_str(), f.file_size());
    printf("version:     %u\n", f.version());
    printf("alignment:   %u\n", f.alignment());
    printf("data offset: %llu\n", (unsigned long long)f.data_offset());
    printf("\nmetadata (%zu keys):\n", f.kvs().size());
    // Keys and names come from the file: printable() keeps each on one line.
    for (const KV& kv : f.kvs()) printf("  %s: %s\n", printable(kv.key).c_str(), describe_value(kv).c_str());

    const auto& ts = f.tensors();
    size_t wname = 4, wtype = 4, wshape = 5;
    for (const TensorInfo& t : ts) {
        wname = std::max(wname, t.name.size());
        wtype = std::max(wtype, strlen(ds4::type_name((uint32_t)t.type)));
        wshape = std::max(wshape, t.shape_str().size());
    }
    printf("\ntensors (%zu):\n", ts.size());
    printf("  %-*s  %-*s  %-*s  %14s  %14s\n", (int)wname, "name", (int)wtype, "type", (int)wshape, "shape", "offset",
           "bytes");
    uint64_t total_bytes = 0, total_elems = 0;
    std::map<std::string, std::pair<size_t, uint64_t>> by_type;  // type -> (count, bytes)
    for (const TensorInfo& t : ts) {
        const char* tn = ds4::type_name((uint32_t)t.type);
        printf("  %-*s  %-*s  %-*s  %14llu  %14llu\n", (int)wname, printable(t.name).c_str(), (int)wtype, tn, (int)wshape,
               t.shape_str().c_str(), (unsigned long long)t.offset, (unsigned long long)t.nbytes);
        total_bytes += t.nbytes;
        total_elems += (uint64_t)t.nelements();
        by_type[tn].first++;
        by_type[tn].second += t.nbytes;
    }
    printf("\ntotal: %zu tensors, %llu elements, %llu bytes (%s)\n", ts.size(), (unsigned long long)total_elems,
           (unsigned long long)total_bytes, human_bytes(total_bytes).c_str());
    for (const auto& [type, cb] : by_type)
        printf("  %-8s %6zu tensors  %s\n", type.c_str(), cb.first, human_bytes(cb.second).c_str());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "gguf-info: expected exactly one FILE argument (see --help)\n");
        return 2;
    }
    try {
        print_file(*ds4::gguf::File::open(argv[1]));
    } catch (const ds4::Error& e) {
        fflush(stdout);
        fprintf(stderr, "gguf-info: %s\n", e.what());
        return 1;
    }
    return 0;
}
