// GGUF writer -> reader round trips, typed accessors, and the writer's own checks.
#include "gguf/gguf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "gguf/gguf_testing.h"
#include "tests/test_paths.h"
#include "util/error.h"

namespace ds4::gguf {
namespace {

std::vector<uint8_t> slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

std::string tmp_path(const std::string& name) { return test::tmp_dir() + "/" + name; }

// Expects fn() to throw ds4::Error whose message contains `needle`.
template <class F>
void expect_error(F fn, const std::string& needle) {
    try {
        fn();
        ADD_FAILURE() << "no error; expected one mentioning: " << needle;
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what() << "\n  expected: " << needle;
    }
}

struct TensorSpec {
    const char* name;
    GgmlType type;
    std::vector<int64_t> ne;
};

const std::vector<TensorSpec> kTensors = {
    {"token_embd.weight", GgmlType::F16, {4, 3}},
    {"output_norm.weight", GgmlType::F32, {3}},
    {"blk.0.attn_q_a.weight", GgmlType::Q8_0, {64, 2}},
    {"blk.0.ffn_down_exps.weight", GgmlType::Q4_K, {256, 1, 2}},
    {"blk.0.ffn_gate_exps.weight", GgmlType::IQ2_XXS, {256, 2, 1, 1}},
    {"blk.0.ffn_up_exps.weight", GgmlType::Q2_K, {512, 1}},
    {"blk.0.exp_probs_b.bias", GgmlType::I32, {5}},
    {"bf", GgmlType::BF16, {7, 3}},
};

uint8_t pattern(size_t tensor, size_t i) { return (uint8_t)(tensor * 31 + i * 7 + 1); }

// Writes every value type and kTensors (data in a few uneven pieces) to `path`.
void write_full(const std::string& path, uint32_t alignment) {
    Writer w;
    w.set_u8("t.u8", 200);
    w.set_i8("t.i8", -100);
    w.set_u16("t.u16", 65535);
    w.set_i16("t.i16", -32768);
    w.set_u32("t.u32", 4000000000u);
    w.set_i32("t.i32", -123456);
    w.set_u64("t.u64", 1ull << 60);
    w.set_i64("t.i64", -(1ll << 60));
    w.set_f32("t.f32", 0.25f);
    w.set_f64("t.f64", 1e-300);
    w.set_bool("t.bool", true);
    w.set_string("t.string", "DeepSeek V4 ｜DSML｜");
    w.set_string("t.empty", "");
    w.set_array_u32("t.arr_u32", {1, 2, 4000000000u});
    w.set_array_i32("t.arr_i32", {-1, 0, 1});
    w.set_array_f32("t.arr_f32", {1.5f, -2.f});
    w.set_array_string("t.arr_string", {"<｜begin▁of▁sentence｜>", "", "b"});
    const uint8_t bools[] = {1, 0, 1};
    w.set_array("t.arr_bool", ValueType::BOOL, bools, 3);
    const int64_t i64s[] = {-5, 1ll << 50};
    w.set_array("t.arr_i64", ValueType::I64, i64s, 2);
    const uint16_t u16s[] = {7, 65535};
    w.set_array("t.arr_u16", ValueType::U16, u16s, 2);
    const double f64s[] = {0.1};
    w.set_array("t.arr_f64", ValueType::F64, f64s, 1);
    w.set_array("t.arr_empty", ValueType::I8, nullptr, 0);
    if (alignment != 32) w.set_alignment(alignment);
    for (const TensorSpec& t : kTensors) w.add_tensor(t.name, t.type, t.ne);
    w.begin(path);
    for (size_t k = 0; k < kTensors.size(); k++) {
        std::vector<uint8_t> d(w.tensor_nbytes(k));
        for (size_t i = 0; i < d.size(); i++) d[i] = pattern(k, i);
        size_t half = d.size() / 3;
        w.write_tensor_data(d.data(), half);
        w.write_tensor_data(d.data() + half, d.size() - half);
    }
    w.finish();
}

class GgufRoundTrip : public ::testing::TestWithParam<uint32_t> {};

TEST_P(GgufRoundTrip, EveryValueTypeAndTensorLayout) {
    const uint32_t align = GetParam();
    std::string path = tmp_path("roundtrip_" + std::to_string(align) + ".gguf");
    write_full(path, align);
    auto f = File::open(path);
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->alignment(), align);
    EXPECT_EQ(f->data_offset() % align, 0u);

