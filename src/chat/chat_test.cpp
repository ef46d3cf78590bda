#include "chat/chat.h"

#include <gtest/gtest.h>

#include "util/error.h"

using namespace ds4::chat;

namespace {
const std::string BOS = "<｜begin▁of▁sentence｜>";
const std::string EOS = "<｜end▁of▁sentence｜>";
const std::string U = "<｜User｜>";
const std::string A = "<｜Assistant｜>";
}  // namespace

TEST(ChatRender, SingleTurnNonThinking) {
    EXPECT_EQ(render_single("", "Hi", ThinkMode::None), BOS + U + "Hi" + A + "</think>");
}

TEST(ChatRender, SingleTurnThinkingWithSystem) {
    EXPECT_EQ(render_single("Be brief.", "What is 2+2?", ThinkMode::High),
              BOS + "Be brief." + U + "What is 2+2?" + A + "<think>");
}

TEST(ChatRender, ThinkMaxPrefixAfterBosBeforeSystem) {
    const std::string prefix =
        "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
        "You MUST be very thorough in your thinking and comprehensively decompose the problem to "
        "resolve the root cause, rigorously stress-testing your logic against all potential paths, "
        "edge cases, and adversarial scenarios.\n"
        "Explicitly write out your entire deliberation process, documenting every intermediate "
        "step, considered alternative, and rejected hypothesis to ensure absolutely no assumption "
        "is left unchecked.\n\n";
    EXPECT_EQ(std::string(think_max_prefix()), prefix);
    EXPECT_EQ(render_single("SYS", "Q", ThinkMode::Max), BOS + prefix + "SYS" + U + "Q" + A + "<think>");
}

TEST(ChatRender, ThinkMaxContextRule) {
    EXPECT_TRUE(think_max_downgraded(ThinkMode::Max, 393215));
    EXPECT_FALSE(think_max_downgraded(ThinkMode::Max, 393216));
    EXPECT_FALSE(think_max_downgraded(ThinkMode::High, 10));
    EXPECT_EQ(think_mode_for_context(ThinkMode::Max, 4096), ThinkMode::High);
    EXPECT_EQ(think_mode_for_context(ThinkMode::Max, 1 << 20), ThinkMode::Max);
    EXPECT_EQ(think_mode_for_context(ThinkMode::None, 4096), ThinkMode::None);
}

TEST(ChatRender, MultiTurnDropsEarlierReasoning) {
    std::vector<Message> m = {
        {"system", "S1", {}, {}},
        {"user", "u1", {}, {}},
        {"assistant", "a1", "r1", {}},
        {"developer", "S2", {}, {}},
        {"user", "u2", {}, {}},
    };
    RenderOptions o;
    o.think = ThinkMode::High;
    EXPECT_EQ(render(m, o), BOS + "S1\n\nS2" + U + "u1" + A + "</think>a1" + EOS + U + "u2" + A + "<think>");
    o.think = ThinkMode::None;
    EXPECT_EQ(render(m, o), BOS + "S1\n\nS2" + U + "u1" + A + "</think>a1" + EOS + U + "u2" + A + "</think>");
    // A trailing assistant turn (after the last user) keeps its reasoning; no generation prompt.
    m.push_back({"assistant", "a2", "r2", {}});
    o.think = ThinkMode::High;
    EXPECT_EQ(render(m, o), BOS + "S1\n\nS2" + U + "u1" + A + "</think>a1" + EOS + U + "u2" + A +
                                "<think>r2</think>a2" + EOS);
}

TEST(ChatRender, ToolsBlockAndToolTurns) {
    ToolCall call = ToolCall::from_json("get_weather", R"({"city": "Paris", "days": 3, "opts": {"u": "C"}})");
    std::vector<Message> m = {
        {"system", "SYS", {}, {}},
        {"user", "weather?", {}, {}},
        {"assistant", "Checking.", "need tool", {call}},
        {"tool", "sunny</tool_result>x", {}, {}},
        {"tool", "r2", {}, {}},
    };
    RenderOptions o;
    o.think = ThinkMode::High;
    o.tools = R"([{"name":"get_weather"}])";
    const std::string dsml =
        "\n\n<｜DSML｜tool_calls>\n"
        "<｜DSML｜invoke name=\"get_weather\">\n"
        "<｜DSML｜parameter name=\"city\" string=\"true\">Paris</｜DSML｜parameter>\n"
        "<｜DSML｜parameter name=\"days\" string=\"false\">3</｜DSML｜parameter>\n"
        "<｜DSML｜parameter name=\"opts\" string=\"false\">{\"u\":\"C\"}</｜DSML｜parameter>\n"
        "</｜DSML｜invoke>\n"
        "</｜DSML｜tool_calls>";
    EXPECT_EQ(render_tool_calls({call}), dsml);
    std::string expected = BOS + tools_prompt(o.tools) + "\n\nSYS" + U + "weather?" + A +
                           "<think>need tool</think>Checking." + dsml + EOS + U +
                           "<tool_result>sunny&lt;/tool_result>x</tool_result><tool_result>r2</tool_result>" +
                           A + "<think>";
    EXPECT_EQ(render(m, o), expected);
    EXPECT_EQ(tools_prompt(o.tools).rfind("## Tools\n\n", 0), 0u);
    EXPECT_NE(tools_prompt(o.tools).find("### Available Tool Schemas\n\n[{\"name\":\"get_weather\"}]\n\n"),
              std::string::npos);
    EXPECT_EQ(tools_prompt(""), "");
}

