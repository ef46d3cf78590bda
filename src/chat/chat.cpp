// Chat prompt rendering. The byte layout mirrors ds4's server renderer
// (render_chat_prompt_text / append_tools_prompt_text) because the model was trained on
// exactly these strings: no newlines between turns, tools block before system text,
// `developer` treated like `system`, consecutive tool results sharing one <｜User｜>.
#include "chat/chat.h"

namespace ds4::chat {

namespace {

// Three sentences each ending in "\n", plus an extra "\n" (ds4 DS4_REASONING_EFFORT_MAX_PREFIX).
constexpr std::string_view kMaxPrefix =
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to "
    "resolve the root cause, rigorously stress-testing your logic against all potential paths, "
    "edge cases, and adversarial scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate "
    "step, considered alternative, and rejected hypothesis to ensure absolutely no assumption "
    "is left unchecked.\n\n";

bool is_system(const std::string& r) { return r == "system" || r == "developer"; }
bool is_tool_result(const std::string& r) { return r == "tool" || r == "function"; }
bool is_user_like(const std::string& r) { return r == "user" || is_tool_result(r); }

// Tool output is data: only the wrapper's own closing tag must not appear inside it,
// otherwise a file containing that sentinel would end the result early.
void append_tool_result(std::string& out, std::string_view s) {
    constexpr std::string_view end = "</tool_result>";
    out += "<tool_result>";
    for (size_t i = 0; i < s.size();) {
        if (s.compare(i, end.size(), end) == 0) {
            out += "&lt;";
            i++;
        } else {
            out += s[i++];
        }
    }
    out += "</tool_result>";
}

// Reasoning of past turns is kept when tools are involved (the agent loop needs it to
// continue a tool-using chain of thought), as ds4 does.
bool uses_tool_context(const std::vector<Message>& msgs, const std::string& tools) {
    if (!tools.empty()) return true;
    for (const Message& m : msgs) {
        if ((m.role == "assistant" && !m.tool_calls.empty()) || is_tool_result(m.role)) return true;
    }
    return false;
}

}  // namespace

std::string_view think_max_prefix() { return kMaxPrefix; }

ThinkMode think_mode_for_context(ThinkMode mode, int64_t n_ctx) {
    return think_max_downgraded(mode, n_ctx) ? ThinkMode::High : mode;
}

bool think_max_downgraded(ThinkMode requested, int64_t n_ctx) {
    return requested == ThinkMode::Max && n_ctx < kThinkMaxMinContext;
}

const char* think_mode_name(ThinkMode mode) {
    switch (mode) {
        case ThinkMode::None: return "none";
        case ThinkMode::High: return "high";
        case ThinkMode::Max: return "max";
    }
    return "unknown";
}

std::string tools_prompt(std::string_view schemas) {
    if (schemas.empty()) return {};
    std::string b =
        "## Tools\n\n"
        "You have access to a set of tools to help answer the user question. "
        "You can invoke tools by writing a \"<｜DSML｜tool_calls>\" block like the following:\n\n"
        "<｜DSML｜tool_calls>\n"
        "<｜DSML｜invoke name=\"$TOOL_NAME\">\n"
        "<｜DSML｜parameter name=\"$PARAMETER_NAME\" string=\"true|false\">$PARAMETER_VALUE</｜DSML｜parameter>\n"
        "...\n"
        "</｜DSML｜invoke>\n"
        "<｜DSML｜invoke name=\"$TOOL_NAME2\">\n"
        "...\n"
        "</｜DSML｜invoke>\n"
        "</｜DSML｜tool_calls>\n\n"
        "String parameters should be specified as raw text and set `string=\"true\"`. "
        "Preserve characters such as `>`, `&`, and `&&` exactly; never replace normal string "
        "characters with XML or HTML entity escapes. "
        "Only if a string value itself contains the exact closing parameter tag "
        "`</｜DSML｜parameter>`, write that tag as `&lt;/｜DSML｜parameter>` inside the value. "
        "For all other types (numbers, booleans, arrays, objects), pass the value in JSON format "
        "and set `string=\"false\"`.\n\n"
        "If thinking_mode is enabled (triggered by <think>), you MUST output your complete "
        "reasoning inside <think>...</think> BEFORE any tool calls or final response.\n\n"
        "Otherwise, output directly after </think> with tool calls or final response.\n\n"
        "### Available Tool Schemas\n\n";
    b += schemas;
    b += "\n\nYou MUST strictly follow the above defined tool name and parameter schemas to invoke "
         "tool calls. Use the exact parameter names from the schemas.";
    return b;
}

std::string render(const std::vector<Message>& msgs, const RenderOptions& opts) {
    const bool think = opts.think != ThinkMode::None;
    const bool tool_context = uses_tool_context(msgs, opts.tools);

    std::string system = tools_prompt(opts.tools);
    for (const Message& m : msgs) {
        if (!is_system(m.role)) continue;
        if (!system.empty()) system += "\n\n";
        system += m.content;
    }
    // Reasoning of assistant turns before the last user message is dropped (the official
    // renderer does the same): it was private scratch work for an already answered turn.
    int last_user = -1;
    for (size_t i = 0; i < msgs.size(); i++)
        if (is_user_like(msgs[i].role)) last_user = (int)i;

    std::string out(kBos);
    if (opts.think == ThinkMode::Max) out += kMaxPrefix;
    out += system;

    bool pending_assistant = false, pending_tool_result = false;
    for (size_t i = 0; i < msgs.size(); i++) {
        const Message& m = msgs[i];
        if (m.role == "user") {
            out += kUser;
            out += m.content;
            pending_assistant = true;
            pending_tool_result = false;
        } else if (is_tool_result(m.role)) {
            if (!pending_tool_result) out += kUser;
            append_tool_result(out, m.content);
            pending_assistant = pending_tool_result = true;
        } else if (m.role == "assistant") {
            if (pending_assistant) {
                out += kAssistant;
                if (think && (tool_context || (int)i > last_user)) {
                    out += kThinkOpen;
                    out += m.reasoning;
                }
                out += kThinkClose;
            }
            out += m.content;
            out += render_tool_calls(m.tool_calls);
            out += kEos;
            pending_assistant = pending_tool_result = false;
        }
        // system/developer went into the header; unknown roles are ignored like ds4 does.
    }
    if (pending_assistant && opts.add_generation_prompt) {
        out += kAssistant;
        out += think ? kThinkOpen : kThinkClose;
    }
    return out;
}

std::string render_followup(std::string_view user, ThinkMode think) {
    std::string out(kEos);
    out += kUser;
    out += user;
    out += kAssistant;
    out += think != ThinkMode::None ? kThinkOpen : kThinkClose;
    return out;
}

std::string render_single(std::string_view system, std::string_view user, ThinkMode think) {
    std::vector<Message> msgs;
    if (!system.empty()) msgs.push_back({"system", std::string(system), {}, {}});
    msgs.push_back({"user", std::string(user), {}, {}});
    RenderOptions o;
    o.think = think;
    return render(msgs, o);
}

}  // namespace ds4::chat
