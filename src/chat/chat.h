// DeepSeek V4 chat rendering (MODEL-SPEC section 12) and DSML tool calls.
//
// Prompts are rendered to text that contains the special-token strings verbatim
// (`<｜User｜>`, `<think>`, ...); the tokenizer's encode(text, parse_special=true) maps each
// of them to its single id. The layout follows ds4's server renderer byte for byte
// (render_chat_prompt_text), which for a system + user pair equals the CLI's single-turn
// encoding, so one function serves both.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ds4::chat {

// Special-token strings (｜ is U+FF5C, ▁ is U+2581).
inline constexpr std::string_view kBos = "<｜begin▁of▁sentence｜>";
inline constexpr std::string_view kEos = "<｜end▁of▁sentence｜>";
inline constexpr std::string_view kUser = "<｜User｜>";
inline constexpr std::string_view kAssistant = "<｜Assistant｜>";
inline constexpr std::string_view kThinkOpen = "<think>";
inline constexpr std::string_view kThinkClose = "</think>";

enum class ThinkMode { None, High, Max };

// DeepSeek recommends Think-Max only with a context of at least 384K tokens.
inline constexpr int64_t kThinkMaxMinContext = 393216;

// The fixed instruction paragraph inserted right after BOS in Think-Max mode.
std::string_view think_max_prefix();
// ds4 silently downgrades Max to High below kThinkMaxMinContext; we do the same but let
// the caller warn: think_max_downgraded() is true exactly when that happens.
ThinkMode think_mode_for_context(ThinkMode mode, int64_t n_ctx);
bool think_max_downgraded(ThinkMode requested, int64_t n_ctx);
const char* think_mode_name(ThinkMode mode);

// One typed DSML argument. Non-string values keep their JSON literal text so that
// render -> parse -> render is byte-stable (re-serialising 1.0 would give 1).
struct ToolArg {
    std::string name;
    std::string value;       // raw text when is_string, else a compact JSON literal
    bool is_string = true;
};

struct ToolCall {
    std::string name;
    std::vector<ToolArg> args;
    // JSON object text of the arguments, e.g. {"path":"/tmp","n":3} (OpenAI style).
    std::string arguments_json() const;
    // Builds args from a JSON object text; throws ds4::Error when it is not an object.
    static ToolCall from_json(std::string name, std::string_view arguments_json);
};

struct Message {
    std::string role;        // system | developer | user | assistant | tool | function
    std::string content;
    std::string reasoning;   // assistant only: the text that was inside <think>…</think>
    std::vector<ToolCall> tool_calls;  // assistant only
};

struct RenderOptions {
    ThinkMode think = ThinkMode::High;
    // Tool schemas (the JSON text announced in the "## Tools" block); empty = no tools.
    std::string tools;
    // Append `<｜Assistant｜><think>` (or `</think>`) when the last turn awaits a reply.
    bool add_generation_prompt = true;
};

std::string render(const std::vector<Message>& messages, const RenderOptions& opts);

// Single turn as the CLI / ds4-eval encode it: [BOS][max prefix][system]<User>u<Assistant>opener.
std::string render_single(std::string_view system, std::string_view user, ThinkMode think);

// Continues a conversation kept in the KV state (interactive chat): the previous assistant
// reply was generated up to, not including, its EOS. Gives that EOS, the new user turn and the
// generation prompt, laid out exactly as render() lays out the same turns.
std::string render_followup(std::string_view user, ThinkMode think);

// The "## Tools" system block for the given schema text (empty when schemas is empty).
std::string tools_prompt(std::string_view schemas);

// DSML text of assistant tool calls: "\n\n<｜DSML｜tool_calls>\n…</｜DSML｜tool_calls>".
std::string render_tool_calls(const std::vector<ToolCall>& calls);

// A generated assistant reply split into its parts. Never throws: malformed DSML leaves
// tool_calls empty, keeps the raw text in content and explains the problem in error.
struct ParsedReply {
    std::string reasoning;
    std::string content;
    std::vector<ToolCall> tool_calls;
    bool think_closed = false;   // `</think>` was seen (always true when thinking is off)
    std::string error;           // non-empty when a DSML block was started but malformed
};

// `generated` is the text the model produced after the generation prompt. In thinking mode
// it starts inside <think>; tool calls are only looked for after `</think>` (DSML inside
// reasoning is just quoted text, not an action).
ParsedReply parse_reply(std::string_view generated, bool thinking);

}  // namespace ds4::chat
