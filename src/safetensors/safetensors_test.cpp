// Safetensors reader: hand-made good and hostile files.
#include "safetensors/safetensors.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "util/error.h"

namespace st = ds4::safetensors;

namespace {

std::vector<uint8_t> make_file(const std::string& header, const std::vector<uint8_t>& data) {
    std::vector<uint8_t> f(8 + header.size() + data.size());
    const uint64_t n = header.size();
    memcpy(f.data(), &n, 8);
    memcpy(f.data() + 8, header.data(), header.size());
    if (!data.empty()) memcpy(f.data() + 8 + header.size(), data.data(), data.size());
    return f;
}

std::string expect_error(const std::vector<uint8_t>& f) {
    try {
        st::File::from_memory(f.data(), f.size(), "t.safetensors");
    } catch (const ds4::Error& e) {
        return e.what();
    }
    return "";
}

void write_bin(const std::string& path, const std::vector<uint8_t>& f) {
    std::ofstream o(path, std::ios::binary);
    o.write((const char*)f.data(), (std::streamsize)f.size());
}

std::string tmpdir(const std::string& name) {
    mkdir("build", 0755);
    mkdir("build/test-tmp", 0755);
    const std::string d = "build/test-tmp/" + name;
    mkdir(d.c_str(), 0755);
    return d;
}

}  // namespace

TEST(Safetensors, ReadsPlainDtypes) {
    std::vector<uint8_t> data;
    auto put = [&](const void* p, size_t n) { data.insert(data.end(), (const uint8_t*)p, (const uint8_t*)p + n); };
    const float f32[3] = {1.5f, -2.25f, 3e-8f};
    put(f32, sizeof f32);
    const uint16_t bf16[2] = {0x3FC0, 0xC000};  // 1.5, -2
    put(bf16, sizeof bf16);
    const uint16_t f16[2] = {0x3C00, 0x0001};   // 1, 2^-24
    put(f16, sizeof f16);
    const int64_t i64[2] = {7, -3};
    put(i64, sizeof i64);
    const std::string h =
        R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
        R"("b":{"dtype":"BF16","shape":[1,2],"data_offsets":[12,16]},"c":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},)"
        R"("d":{"dtype":"I64","shape":[2,1],"data_offsets":[20,36]},"e":{"dtype":"U8","shape":[0],"data_offsets":[36,36]}})";
    auto img = make_file(h, data);
    auto f = st::File::from_memory(img.data(), img.size());
    ASSERT_EQ(f->tensors().size(), 5u);
    ASSERT_EQ(f->metadata().size(), 1u);
    EXPECT_EQ(f->metadata()[0].second, "pt");
    float out[3];
    st::decode_to_f32(*f->find("a"), out);
    EXPECT_EQ(out[0], 1.5f);
    EXPECT_EQ(out[2], 3e-8f);
    st::decode_to_f32(*f->find("b"), out);
    EXPECT_EQ(out[0], 1.5f);
    EXPECT_EQ(out[1], -2.0f);
    st::decode_to_f32(*f->find("c"), out);
    EXPECT_EQ(out[0], 1.0f);
    EXPECT_EQ(out[1], std::ldexp(1.0f, -24));
    st::decode_to_f32(*f->find("d"), out);
    EXPECT_EQ(out[0], 7.0f);
    EXPECT_EQ(out[1], -3.0f);
    EXPECT_EQ(f->find("b")->shape_str(), "[1, 2]");
    EXPECT_EQ(f->find("e")->numel, 0u);
    EXPECT_EQ(f->find("zz"), nullptr);
}

