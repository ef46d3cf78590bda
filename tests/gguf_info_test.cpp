// Runs the built gguf-tools/gguf-info on a small valid file and on a hostile one.
// Skipped when the tool has not been built (`make gguf-tools/gguf-info`; `make test` builds it).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>

#include "gguf/gguf_testing.h"
#include "tests/test_paths.h"

namespace {

const char* kTool = "gguf-tools/gguf-info";

// Runs `cmd`, returns (exit status, stdout+stderr).
std::pair<int, std::string> run(const std::string& cmd) {
    std::string out;
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return {-1, out};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int st = pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::string write_tmp(const std::string& name, const std::vector<uint8_t>& img) {
    std::string path = ds4::test::tmp_dir() + "/" + name;
    std::ofstream(path, std::ios::binary).write((const char*)img.data(), (std::streamsize)img.size());
    return path;
}

TEST(GgufInfoTool, ListsAValidFile) {
    if (!ds4::test::path_exists(kTool)) GTEST_SKIP() << kTool << " not built";
    std::string path = write_tmp("info_valid.gguf", ds4::gguf::testing::small_valid().build());
    auto [rc, out] = run(std::string(kTool) + " " + path);
    EXPECT_EQ(rc, 0) << out;
    for (const char* want : {"version:     3", "alignment:   32", "data offset: ",
                             "general.architecture: string \"deepseek4\"", "deepseek4.block_count: u32 2",
                             "tokenizer.ggml.tokens: [string x 3] \"a\", \"bc\", \"<｜begin▁of▁sentence｜>\"",
                             "token_embd.weight", "q8_0", "[64, 3]", "total: 3 tensors"})
        EXPECT_NE(out.find(want), std::string::npos) << "missing: " << want << "\n" << out;
}

TEST(GgufInfoTool, HostileFileGivesOneLineError) {
    if (!ds4::test::path_exists(kTool)) GTEST_SKIP() << kTool << " not built";
    ds4::gguf::testing::RawGguf g = ds4::gguf::testing::small_valid();
    g.tensors[0].type = 5;
    std::string path = write_tmp("info_bad.gguf", g.build());
    auto [rc, out] = run(std::string(kTool) + " " + path);
    EXPECT_NE(rc, 0);
    EXPECT_EQ(out, "gguf-info: " + path + ": tensor 'token_embd.weight' has unknown type code 5\n");
    auto [rc2, help] = run(std::string(kTool) + " --help");
    EXPECT_EQ(rc2, 0);
    EXPECT_NE(help.find("usage: gguf-info FILE"), std::string::npos);
    auto [rc3, none] = run(kTool);
    EXPECT_NE(rc3, 0);
    EXPECT_EQ(none.rfind("gguf-info: ", 0), 0u) << none;
}

}  // namespace