    EXPECT_EQ(f->find("t.u8")->u, 200u);
    EXPECT_EQ(f->find("t.i8")->i, -100);
    EXPECT_EQ(f->find("t.u16")->u, 65535u);
    EXPECT_EQ(f->find("t.i16")->i, -32768);
    EXPECT_EQ(f->get_u32("t.u32"), 4000000000u);
    EXPECT_EQ(f->find("t.i32")->i, -123456);
    EXPECT_EQ(f->get_u64("t.u64"), 1ull << 60);
    EXPECT_EQ(f->find("t.i64")->i, -(1ll << 60));
    EXPECT_EQ(f->get_f32("t.f32"), 0.25f);
    EXPECT_EQ(f->find("t.f64")->f, 1e-300);
    EXPECT_TRUE(f->get_bool("t.bool"));
    EXPECT_EQ(f->get_string("t.string"), "DeepSeek V4 ｜DSML｜");
    EXPECT_EQ(f->get_string("t.empty"), "");
    EXPECT_EQ(f->get_int_array("t.arr_u32"), (std::vector<int64_t>{1, 2, 4000000000ll}));
    EXPECT_EQ(f->get_int_array("t.arr_i32"), (std::vector<int64_t>{-1, 0, 1}));
    EXPECT_EQ(f->get_float_array("t.arr_f32"), (std::vector<double>{1.5, -2.0}));
    EXPECT_EQ(f->get_string_array("t.arr_string"),
              (std::vector<std::string>{"<｜begin▁of▁sentence｜>", "", "b"}));
    EXPECT_EQ(f->find("t.arr_bool")->arr_type, ValueType::BOOL);
    EXPECT_EQ(f->find("t.arr_bool")->arr_n, 3u);
    EXPECT_EQ(f->get_int_array("t.arr_i64"), (std::vector<int64_t>{-5, 1ll << 50}));
    EXPECT_EQ(f->get_int_array("t.arr_u16"), (std::vector<int64_t>{7, 65535}));
    EXPECT_EQ(f->get_float_array("t.arr_f64"), (std::vector<double>{0.1}));
    EXPECT_TRUE(f->get_int_array("t.arr_empty").empty());
    // Keys keep insertion order (general.alignment, when set, is last before tensors).
    EXPECT_EQ(f->kvs().front().key, "t.u8");

