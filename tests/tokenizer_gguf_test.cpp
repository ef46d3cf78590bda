// The tokenizer as users get it: a GGUF whose vocab deepseek4-quantize converted from the
// shipped tokenizer.json, read back by Tokenizer::from_gguf and by ./ds4 --tokenize.
// Every case of the official vectors must match exactly.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "gguf/gguf.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "util/json.h"

using namespace ds4;
using namespace ds4::test;

namespace {

struct Case {
    std::string text;
    std::vector<int32_t> ids;
};

std::vector<Case> read_cases(const std::string& path) {
    std::vector<Case> out;
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
        if (line.empty()) continue;
        json::Value v = json::parse(line);
        Case c;
        c.text = v.find("text")->as_string();
        for (const auto& x : v.find("ids")->as_array()) c.ids.push_back((int32_t)x.as_int());
        out.push_back(std::move(c));
    }
    return out;
}

// Converts tokenizer.json (+ config) into a vocab-only GGUF with the real tool.
std::string vocab_gguf(const std::string& tag, const std::string& tokenizer_json, const std::string& config) {
    std::string dir = tmp_dir() + "/vocab-" + tag;
    std::string out = tmp_dir() + "/vocab-" + tag + ".gguf";
    run("rm -rf " + dir + " && mkdir -p " + dir);
    run("ln -s \"$(realpath " + tokenizer_json + ")\" " + dir + "/tokenizer.json");
    if (!config.empty()) run("ln -s \"$(realpath " + config + ")\" " + dir + "/tokenizer_config.json");
    RunResult r = run("gguf-tools/deepseek4-quantize --quiet --vocab-only --overwrite --hf " + dir + " --out " + out);
    EXPECT_EQ(r.code, 0) << r.err;
    return r.code == 0 ? out : "";
}

std::string tok_dir() { return shared_dir() + "/vectors/tokenizer"; }

bool have_vectors() {
    if (path_exists(tok_dir() + "/public.jsonl")) return true;
    if (!allow_missing_vectors()) ADD_FAILURE() << "tokenizer vectors missing under " << tok_dir();
    return false;
}

void check_all(const Tokenizer& tok, const std::vector<Case>& cases, const char* what) {
    int bad = 0;
    for (const Case& c : cases) {
        std::vector<int32_t> got = tok.encode(c.text, true);
        if (got != c.ids && bad++ < 5) ADD_FAILURE() << what << ": mismatch for " << json::quote(c.text);
        if (tok.decode(c.ids) != c.text && bad++ < 5) ADD_FAILURE() << what << ": decode mismatch " << json::quote(c.text);
    }
    EXPECT_EQ(bad, 0);
    printf("[ %s: %zu/%zu cases exact ]\n", what, cases.size() - (size_t)bad, cases.size());
}

}  // namespace

TEST(TokenizerGguf, V3VectorsThroughQuantizerVocab) {
    if (!have_vectors()) GTEST_SKIP();
    std::string g = vocab_gguf("v3", tok_dir() + "/deepseek_v3_tokenizer.json", tok_dir() + "/deepseek_v3_tokenizer_config.json");
    ASSERT_FALSE(g.empty());
    auto f = gguf::File::open(g);
    Tokenizer tok = Tokenizer::from_gguf(*f);
    EXPECT_EQ(tok.bos(), 0);
    EXPECT_EQ(tok.eos(), 1);
    check_all(tok, read_cases(tok_dir() + "/public.jsonl"), "public.jsonl via GGUF");
}

TEST(TokenizerGguf, V4SpecialVectorsThroughQuantizerVocab) {
    if (!have_vectors()) GTEST_SKIP();
    std::string g = vocab_gguf("v4", tok_dir() + "/deepseek_v4_tokenizer.json", "");
    ASSERT_FALSE(g.empty());
    auto f = gguf::File::open(g);
    Tokenizer tok = Tokenizer::from_gguf(*f);
    EXPECT_EQ(tok.find_token("<think>"), 128821);
    EXPECT_EQ(tok.find_token("</think>"), 128822);
    check_all(tok, read_cases(tok_dir() + "/v4_delta/public_v4_special.jsonl"), "v4 specials via GGUF");
    check_all(tok, read_cases(tok_dir() + "/public.jsonl"), "public.jsonl via V4 GGUF");
}

TEST(TokenizerGguf, CliTokenizeAndDetokenize) {
    if (!have_vectors()) GTEST_SKIP();
    std::string g = vocab_gguf("v3", tok_dir() + "/deepseek_v3_tokenizer.json", tok_dir() + "/deepseek_v3_tokenizer_config.json");
    ASSERT_FALSE(g.empty());
    std::vector<Case> cases = read_cases(tok_dir() + "/public.jsonl");
    int checked = 0;
    for (size_t i = 0; i < cases.size(); i += 83) {  // a spread of categories, as a user runs it
        const Case& c = cases[i];
        if (c.text.find('\0') != std::string::npos) continue;
        RunResult r = run("./ds4 -m " + g + " --tokenize", c.text);
        ASSERT_EQ(r.code, 0) << r.err;
        std::string want;
        for (size_t k = 0; k < c.ids.size(); k++) want += (k ? " " : "") + std::to_string(c.ids[k]);
        EXPECT_EQ(r.out, want + "\n") << json::quote(c.text);
        RunResult d = run("./ds4 -m " + g + " --detokenize", r.out);
        ASSERT_EQ(d.code, 0) << d.err;
        EXPECT_EQ(d.out, c.text);
        checked++;
    }
    EXPECT_GE(checked, 4);
    RunResult bad = run("./ds4 -m " + g + " --detokenize", "1 2 99999999");
    EXPECT_NE(bad.code, 0);
}
