// Golden-vector tests for the scalar quantizers (shared/vectors/quants, produced by ggml).
//
// Every case in manifest.tsv is checked:
//   1. quantize_rows(in.f32, imatrix or null) == .q byte for byte (and act.f32 -> act.q);
//   2. dequantize_row(.q) == .deq.f32 bit for bit;
//   3. vec_dot(row r of .q, act.q) within 1e-5 * max(|ggml|, sumabs) of ggml's value.
//
// Vector directory: $DS4_QUANT_VECTORS, else $DS4_SHARED/vectors/quants, else
// ../shared/vectors/quants (from the repo root), else the same searched upwards from the test
// binary. A missing directory fails unless DS4_ALLOW_MISSING_VECTORS=1.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "quant/iq2_tables.h"
#include "quant/quants.h"

namespace fs = std::filesystem;

namespace ds4 {
namespace {

// ---------------------------------------------------------------------------------------
// Locating and reading the vectors
// ---------------------------------------------------------------------------------------

bool has_manifest(const fs::path& d) {
    std::error_code ec;
    return fs::is_regular_file(d / "manifest.tsv", ec);
}

std::string find_vectors_dir() {
    if (const char* e = std::getenv("DS4_QUANT_VECTORS"); e && *e) return e;  // authoritative
    if (const char* e = std::getenv("DS4_SHARED"); e && *e) {
        fs::path p = fs::path(e) / "vectors" / "quants";
        if (has_manifest(p)) return p.string();
    }
    for (const char* rel : {"../shared/vectors/quants", "shared/vectors/quants"})
        if (has_manifest(rel)) return rel;
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        for (fs::path d = exe.parent_path(); !d.empty(); d = d.parent_path()) {
            for (fs::path cand : {d / "shared" / "vectors" / "quants",
                                  d / ".." / "shared" / "vectors" / "quants"})
                if (has_manifest(cand)) return cand.string();
            if (d == d.root_path()) break;
        }
    }
    return "";
}

bool allow_missing() {
    const char* e = std::getenv("DS4_ALLOW_MISSING_VECTORS");
    return e && std::string(e) == "1";
}

bool read_file(const fs::path& p, std::vector<uint8_t>* out) {
    std::ifstream f(p, std::ios::binary);
    if (!f) return false;
    out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    return true;
}

std::vector<float> as_floats(const std::vector<uint8_t>& b) {
    std::vector<float> v(b.size() / 4);
    std::memcpy(v.data(), b.data(), v.size() * 4);
    return v;
}

struct Case {
    std::string id;  // e.g. "q4_K/case_013"
    std::string type_name;
    GgmlType type{};
    int64_t nrows = 0, n = 0;
    std::string dist;
    bool imatrix = false;
    std::string imatrix_kind;
    int64_t q_bytes = 0;
    bool dot = false;
    std::string act_type_name;
};

struct Manifest {
    std::string dir;
    std::vector<Case> cases;
    std::string error;
};

const Manifest& manifest() {
    static const Manifest m = [] {
        Manifest m;
        m.dir = find_vectors_dir();
        if (m.dir.empty()) {
            m.error = "quant golden vectors not found (set DS4_QUANT_VECTORS or DS4_SHARED)";
            return m;
        }
        std::ifstream f(fs::path(m.dir) / "manifest.tsv");
        if (!f) {
            m.error = "cannot open " + (fs::path(m.dir) / "manifest.tsv").string();
            return m;
        }
        std::string line;
        std::getline(f, line);  // header
        std::vector<std::string> hdr;
        {
            std::stringstream ss(line);
            std::string c;
            while (std::getline(ss, c, '\t')) hdr.push_back(c);
        }
        auto col = [&](const char* name) -> int {
            for (size_t i = 0; i < hdr.size(); ++i)
                if (hdr[i] == name) return (int)i;
            return -1;
        };
        const int c_case = col("case"), c_type = col("type"), c_nrows = col("nrows"),
                  c_n = col("n_per_row"), c_dist = col("distribution"), c_im = col("imatrix"),
                  c_imk = col("imatrix_kind"), c_qb = col("q_bytes"), c_dot = col("dot"),
                  c_act = col("act_type");
        if (c_case < 0 || c_type < 0 || c_nrows < 0 || c_n < 0 || c_im < 0 || c_dot < 0 ||
            c_act < 0) {
            m.error = "manifest.tsv header lacks required columns: " + line;
            return m;
        }
        while (std::getline(f, line)) {
            if (line.empty()) continue;
            std::vector<std::string> v;
            std::stringstream ss(line);
            std::string c;
            while (std::getline(ss, c, '\t')) v.push_back(c);
            if ((int)v.size() < (int)hdr.size()) {
                m.error = "short manifest line: " + line;
                return m;
            }
            Case k;
            k.id = v[c_case];
            k.type_name = v[c_type];
            if (!parse_type_name(k.type_name.c_str(), &k.type)) {
                m.error = "unknown type in manifest: " + k.type_name;
                return m;
            }
            k.nrows = std::stoll(v[c_nrows]);
            k.n = std::stoll(v[c_n]);
            k.dist = c_dist >= 0 ? v[c_dist] : "";
            k.imatrix = v[c_im] == "yes";
            k.imatrix_kind = c_imk >= 0 ? v[c_imk] : "";
            k.q_bytes = c_qb >= 0 ? std::stoll(v[c_qb]) : -1;
            k.dot = v[c_dot] == "yes";
            k.act_type_name = v[c_act];
            m.cases.push_back(k);
        }
        if (m.cases.empty()) m.error = "manifest.tsv lists no cases";
        return m;
    }();
    return m;
}

// Returns false (after recording a failure or printing a skip note) if vectors are missing.
bool vectors_available() {
    const Manifest& m = manifest();
    if (m.error.empty()) return true;
    if (allow_missing()) {
        std::cout << "[ note ] " << m.error << " -- skipped (DS4_ALLOW_MISSING_VECTORS=1)\n";
        return false;
    }
    ADD_FAILURE() << m.error;
    return false;
}

std::string hex_bits(float f) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", f32_bits(f));
    return buf;
}

