// Hostile GGUF files: one hand-made file per structural problem (each must give a clear
// one-line Error naming the problem), a deterministic mutation sweep over a valid file
// (only Error may come out), and replay of the fuzzer's seed corpus and regression crashers.
#include <gtest/gtest.h>

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>

#include "gguf/gguf.h"
#include "gguf/gguf_testing.h"
#include "util/error.h"

namespace ds4::gguf {
namespace {

using testing::Bytes;
using testing::RawGguf;
using testing::RawKV;

struct HostileCase {
    const char* name;
    std::function<std::vector<uint8_t>()> make;
    const char* expect;  // substring of the error message
};

// Starts from the small valid file, applies `edit`, builds.
std::function<std::vector<uint8_t>()> edited(std::function<void(RawGguf&)> edit) {
    return [edit] {
        RawGguf g = testing::small_valid();
        edit(g);
        return g.build();
    };
}
// A file whose only metadata entry is `kv` (no tensors).
std::function<std::vector<uint8_t>()> one_kv(RawKV kv) {
    return [kv] {
        RawGguf g;
        g.kvs.push_back(kv);
        return g.build();
    };
}
// The first `n` bytes of the small valid file.
std::function<std::vector<uint8_t>()> prefix(size_t n) {
    return [n] {
        std::vector<uint8_t> b = testing::small_valid().build();
        b.resize(n);
        return b;
    };
}

const uint32_t Q8 = (uint32_t)GgmlType::Q8_0, F32 = (uint32_t)GgmlType::F32;
using namespace testing;  // T_* value-type codes

std::vector<HostileCase> hostile_cases() {
    return {
        {"empty file", prefix(0), "not a GGUF file: only 0 bytes"},
        {"bad magic", edited([](RawGguf& g) { g.magic = 0x46554746; }), "bad magic 46 47 55 46"},
        {"version 1", edited([](RawGguf& g) { g.version = 1; }), "GGUF version 1 is not supported"},
        {"version 0", edited([](RawGguf& g) { g.version = 0; }), "unsupported GGUF version 0"},
        {"version 4", edited([](RawGguf& g) { g.version = 4; }), "unsupported GGUF version 4"},
        {"byte-swapped", edited([](RawGguf& g) { g.version = 0x03000000; }), "looks byte-swapped"},
        {"truncated header", prefix(12), "truncated file: n_tensors of header at offset 8 needs 8 bytes"},
        {"truncated inside a value",
         [] {
             RawGguf g;
             g.kvs.push_back({"k", T_U64, Bytes().u64(5).b});
             std::vector<uint8_t> b = g.build();
             b.resize(40);
             return b;
         },
         "truncated file: value of metadata key 'k' at offset 37 needs 8 bytes but the file ends at 40"},
        {"n_kv huge", edited([](RawGguf& g) { g.n_kv = (int64_t)1 << 62; }), "n_kv 4611686018427387904 is larger than"},
        {"n_kv one too many", edited([](RawGguf& g) { g.n_kv = (int64_t)g.kvs.size() + 1; }), "extends past end of file"},
        {"n_tensors huge", edited([](RawGguf& g) { g.n_tensors = INT64_MAX; }), "n_tensors 9223372036854775807 is larger"},
        {"key length past end", [] { return Bytes().u32(0x46554747).u32(3).u64(0).u64(1).u64(1ull << 40).u32(0).u8(0).u8(0).b; },
         "key of metadata entry 0: string length 1099511627776 at offset 24 extends past end of file (size 38)"},
        {"string value past end", one_kv({"s", T_STRING, Bytes().u64(1ull << 40).b}),
         "string value of metadata key 's': string length 1099511627776"},
        {"string length overflow", one_kv({"s", T_STRING, Bytes().u64(~0ull).b}), "extends past end of file"},
        {"array count past end", one_kv({"a", T_ARRAY, Bytes().u32(T_U32).u64(1ull << 40).b}),
         "metadata key 'a': array of 1099511627776 u32 elements"},
        {"array count overflows", one_kv({"a", T_ARRAY, Bytes().u32(T_U64).u64(~0ull >> 2).b}), "extends past end"},
        {"string array count past end", one_kv({"a", T_ARRAY, Bytes().u32(T_STRING).u64(1ull << 50).b}),
         "array of 1125899906842624 string elements"},
        {"string array element past end", one_kv({"a", T_ARRAY, Bytes().u32(T_STRING).u64(2).str("x").u64(999).b}),
         "array string of metadata key 'a': string length 999"},
        {"nested array", one_kv({"n", T_ARRAY, Bytes().u32(T_ARRAY).u64(1).u32(T_U8).u64(0).b}),
         "metadata key 'n' is a nested array"},
        {"unknown value type", one_kv({"k", 13, Bytes().u32(0).b}), "metadata key 'k' has unknown value type 13"},
        {"unknown array element type", one_kv({"k", T_ARRAY, Bytes().u32(77).u64(0).b}), "unknown array element type 77"},
        {"invalid bool", one_kv({"b", T_BOOL, {2}}), "metadata key 'b' has invalid bool value 2"},
        {"invalid bool in array", one_kv({"b", T_ARRAY, Bytes().u32(T_BOOL).u64(2).u8(1).u8(9).b}),
         "array element 1 has invalid bool value 9"},
        {"empty key", one_kv({"", T_U8, {1}}), "metadata entry 0 has an empty key"},
        {"duplicate key", edited([](RawGguf& g) { g.kvs.push_back(kv_u32("deepseek4.block_count", 3)); }),
         "duplicate metadata key 'deepseek4.block_count'"},
        {"alignment wrong type", edited([](RawGguf& g) { g.kvs[1] = {"general.alignment", T_I32, Bytes().u32(32).b}; }),
         "metadata key 'general.alignment' has type i32, expected u32"},
        {"alignment zero", edited([](RawGguf& g) { g.kvs[1] = kv_u32("general.alignment", 0); }),
         "general.alignment 0 must be a non-zero power of two"},
        {"alignment not power of two", edited([](RawGguf& g) { g.kvs[1] = kv_u32("general.alignment", 48); }),
         "general.alignment 48 must be a non-zero power of two"},
        {"n_dims 0", edited([](RawGguf& g) { g.tensors[1].ne = {}; }), "tensor 'output_norm.weight' has 0 dimensions"},
        {"n_dims 5", edited([](RawGguf& g) { g.tensors[1].ne = {5, 1, 1, 1, 1}; }), "has 5 dimensions (must be 1..4)"},
        {"ne zero", edited([](RawGguf& g) { g.tensors[1].ne = {5, 0}; }),
         "tensor 'output_norm.weight' dimension 1 is 0 (must be > 0)"},
        {"ne negative", edited([](RawGguf& g) { g.tensors[1].ne = {-5}; }), "dimension 0 is -5"},
        {"element count overflow", edited([](RawGguf& g) { g.tensors[1].ne = {1ll << 32, 1ll << 32}; }),
         "tensor 'output_norm.weight' shape [4294967296, 4294967296] overflows"},
        {"byte size overflow", edited([](RawGguf& g) { g.tensors[1].ne = {1ll << 62}; }), "overflows"},
        {"unknown tensor type", edited([](RawGguf& g) { g.tensors[0].type = 5; }),
         "tensor 'token_embd.weight' has unknown type code 5"},
        {"type code beyond table", edited([](RawGguf& g) { g.tensors[0].type = 0xFFFFFFFF; }),
         "unknown type code 4294967295"},
        {"ne0 not multiple of block", edited([](RawGguf& g) { g.tensors[0].ne = {48, 3}; }),
         "tensor 'token_embd.weight' (q8_0) ne[0]=48 is not a multiple of the block size 32"},
        {"empty tensor name", edited([](RawGguf& g) { g.tensors[2].name = ""; }), "tensor 2 has an empty name"},
        {"name of 64 bytes", edited([](RawGguf& g) { g.tensors[2].name = std::string(64, 'w'); }),
         "is 64 bytes (the limit is 63)"},
        {"duplicate tensor name", edited([](RawGguf& g) { g.tensors[2].name = "output_norm.weight"; }),
         "duplicate tensor name 'output_norm.weight'"},
        {"misaligned offset", edited([](RawGguf& g) { g.tensors[2].offset += 4; }),
         "tensor 'blk.0.ffn_down.weight' offset 260 is not a multiple of the alignment 32"},
        {"data past end of file", edited([](RawGguf& g) { g.data_bytes = 300; }),
         "tensor 'blk.0.ffn_down.weight' data [offset 256, 288 bytes] extends past end of file"},
        {"offset far past end", edited([](RawGguf& g) { 
             g.tensors[1].offset = ~0ull << 5;
             g.data_bytes = 1024;
         }),
         "tensor 'output_norm.weight' data [offset 18446744073709551584, 20 bytes] extends past end of file"},
        {"overlapping tensors", edited([](RawGguf& g) { g.tensors[1].offset = 64; }),
         "tensors 'token_embd.weight' [offset 0, 204 bytes] and 'output_norm.weight' [offset 64] overlap"},
        {"same offset", edited([](RawGguf& g) { g.tensors[2].offset = 0; }), "overlap"},
        {"tensor info truncated", edited([](RawGguf& g) { g.n_tensors = 4; }), "tensor 3"},
        {"control bytes in key stay on one line", one_kv({"a\nb", T_BOOL, {7}}), "metadata key 'a\\x0ab'"},
    };
}

TEST(GgufHostile, EachProblemGivesItsOwnOneLineError) {
    for (const HostileCase& c : hostile_cases()) {
        SCOPED_TRACE(c.name);
        std::vector<uint8_t> img = c.make();
        try {
            File::from_memory(img.data(), img.size(), "model.gguf");
            ADD_FAILURE() << "accepted";
        } catch (const Error& e) {
            std::string m = e.what();
            EXPECT_EQ(m.rfind("model.gguf: ", 0), 0u) << m;
            EXPECT_NE(m.find(c.expect), std::string::npos) << m << "\n  expected: " << c.expect;
            EXPECT_EQ(m.find('\n'), std::string::npos) << m;
        }
    }
}

TEST(GgufHostile, SmallValidFileIsAccepted) {
    std::vector<uint8_t> img = testing::small_valid().build();
    auto f = File::from_memory(img.data(), img.size(), "model.gguf");
    EXPECT_EQ(f->tensors().size(), 3u);
    EXPECT_EQ(f->get_string_array("tokenizer.ggml.tokens").size(), 3u);
}

// Parses and, when that succeeds, touches every value and every tensor byte: a bad bound
// that slipped through would read outside `img` (visible under ASan, and as garbage here).
void parse_and_touch(const std::vector<uint8_t>& img) {
    // An exact-size heap copy so that sanitizers see one-past-the-end reads.
    std::unique_ptr<uint8_t[]> copy(new uint8_t[std::max<size_t>(img.size(), 1)]);
    if (!img.empty()) memcpy(copy.get(), img.data(), img.size());
    try {
        auto f = File::from_memory(copy.get(), img.size(), "m");
        size_t sink = 0;
        for (const KV& kv : f->kvs()) sink += describe_value(kv, 1000).size();
        for (const TensorInfo& t : f->tensors())
            if (t.nbytes) sink += t.data[0] + t.data[t.nbytes - 1];
        (void)sink;
    } catch (const Error&) {
    }
}

TEST(GgufHostile, MutationSweepOnlyThrowsError) {
    // Mostly header/directory positions: that is where the parsing logic is.
    const std::vector<uint8_t> base = testing::fuzz_seeds()[2].second;  // every value type
    const std::vector<uint8_t> tens = testing::small_valid().build();
    std::mt19937_64 rng(20240611);
    const uint64_t interesting[] = {0, 1, 0x7f, 0x80, 0xff, 0xffff, 0xffffffffull, 1ull << 31, 1ull << 32,
                                    1ull << 62, 1ull << 63, ~0ull, ~0ull - 7, 63, 64, 4096};
    int accepted = 0, rejected = 0;
    for (int iter = 0; iter < 6000; iter++) {
        std::vector<uint8_t> img = (iter & 1) ? base : tens;
        size_t n = img.size();
        size_t pos = rng() % n;
        switch (rng() % 4) {
            case 0: img[pos] ^= (uint8_t)(1u << (rng() % 8)); break;
            case 1: img[pos] = (uint8_t)rng(); break;
            case 2: img.resize(pos); break;
            case 3: {
                uint64_t v = interesting[rng() % std::size(interesting)];
                size_t w = (size_t)1 << (rng() % 4);  // 1, 2, 4 or 8 bytes
                for (size_t k = 0; k < w && pos + k < n; k++) img[pos + k] = (uint8_t)(v >> (8 * k));
                break;
            }
        }
        try {
            std::unique_ptr<File> f = File::from_memory(img.data(), img.size(), "m");
            accepted++;
        } catch (const Error&) {
            rejected++;
        }
        parse_and_touch(img);
    }
    EXPECT_GT(rejected, 1000);  // the sweep really exercises the error paths
    EXPECT_GT(accepted, 100);   // ...and the happy path
}

std::vector<std::string> files_in(const std::string& dir) {
    std::vector<std::string> out;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d))
            if (e->d_name[0] != '.' && std::string(e->d_name) != "README.md") out.push_back(dir + "/" + e->d_name);
        closedir(d);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<uint8_t> slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

// Inputs that once crashed, hung or leaked in the fuzzer; each must now parse or throw Error.
TEST(GgufHostile, FuzzRegressionsReplay) {
    for (const std::string& p : files_in("tests/fuzz/regressions")) {
        SCOPED_TRACE(p);
        parse_and_touch(slurp(p));
    }
}

// The committed seed corpus is what fuzz_seeds() generates and every seed is valid.
// DS4_WRITE_FUZZ_CORPUS=1 (re)writes it: tests/fuzz/corpus/seed-<name>.
TEST(GgufHostile, SeedCorpusIsCurrent) {
    const bool write = getenv("DS4_WRITE_FUZZ_CORPUS") && std::string(getenv("DS4_WRITE_FUZZ_CORPUS")) == "1";
    for (const auto& [name, img] : testing::fuzz_seeds()) {
        SCOPED_TRACE(name);
        EXPECT_NO_THROW(File::from_memory(img.data(), img.size(), name));
        std::string path = "tests/fuzz/corpus/seed-" + name;
        if (write) std::ofstream(path, std::ios::binary).write((const char*)img.data(), (std::streamsize)img.size());
        EXPECT_EQ(slurp(path), img) << "stale seed; regenerate with DS4_WRITE_FUZZ_CORPUS=1";
    }
}

}  // namespace
}  // namespace ds4::gguf
