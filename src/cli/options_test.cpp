#include "cli/options.h"

#include <gtest/gtest.h>

#include "util/error.h"

using namespace ds4;
using namespace ds4::cli;

namespace {
Options parse(std::vector<const char*> args) {
    args.insert(args.begin(), "ds4");
    return parse_options((int)args.size(), args.data());
}
}  // namespace

TEST(CliOptions, Defaults) {
    Options o = parse({});
    EXPECT_EQ(o.model, "ds4flash.gguf");
    EXPECT_FLOAT_EQ(o.temp, 1.0f);
    EXPECT_FLOAT_EQ(o.top_p, 1.0f);
    EXPECT_FLOAT_EQ(o.min_p, 0.05f);
    EXPECT_EQ(o.top_k, 0);
    EXPECT_EQ(o.think, ThinkMode::Think);
    EXPECT_EQ(o.numerics, Numerics::Official);
    EXPECT_FALSE(o.has_prompt);
}

TEST(CliOptions, AllFlags) {
    Options o = parse({"-m", "x.gguf", "-p", "hi", "-n", "32", "-c", "4096", "-t", "2", "--temp", "0",
                       "--top-p", "0.9", "--top-k", "40", "--min-p", "0.1", "--seed", "7", "--nothink",
                       "--experts", "4", "--system", "be brief", "--numerics=fp32", "--ubatch", "7"});
    EXPECT_EQ(o.model, "x.gguf");
    EXPECT_EQ(o.prompt, "hi");
    EXPECT_EQ(o.n_predict, 32);
    EXPECT_EQ(o.n_ctx, 4096);
    EXPECT_EQ(o.n_threads, 2);
    EXPECT_FLOAT_EQ(o.temp, 0.0f);
    EXPECT_EQ(o.top_k, 40);
    EXPECT_EQ(o.seed, 7u);
    EXPECT_TRUE(o.has_seed);
    EXPECT_EQ(o.think, ThinkMode::NoThink);
    EXPECT_EQ(o.experts, 4);
    EXPECT_EQ(o.system, "be brief");
    EXPECT_EQ(o.numerics, Numerics::Fp32);
    EXPECT_EQ(o.ubatch, 7);
}

TEST(CliOptions, Diagnostics) {
    Options o = parse({"--prompt-tokens", "0,5,7", "--dump-logits", "o.f32", "--decode-from", "2"});
    EXPECT_EQ(o.prompt_tokens, (std::vector<int32_t>{0, 5, 7}));
    EXPECT_EQ(o.dump_logits, "o.f32");
    EXPECT_EQ(o.decode_from, 2);
}

TEST(CliOptions, BadInputIsAnError) {
    EXPECT_THROW(parse({"--bogus"}), Error);
    EXPECT_THROW(parse({"-n"}), Error);
    EXPECT_THROW(parse({"-n", "abc"}), Error);
    EXPECT_THROW(parse({"--temp", "-1"}), Error);
    EXPECT_THROW(parse({"--top-p", "2"}), Error);
    EXPECT_THROW(parse({"--numerics", "fp16"}), Error);
    EXPECT_THROW(parse({"--prompt-tokens", "1,x"}), Error);
    EXPECT_THROW(parse({"--prompt-tokens", ""}), Error);
    EXPECT_THROW(parse({"--dump-logits", "a"}), Error);
    EXPECT_THROW(parse({"-c", "0"}), Error);
    try {
        parse({"--bogus"});
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("--bogus"), std::string::npos);
    }
}
