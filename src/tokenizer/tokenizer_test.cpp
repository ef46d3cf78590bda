// Tokenizer tests: official vectors (shared/vectors/tokenizer), HF loading, pre-tokenizer
// splits, Unicode classes and the UTF-8 streamer.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>

#include "gguf/gguf.h"
#include "tests/test_paths.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"
#include "util/error.h"
#include "util/json.h"

namespace ds4 {
namespace {

constexpr int64_t kV4VocabSize = 129280;

std::string tok_dir() { return test::shared_dir() + "/vectors/tokenizer"; }

// Skips (DS4_ALLOW_MISSING_VECTORS=1) or fails when a vector file is missing.
#define REQUIRE_FILE(path)                                                              \
    do {                                                                                \
        if (!test::path_exists(path)) {                                                 \
            if (test::allow_missing_vectors()) GTEST_SKIP() << "missing " << (path);    \
            FAIL() << "missing test vectors: " << (path)                                \
                   << " (set DS4_SHARED, or DS4_ALLOW_MISSING_VECTORS=1)";              \
        }                                                                               \
    } while (0)

struct Case {
    std::string text;
    std::vector<int32_t> ids;
    std::string cat;
};

std::vector<Case> load_cases(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<Case> out;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const json::Value v = json::parse(line);
        Case c;
        c.text = v.find("text")->as_string("text");
        for (const json::Value& id : v.find("ids")->as_array("ids")) c.ids.push_back(int32_t(id.as_int("id")));
        if (const json::Value* cat = v.find("cat")) c.cat = cat->str;
        out.push_back(std::move(c));
    }
    return out;
}

std::string ids_str(const std::vector<int32_t>& ids) {
    std::string s = "[";
    for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
    return s + "]";
}

// Runs every case; returns the number that match exactly (and round-trip).
size_t run_cases(const Tokenizer& tok, const std::vector<Case>& cases, const char* label) {
    size_t ok = 0;
    for (size_t i = 0; i < cases.size(); ++i) {
        const Case& c = cases[i];
        const std::vector<int32_t> got = tok.encode(c.text);
        EXPECT_EQ(got, c.ids) << label << " case " << i << " (" << c.cat << ") " << json::quote(c.text)
                              << "\n  expected " << ids_str(c.ids) << "\n  got      " << ids_str(got);
        EXPECT_EQ(tok.decode(c.ids), c.text) << label << " case " << i << " does not round-trip";
        if (got == c.ids && tok.decode(got) == c.text) ++ok;
    }
    return ok;
}

const HfVocab& v3_vocab() {
    static const HfVocab v = load_hf_tokenizer(tok_dir() + "/deepseek_v3_tokenizer.json",
                                               tok_dir() + "/deepseek_v3_tokenizer_config.json", kV4VocabSize);
    return v;
}
const Tokenizer& v3_tokenizer() {
    static const Tokenizer t = [] {
        const HfVocab& v = v3_vocab();
        return Tokenizer::from_vocab(v.tokens, v.merges, v.token_types);
    }();
    return t;
}

// V3 vocab with the V4 delta added tokens (v4_delta/deepseek_v4_added_tokens_delta.json).
const Tokenizer& v3_plus_delta_tokenizer() {
    static const Tokenizer t = [] {
        HfVocab v = v3_vocab();
        std::ifstream in(tok_dir() + "/v4_delta/deepseek_v4_added_tokens_delta.json", std::ios::binary);
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const json::Value doc = json::parse(text);
        for (const json::Value& e : doc.find("tokens")->as_array("tokens")) {
            const int64_t id = e.find("id")->as_int("id");
            const std::string& content = e.find("content")->as_string("content");
            if (id < 0 || id >= int64_t(v.tokens.size())) throw Error("delta id out of range");
            if (v.token_types[size_t(id)] != kTokenUnused) throw Error("delta id already assigned");
            v.tokens[size_t(id)] = content;
            v.token_types[size_t(id)] = kTokenControl;
        }
        return Tokenizer::from_vocab(v.tokens, v.merges, v.token_types);
    }();
    return t;
}

// ---------------------------------------------------------------------------------------
TEST(TokenizerVectors, PublicV3) {
    const std::string path = tok_dir() + "/public.jsonl";
    REQUIRE_FILE(path);
    REQUIRE_FILE(tok_dir() + "/deepseek_v3_tokenizer.json");
    const std::vector<Case> cases = load_cases(path);
    ASSERT_EQ(cases.size(), 413u);
    const size_t ok = run_cases(v3_tokenizer(), cases, "public.jsonl");
    EXPECT_EQ(ok, cases.size());
    std::printf("[tokenizer] public.jsonl: %zu / %zu cases pass\n", ok, cases.size());
}

TEST(TokenizerVectors, PublicV3WithV4Delta) {
    // The V4 added tokens must not change anything in the V3 cases.
    const std::string path = tok_dir() + "/public.jsonl";
    REQUIRE_FILE(path);
    REQUIRE_FILE(tok_dir() + "/v4_delta/deepseek_v4_added_tokens_delta.json");
    const std::vector<Case> cases = load_cases(path);
    EXPECT_EQ(run_cases(v3_plus_delta_tokenizer(), cases, "public.jsonl+delta"), cases.size());
}

TEST(TokenizerVectors, V4Special) {
    const std::string path = tok_dir() + "/v4_delta/public_v4_special.jsonl";
    REQUIRE_FILE(path);
    REQUIRE_FILE(tok_dir() + "/v4_delta/deepseek_v4_added_tokens_delta.json");
    const std::vector<Case> cases = load_cases(path);
    ASSERT_EQ(cases.size(), 14u);
    const size_t ok = run_cases(v3_plus_delta_tokenizer(), cases, "public_v4_special.jsonl");
    EXPECT_EQ(ok, cases.size());
    std::printf("[tokenizer] public_v4_special.jsonl: %zu / %zu cases pass\n", ok, cases.size());
    // Under V3 alone these strings are plain text.
    EXPECT_EQ(v3_tokenizer().encode("<think>"), (std::vector<int32_t>{30, 37947, 32}));
}

TEST(TokenizerVectors, V4TokenizerJson) {
    // deepseek_v4_tokenizer.json (V4's own file, 1283 added tokens) must agree on all cases.
    const std::string json_path = tok_dir() + "/deepseek_v4_tokenizer.json";
    REQUIRE_FILE(json_path);
    const HfVocab v = load_hf_tokenizer(json_path, "", kV4VocabSize);
    const Tokenizer tok = Tokenizer::from_vocab(v.tokens, v.merges, v.token_types);
    EXPECT_EQ(tok.n_vocab(), size_t(kV4VocabSize));
    EXPECT_EQ(tok.find_token("<think>"), 128821);
    EXPECT_EQ(tok.find_token("</think>"), 128822);
    EXPECT_EQ(tok.find_token("｜DSML｜"), 128825);
    EXPECT_EQ(tok.find_token("<｜latest_reminder｜>"), 128828);
    EXPECT_EQ(tok.find_token("<｜image｜>"), 129279);
    for (const char* f : {"/public.jsonl", "/v4_delta/public_v4_special.jsonl"}) {
        const std::vector<Case> cases = load_cases(tok_dir() + f);
        EXPECT_EQ(run_cases(tok, cases, f), cases.size());
    }
}

TEST(TokenizerVectors, NoTokenTypesFallsBackToShape) {
    // Without a token_type array, <｜…｜>/<|…|> and the V4 chat tokens are the added tokens.
    const std::string path = tok_dir() + "/public.jsonl";
    REQUIRE_FILE(path);
    const HfVocab& v = v3_vocab();
    const Tokenizer tok = Tokenizer::from_vocab(v.tokens, v.merges, {});
    const std::vector<Case> cases = load_cases(path);
    EXPECT_EQ(run_cases(tok, cases, "public.jsonl (no types)"), cases.size());
}

TEST(TokenizerVectors, TinyModelTokenizers) {
    const std::string base = test::shared_dir() + "/vectors/oracle";
    int loaded = 0;
    for (const char* sub : {"/public/hf_topk6", "/public/hf_topk4", "/publicq/hf_topk6", "/publicq/hf_topk4"}) {
        const std::string dir = base + sub;
        if (!test::path_exists(dir + "/tokenizer.json")) continue;
        const HfVocab v = load_hf_tokenizer(dir + "/tokenizer.json", dir + "/tokenizer_config.json", 4096);
        EXPECT_EQ(v.bos_id, 0);
        EXPECT_EQ(v.eos_id, 1);
        const Tokenizer tok = Tokenizer::from_vocab(v.tokens, v.merges, v.token_types);
        EXPECT_EQ(tok.n_vocab(), 4096u);
        EXPECT_EQ(tok.bos(), 0);
        EXPECT_EQ(tok.eos(), 1);
        EXPECT_EQ(tok.n_merges(), v.merges.size());
        const int32_t user = tok.find_token("<｜User｜>"), asst = tok.find_token("<｜Assistant｜>");
        const int32_t think = tok.find_token("<think>");
        ASSERT_GE(user, 0);
        ASSERT_GE(think, 0);
        const std::string text = "<｜begin▁of▁sentence｜><｜User｜>Hello, wörld 12345 你好！<｜Assistant｜><think>";
        const std::vector<int32_t> ids = tok.encode(text);
        ASSERT_GE(ids.size(), 5u);
        EXPECT_EQ(ids[0], 0);
        EXPECT_EQ(ids[1], user);
        EXPECT_EQ(ids[ids.size() - 2], asst);
        EXPECT_EQ(ids.back(), think);
        EXPECT_EQ(tok.decode(ids), text);
        for (int32_t id : ids) EXPECT_LT(id, 4096);
        ++loaded;
    }
    if (loaded == 0 && !test::allow_missing_vectors()) FAIL() << "no tiny-model tokenizer.json under " << base;
}

// ---------------------------------------------------------------------------------------
// from_gguf over a GGUF tokenizer section written like deepseek4-quantize writes it.
void write_vocab_gguf(const std::string& path, const HfVocab& v, bool with_types) {
    gguf::Writer w;
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "joyai-llm");
    w.set_array_string("tokenizer.ggml.tokens", v.tokens);
    if (with_types) w.set_array_i32("tokenizer.ggml.token_type", v.token_types);
    w.set_array_string("tokenizer.ggml.merges", v.merges);
    w.begin(path);
    w.finish();
}

