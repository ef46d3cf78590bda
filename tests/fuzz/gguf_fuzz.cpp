// libFuzzer target for the GGUF reader: parse an arbitrary byte string and, when it is
// accepted, touch every accessor and the first and last byte of every tensor. libFuzzer
// hands us an exact-size heap buffer, so ASan flags any read past a bound the reader
// failed to check; UBSan flags overflowing arithmetic. Only ds4::Error may escape the
// reader. Build: `make gguf-fuzz`; run: see docs/FUZZING.md.
#include <cstddef>
#include <cstdint>

#include "gguf/gguf.h"
#include "util/error.h"

using namespace ds4::gguf;

namespace {

volatile size_t g_sink;  // keeps the reads below from being optimised away

template <class F>
void quietly(F fn) {
    try {
        fn();
    } catch (const ds4::Error&) {
        // wrong-type and missing-key errors are expected for random metadata
    }
}

void touch(const File& f) {
    size_t sink = f.version() + f.alignment() + f.data_offset() + f.file_size();
    for (const KV& kv : f.kvs()) {
        const std::string& k = kv.key;
        sink += describe_value(kv, 16, 64).size();
        sink += f.find(k) == &kv;
        quietly([&] { sink += f.get_u32(k); });
        quietly([&] { sink += f.get_u32_or(k, 1); });
        quietly([&] { sink += f.get_u64(k); });
        quietly([&] { sink += f.get_f32(k) > 0; });
        quietly([&] { sink += f.get_f32_or(k, 1.f) > 0; });
        quietly([&] { sink += f.get_bool(k); });
        quietly([&] { sink += f.get_bool_or(k, true); });
        quietly([&] { sink += f.get_string(k).size(); });
        quietly([&] { sink += f.get_string_or(k, "d").size(); });
        quietly([&] { sink += f.get_int_array(k).size(); });
        quietly([&] { sink += f.get_float_array(k).size(); });
        quietly([&] { sink += f.get_string_array(k).size(); });
    }
    quietly([&] { f.get_u32("deepseek4.block_count"); });
    for (const TensorInfo& t : f.tensors()) {
        sink += t.shape_str().size() + (size_t)t.nelements() + (f.tensor(t.name) == &t);
        sink += t.data[0] + t.data[t.nbytes - 1];  // nbytes > 0: every ne is positive
    }
    g_sink = sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        touch(*File::from_memory(data, size, "fuzz"));
    } catch (const ds4::Error&) {
        // rejected input: the expected outcome for most mutations
    }
    return 0;
}