// Describes up to 5 differing bytes with their row / block position.
std::string describe_byte_diff(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want,
                               int64_t row_bytes, int64_t block_bytes) {
    std::ostringstream os;
    int64_t ndiff = 0, shown = 0;
    std::map<int64_t, int> blocks;
    for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
        if (got[i] == want[i]) continue;
        ++ndiff;
        blocks[(int64_t)i / block_bytes]++;
        if (shown++ < 5) {
            os << "\n    byte " << i << " (row " << (int64_t)i / row_bytes << ", block "
               << ((int64_t)i % row_bytes) / block_bytes << ", offset " << (int64_t)i % block_bytes
               << "): got 0x" << std::hex << (int)got[i] << " want 0x" << (int)want[i] << std::dec;
        }
    }
    std::ostringstream head;
    head << ndiff << " of " << want.size() << " bytes differ, in " << blocks.size() << " blocks";
    return head.str() + os.str();
}

struct TypeStats {
    int cases = 0, q_ok = 0, deq_ok = 0, dot_rows = 0, dot_ok = 0, act_ok = 0, act_cases = 0;
};

// Runs every manifest case of one weight type.
void run_type(const char* type_name_filter) {
    if (!vectors_available()) return;
    const Manifest& m = manifest();
    TypeStats st;
    double worst_dot_rel = 0;
    for (const Case& c : m.cases) {
        if (c.type_name != type_name_filter) continue;
        ++st.cases;
        SCOPED_TRACE(c.id + " [" + c.dist + ", imatrix=" + (c.imatrix ? c.imatrix_kind : "none") +
                     ", " + std::to_string(c.nrows) + "x" + std::to_string(c.n) + "]");
        const fs::path base = fs::path(m.dir) / c.id;
        auto path = [&](const char* suffix) { return fs::path(base.string() + suffix); };

        std::vector<uint8_t> in_b, q_want, deq_b, im_b;
        ASSERT_TRUE(read_file(path(".in.f32"), &in_b)) << path(".in.f32");
        ASSERT_TRUE(read_file(path(".q"), &q_want)) << path(".q");
        ASSERT_TRUE(read_file(path(".deq.f32"), &deq_b)) << path(".deq.f32");
        const std::vector<float> in = as_floats(in_b);
        const std::vector<float> deq_want = as_floats(deq_b);
        ASSERT_EQ((int64_t)in.size(), c.nrows * c.n);
        ASSERT_EQ((int64_t)deq_want.size(), c.nrows * c.n);
        const TypeTraits tr = type_traits(c.type);
        const int64_t rs = row_size(c.type, c.n);
        ASSERT_EQ((int64_t)q_want.size(), c.nrows * rs);
        if (c.q_bytes >= 0) {
            ASSERT_EQ((int64_t)q_want.size(), c.q_bytes);
        }
        std::vector<float> im;
        if (c.imatrix) {
            ASSERT_TRUE(read_file(path(".imatrix.f32"), &im_b)) << path(".imatrix.f32");
            im = as_floats(im_b);
            ASSERT_EQ((int64_t)im.size(), c.n);
        }

        // 1. quantization bytes
        std::vector<uint8_t> q_got(q_want.size(), 0xA5);
        const size_t wrote = quantize_rows(c.type, in.data(), q_got.data(), c.nrows, c.n,
                                           c.imatrix ? im.data() : nullptr);
        EXPECT_EQ(wrote, q_want.size());
        if (q_got == q_want) {
            ++st.q_ok;
        } else {
            ADD_FAILURE() << "quantized bytes differ: "
                          << describe_byte_diff(q_got, q_want, rs, tr.type_size);
        }

        // 2. dequantization bits (of the stored .q)
        std::vector<float> deq_got(deq_want.size());
        for (int64_t r = 0; r < c.nrows; ++r)
            dequantize_row(c.type, q_want.data() + r * rs, deq_got.data() + r * c.n, c.n);
        {
            int64_t ndiff = 0;
            std::ostringstream os;
            for (size_t i = 0; i < deq_want.size(); ++i) {
                if (f32_bits(deq_got[i]) == f32_bits(deq_want[i])) continue;
                if (ndiff++ < 5)
                    os << "\n    [" << i << "] (row " << (int64_t)i / c.n << ", col " << (int64_t)i % c.n
                       << "): got " << deq_got[i] << " (" << hex_bits(deq_got[i]) << ") want "
                       << deq_want[i] << " (" << hex_bits(deq_want[i]) << ")";
            }
            if (ndiff == 0) {
                ++st.deq_ok;
            } else {
                ADD_FAILURE() << "dequantized floats differ: " << ndiff << " of " << deq_want.size()
                              << os.str();
            }
        }

        // 3. activation quantization and dots
        if (!c.dot) continue;
        GgmlType at{};
        ASSERT_TRUE(parse_type_name(c.act_type_name.c_str(), &at)) << c.act_type_name;
        EXPECT_EQ(vec_dot_type(c.type), at);
        std::vector<uint8_t> act_b, actq_want, dot_b;
        ASSERT_TRUE(read_file(path(".act.f32"), &act_b));
        ASSERT_TRUE(read_file(path(".act.q"), &actq_want));
        ASSERT_TRUE(read_file(path(".dot.txt"), &dot_b));
        const std::vector<float> act = as_floats(act_b);
        ASSERT_EQ((int64_t)act.size(), c.n);
        ASSERT_EQ((int64_t)actq_want.size(), row_size(at, c.n));
        ++st.act_cases;
        std::vector<uint8_t> actq_got(actq_want.size(), 0xA5);
        quantize_row(at, act.data(), actq_got.data(), c.n, nullptr);
        if (actq_got == actq_want) {
            ++st.act_ok;
        } else {
            ADD_FAILURE() << "act.q bytes differ: "
                          << describe_byte_diff(actq_got, actq_want, (int64_t)actq_want.size(),
                                                type_traits(at).type_size);
        }

        std::istringstream dl(std::string(dot_b.begin(), dot_b.end()));
        std::string line;
        int rows_seen = 0;
        while (std::getline(dl, line)) {
            if (line.empty() || line[0] == '#') continue;
            std::map<std::string, std::string> kv;
            std::istringstream ls(line);
            std::string tok;
            while (ls >> tok) {
                const size_t eq = tok.find('=');
                if (eq != std::string::npos) kv[tok.substr(0, eq)] = tok.substr(eq + 1);
            }
            ASSERT_TRUE(kv.count("row") && kv.count("ggml") && kv.count("sumabs")) << line;
            const int64_t r = std::stoll(kv["row"]);
            ASSERT_LT(r, c.nrows);
            float ggml = std::strtof(kv["ggml"].c_str(), nullptr);
            if (kv.count("ggml_bits")) ggml = f32_from_bits((uint32_t)std::stoul(kv["ggml_bits"], nullptr, 16));
            const double sumabs = std::strtod(kv["sumabs"].c_str(), nullptr);
            const float got_ref = vec_dot_ref(c.type, q_want.data() + r * rs, actq_want.data(), c.n);
            const float got = vec_dot(c.type, q_want.data() + r * rs, actq_want.data(), c.n);
            const double scale = std::max((double)std::fabs(ggml), sumabs);
            const double tol = 1e-5 * scale;
            const double err = std::fabs((double)got_ref - (double)ggml);
            ++st.dot_rows;
            ++rows_seen;
            if (scale > 0) worst_dot_rel = std::max(worst_dot_rel, err / scale);
            if (err <= tol && std::fabs((double)got - (double)ggml) <= tol) {
                ++st.dot_ok;
            } else {
                ADD_FAILURE() << "dot row " << r << ": ref " << got_ref << " dispatch " << got
                              << " ggml " << ggml << " |diff| " << err << " > tol " << tol;
            }
        }
        EXPECT_EQ(rows_seen, c.nrows) << "dot.txt rows";
    }
    std::cout << "[ quant ] " << type_name_filter << ": " << st.cases << " cases; quantized "
              << st.q_ok << "/" << st.cases << " byte-identical, dequantized " << st.deq_ok << "/"
              << st.cases << " bit-identical";
    if (st.act_cases)
        std::cout << ", act.q " << st.act_ok << "/" << st.act_cases << ", dot rows " << st.dot_ok
                  << "/" << st.dot_rows << " in tolerance (worst err/scale " << worst_dot_rel << ")";
    std::cout << "\n";
}