    const std::vector<uint8_t> bytes = slurp(path);
    ASSERT_EQ(bytes.size(), f->file_size());
    ASSERT_EQ(f->tensors().size(), kTensors.size());
    uint64_t expect_off = 0;
    for (size_t k = 0; k < kTensors.size(); k++) {
        const TensorInfo& t = f->tensors()[k];
        SCOPED_TRACE(t.name);
        EXPECT_EQ(t.name, kTensors[k].name);
        EXPECT_EQ(t.type, kTensors[k].type);
        EXPECT_EQ(t.n_dims, (int)kTensors[k].ne.size());
        EXPECT_EQ(t.nbytes, testing::tensor_bytes((uint32_t)t.type, kTensors[k].ne));
        EXPECT_EQ(t.offset, expect_off);  // sequential, in info order, as ggml requires
        EXPECT_EQ(t.offset % align, 0u);
        EXPECT_EQ(f->tensor(t.name), &t);
        for (size_t i = 0; i < t.nbytes; i++) ASSERT_EQ(t.data[i], pattern(k, i)) << "byte " << i;
        uint64_t end = t.offset + t.nbytes;
        expect_off = (end + align - 1) / align * align;
        for (uint64_t p = end; p < expect_off; p++) ASSERT_EQ(bytes[f->data_offset() + p], 0) << "padding " << p;
    }
    EXPECT_EQ(f->file_size(), f->data_offset() + expect_off);  // the last tensor is padded too
    EXPECT_EQ(f->tensors()[3].shape_str(), "[256, 1, 2]");
    EXPECT_EQ(f->tensor("nope"), nullptr);
}

INSTANTIATE_TEST_SUITE_P(GgufAlign, GgufRoundTrip, ::testing::Values(32u, 64u, 1u, 4096u));

// The Writer and the independent test serialiser must agree byte for byte, header
// padding included.
TEST(GgufWriter, MatchesIndependentSerialiser) {
    testing::RawGguf g = testing::small_valid();
    g.data_fill = 0;
    Writer w;
    for (const testing::RawKV& kv : g.kvs) {
        if (kv.type == testing::T_STRING) w.set_string(kv.key, std::string(kv.value.begin() + 8, kv.value.end()));
        if (kv.type == testing::T_U32) w.set_u32(kv.key, testing::load_u32(kv.value.data()));
    }
    w.set_array_string("tokenizer.ggml.tokens", {"a", "bc", "<｜begin▁of▁sentence｜>"});
    for (const testing::RawTensor& t : g.tensors) w.add_tensor(t.name, (GgmlType)t.type, t.ne);
    std::string path = tmp_path("writer_vs_raw.gguf");
    w.begin(path);
    for (size_t k = 0; k < g.tensors.size(); k++) {
        std::vector<uint8_t> zeros(w.tensor_nbytes(k));
        w.write_tensor_data(zeros.data(), zeros.size());
    }
    w.finish();
    EXPECT_EQ(slurp(path), g.build());
}

TEST(GgufWriter, CopyKvReproducesEveryKey) {
    std::string a = tmp_path("copy_src.gguf"), b = tmp_path("copy_dst.gguf");
    write_full(a, 32);
    auto src = File::open(a);
    Writer w;
    for (const KV& kv : src->kvs()) w.copy_kv(kv);
    w.begin(b);
    w.finish();
    auto dst = File::open(b);
    ASSERT_EQ(dst->kvs().size(), src->kvs().size());
    for (size_t i = 0; i < src->kvs().size(); i++) {
        EXPECT_EQ(dst->kvs()[i].key, src->kvs()[i].key);
        EXPECT_EQ(describe_value(dst->kvs()[i], 100), describe_value(src->kvs()[i], 100));
    }
    EXPECT_TRUE(dst->tensors().empty());
}

TEST(GgufWriter, SetReplacesRemoveDeletes) {
    Writer w;
    w.set_u32("a", 1);
    w.set_string("b", "x");
    w.set_u32("a", 2);
    EXPECT_TRUE(w.has("a"));
    w.remove("b");
    EXPECT_FALSE(w.has("b"));
    std::string path = tmp_path("replace.gguf");
    w.begin(path);
    w.finish();
    auto f = File::open(path);
    ASSERT_EQ(f->kvs().size(), 1u);
    EXPECT_EQ(f->get_u32("a"), 2u);
}

TEST(GgufWriter, RejectsWhatTheReaderWouldReject) {
    Writer w;
    expect_error([&] { w.set_alignment(48); }, "power of two");
    expect_error([&] { w.set_u32("", 1); }, "empty metadata key");
    expect_error([&] { w.add_tensor(std::string(64, 'n'), GgmlType::F32, {1}); }, "1..63 bytes");
    expect_error([&] { w.add_tensor("q", GgmlType::Q8_0, {33}); }, "not a multiple of the block size 32");
    expect_error([&] { w.add_tensor("u", (GgmlType)99, {1}); }, "unknown type code 99");
    expect_error([&] { w.add_tensor("z", GgmlType::F32, {4, 0}); }, "dimension 1 is 0");
    expect_error([&] { w.add_tensor("d", GgmlType::F32, {1, 1, 1, 1, 1}); }, "5 dimensions");
    expect_error([&] { w.add_tensor("big", GgmlType::F32, {1ll << 40, 1ll << 40}); }, "too large");
    const uint8_t bad_bool = 2;
    expect_error([&] { w.set_array("b", ValueType::BOOL, &bad_bool, 1); }, "bool element 0 is 2");
    expect_error([&] { w.set_array("s", ValueType::STRING, nullptr, 0); }, "fixed-size element type");
    w.add_tensor("t", GgmlType::F32, {4});
    expect_error([&] { w.add_tensor("t", GgmlType::F32, {4}); }, "duplicate tensor name 't'");
    expect_error([&] { w.tensor_nbytes(5); }, "out of range");
}

TEST(GgufWriter, ChecksTheAmountOfTensorData) {
    std::string path = tmp_path("amount.gguf");
    {
        Writer w;
        w.add_tensor("t", GgmlType::F32, {4});
        w.begin(path);
        float x[4] = {};
        w.write_tensor_data(x, 8);
        expect_error([&] { w.finish(); }, "tensor 't' got 8 of 16 bytes");
    }
    {
        Writer w;
        w.add_tensor("t", GgmlType::F32, {2});
        w.begin(path);
        float x[4] = {};
        expect_error([&] { w.write_tensor_data(x, 16); }, "beyond the 1 declared tensors");
        expect_error([&] { w.set_u32("late", 1); }, "after begin()");
    }
    Writer w;
    expect_error([&] { w.begin("/nonexistent-dir/x.gguf"); }, "cannot create");
}

TEST(GgufWriter, AlignmentKeyFromCopyOrSetU32IsHonoured) {
    Writer w;
    w.set_u32("general.alignment", 128);
    w.add_tensor("a", GgmlType::F32, {3});
    w.add_tensor("b", GgmlType::F32, {3});
    std::string path = tmp_path("align128.gguf");
    w.begin(path);
    std::vector<float> d(6, 1.f);
    w.write_tensor_data(d.data(), d.size() * 4);
    w.finish();
    auto f = File::open(path);
    EXPECT_EQ(f->alignment(), 128u);
    EXPECT_EQ(f->tensor("b")->offset, 128u);
    EXPECT_EQ(f->data_offset() % 128, 0u);
}

// ---- typed accessors --------------------------------------------------------------------

class GgufAccessors : public ::testing::Test {
protected:
    void SetUp() override {
        std::string path = tmp_path("accessors.gguf");
        write_full(path, 32);
        f = File::open(path);
    }
    std::unique_ptr<File> f;
};

TEST_F(GgufAccessors, MissingKeyIsNamed) {
    expect_error([&] { f->get_u32("deepseek4.block_count"); }, "missing metadata key 'deepseek4.block_count'");
    expect_error([&] { f->get_string_array("tokenizer.ggml.tokens"); }, "missing metadata key");
    EXPECT_EQ(f->get_u32_or("nope", 7), 7u);
    EXPECT_EQ(f->get_f32_or("nope", 1.5f), 1.5f);
    EXPECT_TRUE(f->get_bool_or("nope", true));
    EXPECT_EQ(f->get_string_or("nope", "d"), "d");
}

TEST_F(GgufAccessors, WrongTypeIsNamed) {
    expect_error([&] { f->get_u32("t.i32"); }, "metadata key 't.i32' has type i32, expected u32");
    expect_error([&] { f->get_u32_or("t.u64", 1); }, "has type u64, expected u32");
    expect_error([&] { f->get_u64("t.i64"); }, "has type i64, expected u64 or u32");
    expect_error([&] { f->get_f32("t.string"); }, "has type string, expected f32, f64, u32 or i32");
    expect_error([&] { f->get_bool("t.u8"); }, "has type u8, expected bool");
    expect_error([&] { f->get_string("t.arr_string"); }, "has type array of string, expected string");
    expect_error([&] { f->get_int_array("t.arr_f32"); }, "has type array of f32, expected array of integers");
    expect_error([&] { f->get_int_array("t.u32"); }, "expected array of integers");
    expect_error([&] { f->get_float_array("t.arr_string"); }, "expected array of numbers");
    expect_error([&] { f->get_string_array("t.arr_i32"); }, "expected array of strings");
    expect_error([&] { f->get_bool_or("t.string", false); }, "expected bool");
}

TEST_F(GgufAccessors, LenientNumericConversionsAsDs4Does) {
    EXPECT_EQ(f->get_u64("t.u32"), 4000000000u);
    EXPECT_EQ(f->get_f32("t.f64"), (float)1e-300);
    EXPECT_EQ(f->get_f32("t.u32"), 4e9f);
    EXPECT_EQ(f->get_f32("t.i32"), -123456.f);
    EXPECT_EQ(f->get_float_array("t.arr_i32"), (std::vector<double>{-1, 0, 1}));
    EXPECT_EQ(f->get_float_array("t.arr_u32"), (std::vector<double>{1, 2, 4e9}));
}

TEST(GgufAccessorsU64, ElementBeyondInt64IsAnError) {
    testing::RawGguf g;
    g.kvs.push_back({"big", testing::T_ARRAY, testing::Bytes().u32(testing::T_U64).u64(1).u64(~0ull).b});
    std::vector<uint8_t> img = g.build();
    auto f = File::from_memory(img.data(), img.size(), "big.gguf");
    expect_error([&] { f->get_int_array("big"); }, "big.gguf: metadata key 'big' element 0");
    EXPECT_EQ(f->get_float_array("big")[0], 18446744073709551615.0);
}

TEST(GgufDescribe, SummarisesValues) {
    testing::RawGguf g;
    std::vector<std::string> toks = {"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "a", "b"};
    g.kvs.push_back(testing::kv_str_array("tokenizer.ggml.tokens", toks));
    g.kvs.push_back(testing::kv_u32("deepseek4.block_count", 43));
    g.kvs.push_back(testing::kv_str("long", std::string(100, 'x') + "é"));
    g.kvs.push_back({"neg", testing::T_I8, {0xff}});
    std::vector<uint8_t> img = g.build();
    auto f = File::from_memory(img.data(), img.size());
    EXPECT_EQ(describe_value(f->kvs()[0]),
              "[string x 4] \"<｜begin▁of▁sentence｜>\", \"<｜end▁of▁sentence｜>\", \"a\", ...");
    EXPECT_EQ(describe_value(f->kvs()[1]), "u32 43");
    EXPECT_EQ(describe_value(f->kvs()[2], 3, 10), "string \"xxxxxxxxxx\"... (102 bytes)");
    EXPECT_EQ(describe_value(f->kvs()[3]), "i8 -1");
}

TEST(GgufReader, AcceptsVersion2AndNoTensors) {
    testing::RawGguf g = testing::small_valid();
    g.version = 2;
    std::vector<uint8_t> img = g.build();
    auto f = File::from_memory(img.data(), img.size());
    EXPECT_EQ(f->version(), 2u);
    EXPECT_EQ(f->tensors().size(), 3u);

    testing::RawGguf e;
    e.kvs.push_back(testing::kv_u32("x", 1));
    img = e.build();
    img.resize(img.size() - 5);  // no tensors: the header padding may be missing
    auto f2 = File::from_memory(img.data(), img.size());
    EXPECT_TRUE(f2->tensors().empty());
}

TEST(GgufReader, OpenReportsMissingFile) {
    expect_error([] { File::open("build/test-tmp/does-not-exist.gguf"); }, "does-not-exist.gguf");
}

}  // namespace
}  // namespace ds4::gguf