TEST(Safetensors, RejectsHostileHeaders) {
    std::vector<uint8_t> d16(16, 0);
    auto err = [&](const std::string& h, const std::vector<uint8_t>& data) { return expect_error(make_file(h, data)); };
    // header length beyond the file
    {
        std::vector<uint8_t> f(8 + 4, 0);
        uint64_t n = 1000;
        memcpy(f.data(), &n, 8);
        EXPECT_NE(expect_error(f).find("exceeds the file size"), std::string::npos);
        uint64_t huge = ~0ull;
        memcpy(f.data(), &huge, 8);
        EXPECT_NE(expect_error(f).find("exceeds"), std::string::npos);
    }
    EXPECT_NE(expect_error({1, 2, 3}).find("at least 8"), std::string::npos);
    EXPECT_NE(err("{\"a\":", d16).find("bad safetensors header"), std::string::npos);
    EXPECT_NE(err("[1,2]", d16).find("not a JSON object"), std::string::npos);
    EXPECT_NE(err(R"({"a":{"dtype":"F7","shape":[2],"data_offsets":[0,2]}})", d16).find("unsupported dtype 'F7'"), std::string::npos);
    EXPECT_NE(err(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", d16).find("non-negative"), std::string::npos);
    EXPECT_NE(err(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", d16).find("non-negative"), std::string::npos);
    EXPECT_NE(err(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})", d16).find("needs 8 bytes"), std::string::npos);
    EXPECT_NE(err(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})", d16).find("beyond the data section"), std::string::npos);
    EXPECT_NE(err(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", d16).find("begin > end"), std::string::npos);
    EXPECT_NE(err(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", d16).find("data_offsets"), std::string::npos);
    EXPECT_NE(err(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", d16).find("overflows"),
              std::string::npos);
    EXPECT_NE(err(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", d16)
                  .find("overlap"), std::string::npos);
    // a large tensor that fully contains a later one
    EXPECT_NE(err(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", d16)
                  .find("overlap"), std::string::npos);
    EXPECT_NE(err(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", d16)
                  .find("duplicate"), std::string::npos);
    EXPECT_NE(err(R"({"__metadata__":{"k":1}})", d16).find("__metadata__"), std::string::npos);
    EXPECT_NE(err(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", d16).find("dtype"), std::string::npos);
    EXPECT_NE(err(R"({"a":[]})", d16).find("not an object"), std::string::npos);
    // fine: adjacent tensors and zero-size ones anywhere
    EXPECT_EQ(err(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", d16),
              "");
}

// FP8 E4M3 weights with F8_E8M0 128x128 block scales (shape not a multiple of 128), and FP4
// E2M1 packed experts with per-32 scales, decoded against hand-computed values.
TEST(Safetensors, DequantizesFp8AndFp4) {
    const int R = 130, C = 200;  // 2x2 scale blocks
    std::vector<uint8_t> w(R * C), s8 = {127, 128, 126, 130}, data;
    for (int i = 0; i < R * C; i++) w[i] = (uint8_t)(i * 37 + 11);
    w[0] = 0x7F;  // NaN -> 0
    w[1] = 0xFF;  // -NaN -> 0
    w[2] = 0x01;  // smallest subnormal 2^-9
    w[3] = 0x7E;  // 448
    w[4] = 0xB8;  // -1.0
    // FP4: out 2, in 64 -> packed [2, 32], scales [2, 2]
    std::vector<uint8_t> p4(64), s4 = {127, 129, 126, 127};
    for (int i = 0; i < 64; i++) p4[i] = (uint8_t)(i * 29 + 3);
    p4[0] = 0x9A;  // element 0: code 0xA = -1.0 ; element 1: code 0x9 = -0.5
    data.insert(data.end(), w.begin(), w.end());
    data.insert(data.end(), s8.begin(), s8.end());
    data.insert(data.end(), p4.begin(), p4.end());
    data.insert(data.end(), s4.begin(), s4.end());
    const size_t o1 = w.size(), o2 = o1 + 4, o3 = o2 + 64;
    char h[1024];
    snprintf(h, sizeof h,
             R"({"x.weight":{"dtype":"F8_E4M3","shape":[%d,%d],"data_offsets":[0,%zu]},)"
             R"("x.scale":{"dtype":"F8_E8M0","shape":[2,2],"data_offsets":[%zu,%zu]},)"
             R"("e.weight":{"dtype":"I8","shape":[2,32],"data_offsets":[%zu,%zu]},)"
             R"("e.scale":{"dtype":"F8_E8M0","shape":[2,2],"data_offsets":[%zu,%zu]}})",
             R, C, o1, o1, o2, o2, o3, o3, o3 + 4);
    auto img = make_file(h, data);
    const std::string dir = tmpdir("st_lowp");
    write_bin(dir + "/model.safetensors", img);
    auto ck = st::Checkpoint::open(dir);
    std::vector<int64_t> shape;
    std::vector<float> x = ck->load_f32("x.weight", &shape);
    ASSERT_EQ(shape, (std::vector<int64_t>{R, C}));
    auto e4m3 = [](uint8_t b) -> float {
        if ((b & 0x7F) == 0x7F) return 0.0f;
        const int e = (b >> 3) & 15, m = b & 7;
        const float v = e == 0 ? std::ldexp((float)m, -9) : std::ldexp(1.0f + m / 8.0f, e - 7);
        return (b & 0x80) ? -v : v;
    };
    EXPECT_EQ(x[0], 0.0f);
    EXPECT_EQ(x[1], 0.0f);
    EXPECT_EQ(x[2], std::ldexp(1.0f, -9));
    EXPECT_EQ(x[3], 448.0f);
    EXPECT_EQ(x[4], -1.0f);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            const float sc = std::ldexp(1.0f, s8[(r / 128) * 2 + c / 128] - 127);
            ASSERT_EQ(x[r * C + c], e4m3(w[r * C + c]) * sc) << r << "," << c;
        }
    std::vector<float> e = ck->load_f32("e.weight", &shape);
    ASSERT_EQ(shape, (std::vector<int64_t>{2, 64}));
    const float mag[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
    EXPECT_EQ(e[0], -1.0f);
    EXPECT_EQ(e[1], -0.5f);
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 64; c++) {
            const uint8_t byte = p4[r * 32 + c / 2];
            const uint8_t code = (c % 2 == 0) ? (byte & 15) : (byte >> 4);
            const float v = ((code & 8) ? -1.0f : 1.0f) * mag[code & 7] * std::ldexp(1.0f, s4[r * 2 + c / 32] - 127);
            ASSERT_EQ(e[r * 64 + c], v) << r << "," << c;
        }
    // a NaN (0xFF) E8M0 scale is an error
    img[8 + strlen(h) + o1 + 2] = 0xFF;
    write_bin(dir + "/model.safetensors", img);
    EXPECT_THROW(st::Checkpoint::open(dir)->load_f32("x.weight"), ds4::Error);
    // scale shape mismatch is an error
    snprintf(h, sizeof h,
             R"({"x.weight":{"dtype":"F8_E4M3","shape":[%d,%d],"data_offsets":[0,%zu]},)"
             R"("x.scale":{"dtype":"F8_E8M0","shape":[4,1],"data_offsets":[%zu,%zu]}})",
             R, C, o1, o1, o2);
    auto bad = make_file(h, std::vector<uint8_t>(data.begin(), data.begin() + (long)o2));
    write_bin(dir + "/model.safetensors", bad);
    auto ck2 = st::Checkpoint::open(dir);
    EXPECT_THROW(ck2->load_f32("x.weight"), ds4::Error);
}

TEST(Safetensors, ShardedIndex) {
    const std::string dir = tmpdir("st_sharded");
    const float a[2] = {1, 2}, b[6] = {3, 4, 5, 9, 9, 9};
    std::vector<uint8_t> da((const uint8_t*)a, (const uint8_t*)a + 8), db((const uint8_t*)b, (const uint8_t*)b + 24);
    write_bin(dir + "/model-00001-of-00002.safetensors", make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", da));
    write_bin(dir + "/model-00002-of-00002.safetensors",
              make_file(R"({"b":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"a":{"dtype":"F32","shape":[3],"data_offsets":[12,24]}})", db));
    {
        std::ofstream o(dir + "/model.safetensors.index.json");
        o << R"({"metadata":{"total_size":20},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})";
    }
    auto ck = st::Checkpoint::open(dir);
    EXPECT_EQ(ck->names(), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(ck->load_f32("a"), (std::vector<float>{1, 2}));  // the index picks shard 1's "a"
    EXPECT_EQ(ck->load_f32("b"), (std::vector<float>{3, 4, 5}));
    EXPECT_THROW(ck->load_f32("c"), ds4::Error);
    {
        std::ofstream o(dir + "/model.safetensors.index.json");
        o << R"({"weight_map":{"a":"model-00001-of-00002.safetensors","q":"model-00001-of-00002.safetensors"}})";
    }
    try {
        st::Checkpoint::open(dir);
        FAIL() << "expected an error";
    } catch (const ds4::Error& e) {
        EXPECT_NE(std::string(e.what()).find("'q'"), std::string::npos) << e.what();
    }
    {
        std::ofstream o(dir + "/model.safetensors.index.json");
        o << R"({"weight_map":{"a":"../x.safetensors"}})";
    }
    EXPECT_THROW(st::Checkpoint::open(dir), ds4::Error);
    EXPECT_THROW(st::Checkpoint::open(dir + "/nope"), ds4::Error);
}