TEST(QuantGolden, ManifestCoversKnownTypes) {
    if (!vectors_available()) return;
    const Manifest& m = manifest();
    std::map<std::string, int> counts;
    for (const Case& c : m.cases) {
        counts[c.type_name]++;
        EXPECT_TRUE(quant_supported(c.type)) << c.id << ": type " << c.type_name;
    }
    std::cout << "[ quant ] vectors: " << m.dir << " (" << m.cases.size() << " cases:";
    for (auto& [k, v] : counts) std::cout << " " << k << "=" << v;
    std::cout << ")\n";
    const std::vector<std::string> tested = {"q8_0", "q4_K", "q2_K", "iq2_xxs", "q8_K", "f16", "bf16"};
    for (auto& [k, v] : counts)
        EXPECT_NE(std::find(tested.begin(), tested.end(), k), tested.end())
            << "manifest type " << k << " has no golden test here";
}

TEST(QuantGolden, Q8_0) { run_type("q8_0"); }
TEST(QuantGolden, Q4_K) { run_type("q4_K"); }
TEST(QuantGolden, Q2_K) { run_type("q2_K"); }
TEST(QuantGolden, IQ2_XXS) { run_type("iq2_xxs"); }
TEST(QuantGolden, Q8_K) { run_type("q8_K"); }
TEST(QuantGolden, F16) { run_type("f16"); }
TEST(QuantGolden, BF16) { run_type("bf16"); }