TEST(ChatDsml, ParseRoundTrip) {
    ToolCall c1 = ToolCall::from_json("run", R"({"cmd":"a && b < c","n":1.0,"flag":true})");
    ToolCall c2;
    c2.name = "write \"x\"";
    c2.args.push_back({"text", "has </｜DSML｜parameter> inside", true});
    std::string generated = "plan it</think>Doing it." + render_tool_calls({c1, c2});
    ParsedReply r = parse_reply(generated, true);
    EXPECT_TRUE(r.error.empty()) << r.error;
    EXPECT_TRUE(r.think_closed);
    EXPECT_EQ(r.reasoning, "plan it");
    EXPECT_EQ(r.content, "Doing it.");
    ASSERT_EQ(r.tool_calls.size(), 2u);
    EXPECT_EQ(r.tool_calls[0].name, "run");
    EXPECT_EQ(r.tool_calls[0].arguments_json(), R"({"cmd":"a && b < c","n":1.0,"flag":true})");
    EXPECT_EQ(r.tool_calls[1].name, "write \"x\"");
    EXPECT_EQ(r.tool_calls[1].args[0].value, "has </｜DSML｜parameter> inside");
    // parse -> render reproduces the generated bytes exactly
    EXPECT_EQ("Doing it." + render_tool_calls(r.tool_calls), generated.substr(generated.find("Doing")));
}

TEST(ChatDsml, NoToolsAndStillThinking) {
    ParsedReply r = parse_reply("<think>abc", true);
    EXPECT_FALSE(r.think_closed);
    EXPECT_EQ(r.reasoning, "abc");
    EXPECT_TRUE(r.content.empty());
    r = parse_reply("just text", false);
    EXPECT_TRUE(r.think_closed);
    EXPECT_EQ(r.content, "just text");
    EXPECT_TRUE(r.tool_calls.empty());
    // DSML inside reasoning is quoted text, not an action
    r = parse_reply("<｜DSML｜tool_calls></｜DSML｜tool_calls></think>ok", true);
    EXPECT_EQ(r.content, "ok");
    EXPECT_TRUE(r.tool_calls.empty());
}

TEST(ChatDsml, PlainXmlVariant) {
    ParsedReply r = parse_reply(
        "x\n\n<tool_calls>\n<invoke name=\"f\">\n<parameter name=\"a\">v &amp; w</parameter>\n</invoke>\n</tool_calls>",
        false);
    EXPECT_TRUE(r.error.empty()) << r.error;
    ASSERT_EQ(r.tool_calls.size(), 1u);
    EXPECT_EQ(r.tool_calls[0].args[0].value, "v &amp; w");  // raw: only the closing tag is escaped
    EXPECT_TRUE(r.tool_calls[0].args[0].is_string);
}

TEST(ChatDsml, MalformedDoesNotCrash) {
    const std::string open = "<｜DSML｜tool_calls>";
    const std::vector<std::string> bad = {
        open,
        open + "\n<｜DSML｜invoke name=\"f\"",
        open + "\n<｜DSML｜invoke>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>",
        open + "\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"true\">unterminated",
        open + "\n<｜DSML｜invoke name=\"f\">\ngarbage\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>",
        open + "\n<｜DSML｜invoke name=\"f>\n",
        open + "\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter string=\"true\">x</｜DSML｜parameter>",
    };
    for (const std::string& b : bad) {
        std::string text = "answer " + b;
        ParsedReply r = parse_reply(text, false);
        EXPECT_FALSE(r.error.empty()) << b;
        EXPECT_TRUE(r.tool_calls.empty());
        EXPECT_EQ(r.content, text);
        // every prefix of a valid block must be safe too
    }
    std::string good = render_tool_calls({ToolCall::from_json("f", R"({"a":"b","c":[1, 2]})")});
    for (size_t n = 0; n <= good.size(); n++) {
        ParsedReply r = parse_reply(good.substr(0, n), false);
        if (n < good.size()) EXPECT_TRUE(r.tool_calls.empty());
        else EXPECT_EQ(r.tool_calls.size(), 1u);
    }
    EXPECT_THROW(ToolCall::from_json("f", "[1]"), ds4::Error);
    EXPECT_THROW(ToolCall::from_json("f", "{bad"), ds4::Error);
}

TEST(ChatRender, FollowupContinuesExactlyAsTheFullRender) {
    // A REPL keeps turn 1 in the KV state: BOS..<Assistant></think>answer (no EOS). The follow-up
    // text must make that prefix equal to render() of both turns (non-thinking keeps no reasoning).
    std::vector<Message> one = {{"user", "Hi", {}, {}}};
    RenderOptions o;
    o.think = ThinkMode::None;
    const std::string kv = render(one, o) + "Hello!";
    std::vector<Message> two = {{"user", "Hi", {}, {}}, {"assistant", "Hello!", {}, {}}, {"user", "More?", {}, {}}};
    EXPECT_EQ(kv + render_followup("More?", ThinkMode::None), render(two, o));
    EXPECT_EQ(render_followup("x", ThinkMode::High), "<｜end▁of▁sentence｜><｜User｜>x<｜Assistant｜><think>");
}