TEST(TokenizerGguf, RoundTripMatchesFromVocab) {
    const std::string path = tok_dir() + "/public.jsonl";
    REQUIRE_FILE(path);
    const std::string gguf_path = test::tmp_dir() + "/tokenizer_v3.gguf";
    write_vocab_gguf(gguf_path, v3_vocab(), true);
    const std::unique_ptr<gguf::File> f = gguf::File::open(gguf_path);
    const Tokenizer tok = Tokenizer::from_gguf(*f);
    EXPECT_EQ(tok.n_vocab(), size_t(kV4VocabSize));
    EXPECT_EQ(tok.n_merges(), v3_tokenizer().n_merges());
    EXPECT_EQ(tok.bos(), 0);
    EXPECT_EQ(tok.eos(), 1);
    for (int32_t id = 0; id < int32_t(tok.n_vocab()); ++id) {
        ASSERT_EQ(tok.token_bytes(id), v3_tokenizer().token_bytes(id)) << id;
        ASSERT_EQ(tok.token_type(id), v3_tokenizer().token_type(id)) << id;
    }
    const std::vector<Case> cases = load_cases(path);
    EXPECT_EQ(run_cases(tok, cases, "public.jsonl via GGUF"), cases.size());
}

TEST(TokenizerGguf, MissingAndBadKeys) {
    const std::string dir = test::tmp_dir();
    const HfVocab small{{"a", "b", "ab", "<｜User｜>"}, {"a b"}, {1, 1, 1, 3}, -1, -1};
    {   // no token_type: shape decides; merges still apply
        write_vocab_gguf(dir + "/tok_notypes.gguf", small, false);
        const Tokenizer t = Tokenizer::from_gguf(*gguf::File::open(dir + "/tok_notypes.gguf"));
        EXPECT_EQ(t.encode("ab<｜User｜>"), (std::vector<int32_t>{2, 3}));
    }
    auto expect_error = [](const std::string& p, const std::string& needle) {
        try {
            (void)Tokenizer::from_gguf(*gguf::File::open(p));
            ADD_FAILURE() << "no error for " << p;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    };
    {
        gguf::Writer w;
        w.set_array_string("tokenizer.ggml.merges", small.merges);
        w.begin(dir + "/tok_notokens.gguf");
        w.finish();
        expect_error(dir + "/tok_notokens.gguf", "tokenizer.ggml.tokens");
    }
    {
        gguf::Writer w;
        w.set_array_string("tokenizer.ggml.tokens", small.tokens);
        w.begin(dir + "/tok_nomerges.gguf");
        w.finish();
        expect_error(dir + "/tok_nomerges.gguf", "tokenizer.ggml.merges");
    }
    {
        gguf::Writer w;
        w.set_array_string("tokenizer.ggml.tokens", small.tokens);
        w.set_array_string("tokenizer.ggml.merges", small.merges);
        w.set_array_i32("tokenizer.ggml.token_type", {1, 1});
        w.begin(dir + "/tok_badtypes.gguf");
        w.finish();
        expect_error(dir + "/tok_badtypes.gguf", "tokenizer.ggml.token_type");
    }
    {
        gguf::Writer w;
        w.set_string("tokenizer.ggml.tokens", "a");
        w.set_array_string("tokenizer.ggml.merges", small.merges);
        w.begin(dir + "/tok_wrongtype.gguf");
        w.finish();
        expect_error(dir + "/tok_wrongtype.gguf", "tokenizer.ggml.tokens");
    }
    {
        gguf::Writer w;
        w.set_array_string("tokenizer.ggml.tokens", small.tokens);
        w.set_array_string("tokenizer.ggml.merges", {"a b", "ab"});
        w.begin(dir + "/tok_badmerge.gguf");
        w.finish();
        expect_error(dir + "/tok_badmerge.gguf", "tokenizer.ggml.merges[1]");
    }
}

// ---------------------------------------------------------------------------------------
TEST(TokenizerHf, V3Layout) {
    REQUIRE_FILE(tok_dir() + "/deepseek_v3_tokenizer.json");
    const HfVocab& v = v3_vocab();
    ASSERT_EQ(v.tokens.size(), size_t(kV4VocabSize));
    EXPECT_EQ(v.merges.size(), 127741u);
    EXPECT_EQ(v.merges[0], "Ġ t");
    EXPECT_EQ(v.bos_id, 0);
    EXPECT_EQ(v.eos_id, 1);
    const std::vector<int32_t> head(v.token_types.begin(), v.token_types.begin() + 5);
    EXPECT_EQ(head, (std::vector<int32_t>{3, 3, 3, 1, 1}));
    EXPECT_EQ(v.token_types[128000], kTokenControl);   // place holder, special
    EXPECT_EQ(v.token_types[128800], kTokenControl);   // <｜fim▁hole｜>: not special, but <｜…｜>
    EXPECT_EQ(v.tokens[128805], "<|EOT|>");
    EXPECT_EQ(v.token_types[128805], kTokenControl);
    EXPECT_EQ(v.tokens[128815], "[PAD128815]");
    EXPECT_EQ(v.token_types[128815], kTokenUnused);
    EXPECT_EQ(v.token_types[kV4VocabSize - 1], kTokenUnused);

    const Tokenizer& tok = v3_tokenizer();
    EXPECT_EQ(tok.bos(), 0);
    EXPECT_EQ(tok.eos(), 1);
    EXPECT_EQ(tok.n_merges(), 127741u);
    EXPECT_EQ(tok.find_token("<｜User｜>"), 128803);
    EXPECT_EQ(tok.find_token("<｜Assistant｜>"), 128804);
    EXPECT_EQ(tok.find_token("<｜nope｜>"), -1);
    EXPECT_EQ(tok.token_bytes(128803), "<｜User｜>");
    EXPECT_EQ(tok.token_bytes(223), " ");      // "Ġ"
    EXPECT_EQ(tok.token_bytes(201), "\n");     // "Ċ"
    EXPECT_EQ(tok.token_bytes(128815), "[PAD128815]");
    EXPECT_THROW(tok.token_bytes(kV4VocabSize), Error);
    EXPECT_THROW(tok.token_bytes(-1), Error);
    EXPECT_THROW(tok.decode({5, -3}), Error);
    // Filler tokens are not matched in text.
    const std::vector<int32_t> pad = tok.encode("[PAD128815]");
    EXPECT_TRUE(std::find(pad.begin(), pad.end(), 128815) == pad.end());
}

TEST(TokenizerHf, ParseSpecialOff) {
    REQUIRE_FILE(tok_dir() + "/deepseek_v3_tokenizer.json");
    const Tokenizer& tok = v3_tokenizer();
    const std::string text = "<｜User｜>Hi<｜Assistant｜>";
    EXPECT_EQ(tok.encode(text), (std::vector<int32_t>{128803, 23166, 128804}));
    const std::vector<int32_t> plain = tok.encode(text, /*parse_special=*/false);
    for (int32_t id : plain) EXPECT_FALSE(tok.is_added(id)) << id;
    EXPECT_EQ(tok.decode(plain), text);
    // Leftmost-longest among overlapping added tokens; partial prefixes are plain text.
    EXPECT_EQ(tok.encode("<｜User｜"), tok.encode("<｜User｜", false));
}

TEST(TokenizerHf, SmallJsonArrayMergesAndErrors) {
    const std::string dir = test::tmp_dir();
    const std::string path = dir + "/tok_small.json";
    {
        std::ofstream out(path, std::ios::binary);
        // bytes "a", "b", "Ġ" plus "ab", "Ġab"; merges in both accepted forms; an added
        // non-special token beyond the vocab, leaving a gap at id 6.
        out << R"({"added_tokens":[{"id":0,"content":"<｜begin▁of▁sentence｜>","special":true},)"
            << R"({"id":7,"content":"<tool>","special":false}],)"
            << R"("model":{"type":"BPE","vocab":{"<｜begin▁of▁sentence｜>":0,"a":1,"b":2,"Ġ":3,"ab":4,"Ġab":5},)"
            << R"("merges":["a b",["Ġ","ab"]]}})";
    }
    const HfVocab v = load_hf_tokenizer(path, "", 10);
    ASSERT_EQ(v.tokens.size(), 10u);
    EXPECT_EQ(v.merges, (std::vector<std::string>{"a b", "Ġ ab"}));
    EXPECT_EQ(v.tokens[6], "[PAD6]");
    EXPECT_EQ(v.token_types[6], kTokenUnused);
    EXPECT_EQ(v.tokens[7], "<tool>");
    EXPECT_EQ(v.token_types[7], kTokenUserDefined);
    EXPECT_EQ(v.token_types[0], kTokenControl);
    EXPECT_EQ(v.bos_id, 0);
    EXPECT_EQ(v.eos_id, -1);
    EXPECT_THROW(load_hf_tokenizer(path, "", 5), Error);  // ids up to 7 do not fit
    EXPECT_THROW(load_hf_tokenizer(dir + "/does_not_exist.json", "", 0), Error);

    const Tokenizer tok = Tokenizer::from_vocab(v.tokens, v.merges, v.token_types);
    EXPECT_EQ(tok.encode("ab ab<tool>a"), (std::vector<int32_t>{4, 5, 7, 1}));
    EXPECT_EQ(tok.decode({4, 5, 7, 1}), "ab ab<tool>a");
    // Bytes without a token are dropped (no byte fallback in such a vocab).
    EXPECT_EQ(tok.encode("axb"), (std::vector<int32_t>{1, 2}));

    EXPECT_THROW(Tokenizer::from_vocab({}, {}, {}), Error);
    EXPECT_THROW(Tokenizer::from_vocab({"a", "b", "ab"}, {"ab"}, {}), Error);        // no space
    EXPECT_THROW(Tokenizer::from_vocab({"a", "b", "ab"}, {"a b"}, {1, 1}), Error);   // types length
    // Merges that cannot apply are ignored.
    const Tokenizer t2 = Tokenizer::from_vocab({"a", "b", "ab"}, {"a c", "a b", "b b"}, {});
    EXPECT_EQ(t2.n_merges(), 1u);
    EXPECT_EQ(t2.encode("abb"), (std::vector<int32_t>{2, 1}));
}

TEST(TokenizerHf, MergeRankOrderAndTies) {
    // "a a" rank 0, "aa a" rank 1: "aaa" -> (aa)(a) -> aaa; ties go leftmost.
    const Tokenizer t = Tokenizer::from_vocab({"a", "b", "aa", "aaa", "ab"}, {"a a", "aa a", "a b"}, {});
    EXPECT_EQ(t.encode("aaa"), (std::vector<int32_t>{3}));
    EXPECT_EQ(t.encode("aaaa"), (std::vector<int32_t>{2, 2}));
    EXPECT_EQ(t.encode("aab"), (std::vector<int32_t>{2, 1}));  // "a a" outranks "a b"
    EXPECT_EQ(t.bos(), -1);
}

TEST(TokenizerHf, LongPieces) {
    // >= 256 bytes uses the radix queue when merges are monotone (as here) ...
    const Tokenizer mono = Tokenizer::from_vocab({"a", "aa", "aaaa"}, {"a a", "aa aa"}, {});
    std::vector<int32_t> want(75, 2);
    EXPECT_EQ(mono.encode(std::string(300, 'a')), want);
    want.push_back(0);
    EXPECT_EQ(mono.encode(std::string(301, 'a')), want);
    // ... and the binary heap otherwise ("ab c" ranks before "a b", which makes "ab").
    const Tokenizer non = Tokenizer::from_vocab({"a", "b", "c", "ab", "abc"}, {"ab c", "a b"}, {});
    std::string text;
    for (int i = 0; i < 100; ++i) text += "abc";
    EXPECT_EQ(non.encode(text), std::vector<int32_t>(100, 4));
    EXPECT_EQ(non.encode("abcab"), (std::vector<int32_t>{4, 3}));
}

// ---------------------------------------------------------------------------------------
std::vector<std::string> pieces(std::string_view text) {
    std::vector<PieceSpan> spans;
    pretokenize(text, spans);
    std::vector<std::string> out;
    size_t pos = 0;
    for (const PieceSpan& p : spans) {
        EXPECT_EQ(p.off, pos);
        pos += p.len;
        out.emplace_back(text.substr(p.off, p.len));
    }
    EXPECT_EQ(pos, text.size());
    return out;
}
using Pieces = std::vector<std::string>;

TEST(TokenizerPretokenizer, Splits) {
    EXPECT_EQ(pieces(""), Pieces{});
    EXPECT_EQ(pieces("Hello world"), (Pieces{"Hello", " world"}));
    EXPECT_EQ(pieces("    int x;"), (Pieces{"   ", " int", " x", ";"}));
    EXPECT_EQ(pieces("1234567"), (Pieces{"123", "456", "7"}));
    EXPECT_EQ(pieces("ab12cd"), (Pieces{"ab", "12", "cd"}));
    EXPECT_EQ(pieces("。\n"), (Pieces{"。\n"}));
    EXPECT_EQ(pieces(">;\n\nx"), (Pieces{">;\n\n", "x"}));
    EXPECT_EQ(pieces("a  \n b"), (Pieces{"a", "  \n", " b"}));
    EXPECT_EQ(pieces("a \n\n  "), (Pieces{"a", " \n\n", "  "}));
    EXPECT_EQ(pieces("x   "), (Pieces{"x", "   "}));
    EXPECT_EQ(pieces("x ~y"), (Pieces{"x", " ~", "y"}));             // ~ is \p{S}
    EXPECT_EQ(pieces(".Net's"), (Pieces{".Net", "'s"}));
    EXPECT_EQ(pieces("你好世界ab"), (Pieces{"你好世界", "ab"}));
    EXPECT_EQ(pieces("한국어"), (Pieces{"한국어"}));                   // Hangul is not isolated
    EXPECT_EQ(pieces("٠١٢٣"), (Pieces{"٠١٢", "٣"}));
    EXPECT_EQ(pieces("e\xCC\x81t\xC3\xA9"), (Pieces{"e\xCC\x81t\xC3\xA9"}));  // marks join letters
    EXPECT_EQ(pieces("\xCC\x81"), (Pieces{"\xCC\x81"}));                     // lone mark
    EXPECT_EQ(pieces("3x"), (Pieces{"3", "x"}));
    // U+0085 is \s (Oniguruma), U+FEFF is not.
    EXPECT_EQ(pieces(". \xC2\x85 "), (Pieces{".", " \xC2\x85 "}));
    EXPECT_EQ(pieces("a\xEF\xBB\xBF" "b"), (Pieces{"a", "\xEF\xBB\xBF" "b"}));
    // Invalid UTF-8 bytes are single Other characters; nothing is lost.
    EXPECT_EQ(pieces("a\xFF\xFE b"), (Pieces{"a", "\xFF\xFE", " b"}));
}

TEST(TokenizerUnicode, Classes) {
    using unicode::CharClass;
    using unicode::char_class;
    EXPECT_EQ(char_class('a'), CharClass::Letter);
    EXPECT_EQ(char_class('5'), CharClass::Number);
    EXPECT_EQ(char_class('~'), CharClass::Symbol);
    EXPECT_EQ(char_class('$'), CharClass::Symbol);
    EXPECT_EQ(char_class('_'), CharClass::Punct);
    EXPECT_EQ(char_class(' '), CharClass::Space);
    EXPECT_EQ(char_class(0x85), CharClass::Space);
    EXPECT_EQ(char_class(0xA0), CharClass::Space);
    EXPECT_EQ(char_class(0x3000), CharClass::Space);
    EXPECT_EQ(char_class(0xFEFF), CharClass::Other);
    EXPECT_EQ(char_class(0x200B), CharClass::Other);
    EXPECT_EQ(char_class(0x0301), CharClass::Mark);
    EXPECT_EQ(char_class(0x00BD), CharClass::Number);   // ½
    EXPECT_EQ(char_class(0x216B), CharClass::Number);   // Ⅻ
    EXPECT_EQ(char_class(0x1D7CE), CharClass::Number);  // math digit zero
    EXPECT_EQ(char_class(0x1F600), CharClass::Symbol);  // emoji
    EXPECT_EQ(char_class(0x20000), CharClass::Letter);  // CJK Ext B
    EXPECT_EQ(char_class(0xFF0C), CharClass::Punct);    // ，
    EXPECT_EQ(char_class(0xE000), CharClass::Other);    // private use
    EXPECT_EQ(char_class(0x10FFFF), CharClass::Other);
    EXPECT_EQ(char_class(0x110041), CharClass::Other);  // invalid-byte pseudo code point
}

// ---------------------------------------------------------------------------------------
TEST(TokenizerUtf8Streamer, SplitsAtEveryBoundary) {
    const std::string text = "a\xC3\xA9\xE4\xBD\xA0\xF0\x9F\x98\x80z<｜User｜>";
    for (size_t cut1 = 0; cut1 <= text.size(); ++cut1) {
        for (size_t cut2 = cut1; cut2 <= text.size(); ++cut2) {
            Utf8Streamer s;
            std::string out;
            for (std::string_view part : {std::string_view(text).substr(0, cut1),
                                          std::string_view(text).substr(cut1, cut2 - cut1),
                                          std::string_view(text).substr(cut2)}) {
                const std::string got = s.push(part);
                // Every emitted chunk is whole characters.
                for (size_t i = 0; i < got.size();) {
                    uint32_t cp;
                    const int len = unicode::decode_utf8(got, i, cp);
                    ASSERT_LT(cp, 0x110000u) << "cut " << cut1 << "," << cut2;
                    i += size_t(len);
                }
                out += got;
            }
            EXPECT_EQ(s.flush(), "");
            EXPECT_EQ(out, text);
        }
    }
}

TEST(TokenizerUtf8Streamer, HoldsBackAndFlushesInvalid) {
    Utf8Streamer s;
    EXPECT_EQ(s.push("x\xE4\xBD"), "x");
    EXPECT_EQ(s.push("\xA0"), "\xE4\xBD\xA0");
    // A stray continuation byte and bytes that can never start a character pass through.
    EXPECT_EQ(s.push("\x80\xFF" "a"), "\x80\xFF" "a");
    // A lead byte followed by a non-continuation is emitted at once.
    EXPECT_EQ(s.push("\xE4" "b"), "\xE4" "b");
    EXPECT_EQ(s.push("\xE4\xBD" "c"), "\xE4\xBD" "c");
    // Overlong / surrogate second bytes are known bad without waiting.
    EXPECT_EQ(s.push("\xE0\x80"), "\xE0\x80");
    EXPECT_EQ(s.push("\xED\xA0"), "\xED\xA0");
    // An incomplete sequence at the end comes out on flush.
    EXPECT_EQ(s.push("\xF0\x9F\x98"), "");
    EXPECT_EQ(s.flush(), "\xF0\x9F\x98");
    EXPECT_EQ(s.flush(), "");
    EXPECT_EQ(s.push(""), "");
}

TEST(TokenizerUtf8Streamer, DecodesTokenStream) {
    REQUIRE_FILE(tok_dir() + "/deepseek_v3_tokenizer.json");
    const Tokenizer& tok = v3_tokenizer();
    const std::string text = "Emoji 😀👍🏽, CJK 你好，世界, accents naïve — done.";
    Utf8Streamer s;
    std::string out;
    for (int32_t id : tok.encode(text)) out += s.push(tok.token_bytes(id));
    out += s.flush();
    EXPECT_EQ(out, text);
}

}  // namespace
}  // namespace ds4