// ---------------------------------------------------------------------------------------
// Unit tests independent of the vectors
// ---------------------------------------------------------------------------------------

TEST(QuantF16, WideningRoundTripsEveryHalf) {
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const float f = fp16_to_fp32((uint16_t)h);
        const bool nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF);
        if (nan) {
            ASSERT_TRUE(std::isnan(f)) << h;
            ASSERT_EQ(f32_bits(f) & 0x00400000u, 0x00400000u) << "quiet bit " << h;
            ASSERT_EQ(fp32_to_fp16(f), (uint16_t)((h & 0x8000) | 0x7E00)) << h;
        } else {
            ASSERT_EQ(fp32_to_fp16(f), (uint16_t)h) << std::hex << h;
        }
    }
    EXPECT_EQ(f32_bits(fp16_to_fp32(0x7E00)), 0x7FC00000u);
    EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));
}

TEST(QuantF16, NarrowingIsRoundToNearestEven) {
    EXPECT_EQ(fp32_to_fp16(65504.f), 0x7BFF);
    EXPECT_EQ(fp32_to_fp16(65519.99f), 0x7BFF);
    EXPECT_EQ(fp32_to_fp16(65520.f), 0x7C00);
    EXPECT_EQ(fp32_to_fp16(-INFINITY), 0xFC00);
    EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);                  // tie -> even 0
    EXPECT_EQ(fp32_to_fp16(std::nextafter(std::ldexp(1.0f, -25), 1.f)), 0x0001);
    EXPECT_EQ(fp32_to_fp16(std::ldexp(3.0f, -25)), 0x0002);                  // 1.5 ulp -> 2
    EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
    EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);           // tie -> even
    EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(3.0f, -11)), 0x3C02);
    EXPECT_EQ(fp32_to_fp16(f32_from_bits(0x7F800001u)), 0x7E00);             // sNaN, payload dropped
    EXPECT_EQ(fp32_to_fp16(f32_from_bits(0xFFC12345u)), 0xFE00);
#ifdef __FLT16_MAX__
    // Compare with the compiler's IEEE conversion (RNE) on many random bit patterns.
    std::mt19937 rng(1234);
    for (int i = 0; i < 2000000; ++i) {
        uint32_t u = rng();
        if ((i & 3) == 0) u = (u & 0x80000000u) | (0x33000000u + (u % 0x14800000u));  // f16 range
        const float f = f32_from_bits(u);
        if (std::isnan(f)) continue;
        const _Float16 h = (_Float16)f;
        uint16_t hb;
        std::memcpy(&hb, &h, 2);
        ASSERT_EQ(fp32_to_fp16(f), hb) << std::hex << u;
    }
#endif
}

TEST(QuantBF16, Rule) {
    EXPECT_EQ(fp32_to_bf16(1.0f), 0x3F80);
    EXPECT_EQ(fp32_to_bf16(f32_from_bits(0x3F808000u)), 0x3F80);  // tie -> even
    EXPECT_EQ(fp32_to_bf16(f32_from_bits(0x3F818000u)), 0x3F82);
    EXPECT_EQ(fp32_to_bf16(f32_from_bits(0x7F7FFFFFu)), 0x7F80);  // overflow by rounding
    EXPECT_EQ(fp32_to_bf16(f32_from_bits(0x00000001u)), 0x0000);  // no flush, just rounds
    EXPECT_EQ(fp32_to_bf16(f32_from_bits(0x00018000u)), 0x0002);
    EXPECT_EQ(fp32_to_bf16(f32_from_bits(0x7F800001u)), 0x7FC0);  // sNaN quieted
    EXPECT_EQ(fp32_to_bf16(f32_from_bits(0xFFA12345u)), 0xFFE1);
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const float f = bf16_to_fp32((uint16_t)h);
        if (!std::isnan(f)) {
            ASSERT_EQ(fp32_to_bf16(f), h);
        }
    }
}

TEST(QuantApi, TypeQueries) {
    EXPECT_TRUE(quant_requires_imatrix(GgmlType::IQ2_XXS));
    EXPECT_FALSE(quant_requires_imatrix(GgmlType::Q4_K));
    EXPECT_FALSE(quant_requires_imatrix(GgmlType::Q2_K));
    EXPECT_EQ(vec_dot_type(GgmlType::Q4_K), GgmlType::Q8_K);
    EXPECT_EQ(vec_dot_type(GgmlType::Q2_K), GgmlType::Q8_K);
    EXPECT_EQ(vec_dot_type(GgmlType::IQ2_XXS), GgmlType::Q8_K);
    EXPECT_EQ(vec_dot_type(GgmlType::Q8_0), GgmlType::Q8_0);
    EXPECT_EQ(vec_dot_type(GgmlType::F16), GgmlType::F16);
    EXPECT_EQ(vec_dot_type(GgmlType::BF16), GgmlType::BF16);
    EXPECT_EQ(vec_dot_type(GgmlType::F32), GgmlType::F32);
    EXPECT_EQ(vec_dot_type(GgmlType::I32), GgmlType::COUNT);
    std::vector<float> x(256, 1.0f);
    std::vector<uint8_t> q(row_size(GgmlType::IQ2_XXS, 256));
    EXPECT_THROW(quantize_rows(GgmlType::IQ2_XXS, x.data(), q.data(), 1, 256, nullptr), std::invalid_argument);
    EXPECT_THROW(quantize_row(GgmlType::Q4_K, x.data(), q.data(), 100, nullptr), std::invalid_argument);
    EXPECT_THROW(quantize_row(GgmlType::Q6_K, x.data(), q.data(), 256, nullptr), std::invalid_argument);
}

TEST(QuantApi, I32AndF32) {
    const float x[6] = {0.f, 1.5f, 2.5f, -3.7f, 1e10f, -1e10f};
    int32_t q[6];
    quantize_row(GgmlType::I32, x, q, 6, nullptr);
    EXPECT_EQ(q[0], 0);
    EXPECT_EQ(q[1], 2);
    EXPECT_EQ(q[2], 2);
    EXPECT_EQ(q[3], -4);
    EXPECT_EQ(q[4], INT32_MAX);
    EXPECT_EQ(q[5], INT32_MIN);
    const int32_t ints[3] = {-7, 0, 16777217};
    float y[3];
    dequantize_row(GgmlType::I32, ints, y, 3);
    EXPECT_EQ(y[0], -7.f);
    EXPECT_EQ(y[2], 16777216.f);
    const float a[4] = {1, 2, 3, 4}, b[4] = {0.5f, -1, 2, 0.25f};
    EXPECT_FLOAT_EQ(vec_dot(GgmlType::F32, a, b, 4), 0.5f - 2 + 6 + 1);
    float c[4];
    quantize_row(GgmlType::F32, a, c, 4, nullptr);
    EXPECT_EQ(std::memcmp(a, c, sizeof a), 0);
}

float dot_plus_one(const void*, const void*, int64_t) { return 42.0f; }

TEST(QuantApi, DotRegistry) {
    // Other tests (or the engine) may already have registered a SIMD kernel: keep it.
    const float a[4] = {1, 2, 3, 4};
    const VecDotFn before = vec_dot_fn(GgmlType::F32);
    ASSERT_NE(before, nullptr);
    register_vec_dot(GgmlType::F32, dot_plus_one);
    EXPECT_EQ(vec_dot(GgmlType::F32, a, a, 4), 42.0f);
    EXPECT_EQ(vec_dot_ref(GgmlType::F32, a, a, 4), 30.0f);
    register_vec_dot(GgmlType::F32, nullptr);
    EXPECT_EQ(vec_dot_fn(GgmlType::F32), vec_dot_ref_fn(GgmlType::F32));
    EXPECT_EQ(vec_dot(GgmlType::F32, a, a, 4), 30.0f);
    register_vec_dot(GgmlType::F32, before == vec_dot_ref_fn(GgmlType::F32) ? nullptr : before);
    EXPECT_EQ(vec_dot_ref_fn(GgmlType::I32), nullptr);
}

TEST(QuantIq2, TablesMatchGgmlFacts) {
    // kgrid_2bit_256 entries use levels 0..2 only, are sorted and distinct.
    for (int j = 0; j < 256; ++j) {
        for (int k = 0; k < 8; ++k) ASSERT_LE((kgrid_2bit_256[j] >> (2 * k)) & 3, 2);
        if (j) {
            ASSERT_LT(kgrid_2bit_256[j - 1], kgrid_2bit_256[j]);
        }
    }
    for (int i = 0; i < 128; ++i) EXPECT_EQ(__builtin_popcount(ksigns_iq2xs[i]) % 2, 0);
    iq2xxs_init();  // builds without error; second call is a no-op
    iq2xxs_init();
}

TEST(QuantIq2, ZeroBlockGivesZeroBytes) {
    std::vector<float> x(512, 0.0f), w(512, 1.0f);
    std::vector<uint8_t> q(row_size(GgmlType::IQ2_XXS, 512), 0xFF);
    quantize_row(GgmlType::IQ2_XXS, x.data(), q.data(), 512, w.data());
    for (uint8_t b : q) ASSERT_EQ(b, 0);
    std::vector<float> y(512, 1.0f);
    dequantize_row(GgmlType::IQ2_XXS, q.data(), y.data(), 512);
    for (float v : y) ASSERT_EQ(v, 0.0f);
}

}  // namespace
}  // namespace ds4
