// DSML tool calls: rendering assistant calls into the prompt and parsing them out of
// generated text (MODEL-SPEC 12.3). Rendering and parsing are exact inverses so that a
// parsed reply re-renders to the bytes the model produced (stable KV-cache prefixes).
#include "chat/chat.h"

#include "util/error.h"
#include "util/json.h"

namespace ds4::chat {

namespace {

// The marker strings of one tool-call syntax. Models occasionally drift to plain XML
// tags late in long generations; accepting that shape beats losing the whole turn.
struct Syntax {
    std::string_view calls_open, calls_close, invoke_open, invoke_close, param_open, param_close;
};
constexpr Syntax kDsml = {"<｜DSML｜tool_calls>", "</｜DSML｜tool_calls>", "<｜DSML｜invoke",
                          "</｜DSML｜invoke>", "<｜DSML｜parameter", "</｜DSML｜parameter>"};
constexpr Syntax kPlain = {"<tool_calls>", "</tool_calls>", "<invoke", "</invoke>",
                           "<parameter", "</parameter>"};
constexpr std::string_view kParamEscaped = "&lt;/｜DSML｜parameter>";

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
        if (s.compare(i, from.size(), from) == 0) {
            out += to;
            i += from.size();
        } else {
            out += s[i++];
        }
    }
    return out;
}

std::string attr_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string attr_unescape(std::string_view s) {
    static const std::pair<std::string_view, char> ents[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    std::string out;
    for (size_t i = 0; i < s.size();) {
        bool hit = false;
        for (auto& [e, c] : ents) {
            if (s.compare(i, e.size(), e) == 0) {
                out += c;
                i += e.size();
                hit = true;
                break;
            }
        }
        if (!hit) out += s[i++];
    }
    return out;
}

// Value of ` key="…"` inside one tag's text; false when absent.
bool tag_attr(std::string_view tag, std::string_view key, std::string* out) {
    std::string pat = " " + std::string(key) + "=\"";
    size_t p = tag.find(pat);
    if (p == std::string_view::npos) return false;
    p += pat.size();
    size_t q = tag.find('"', p);
    if (q == std::string_view::npos) return false;
    *out = attr_unescape(tag.substr(p, q - p));
    return true;
}

// Removes whitespace outside JSON strings (the compact literal form DSML carries).
std::string minify_json(std::string_view s) {
    std::string out;
    bool in_str = false;
    for (size_t i = 0; i < s.size(); i++) {
        char c = s[i];
        if (in_str) {
            out += c;
            if (c == '\\' && i + 1 < s.size()) out += s[++i];
            else if (c == '"') in_str = false;
        } else if (c == '"') {
            in_str = true;
            out += c;
        } else if (!is_ws(c)) {
            out += c;
        }
    }
    return out;
}

// End of the JSON value starting at s[i] (the text was validated beforehand).
size_t skip_json_value(std::string_view s, size_t i) {
    int depth = 0;
    bool in_str = false;
    for (; i < s.size(); i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') {
                in_str = false;
                if (depth == 0) return i + 1;
            }
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0) return i;  // closing bracket of the enclosing object
            if (--depth == 0) return i + 1;
        } else if (depth == 0 && (c == ',' || is_ws(c))) {
            return i;
        }
    }
    return i;
}

// Parses one tool_calls block starting at `pos` (at calls_open). Throws Error on any
// structural problem; parse_reply turns that into ParsedReply::error.
std::vector<ToolCall> parse_block(std::string_view t, size_t pos, const Syntax& sx) {
    auto skip_ws = [&](size_t p) {
        while (p < t.size() && is_ws(t[p])) p++;
        return p;
    };
    auto starts = [&](size_t p, std::string_view m) { return t.compare(p, m.size(), m) == 0; };
    auto tag_end = [&](size_t p, const char* what) {
        size_t e = t.find('>', p);
        if (e == std::string_view::npos) fail("dsml: unterminated %s tag", what);
        return e;
    };

    std::vector<ToolCall> calls;
    size_t p = pos + sx.calls_open.size();
    for (;;) {
        p = skip_ws(p);
        if (p >= t.size()) fail("dsml: missing closing tool_calls tag");
        if (starts(p, sx.calls_close)) return calls;
        if (!starts(p, sx.invoke_open)) fail("dsml: expected invoke at byte %zu", p);
        size_t e = tag_end(p, "invoke");
        ToolCall call;
        if (!tag_attr(t.substr(p, e - p), "name", &call.name)) fail("dsml: invoke without name");
        p = e + 1;
        for (;;) {
            p = skip_ws(p);
            if (p >= t.size()) fail("dsml: missing closing invoke tag");
            if (starts(p, sx.invoke_close)) {
                p += sx.invoke_close.size();
                break;
            }
            if (!starts(p, sx.param_open)) fail("dsml: expected parameter at byte %zu", p);
            e = tag_end(p, "parameter");
            std::string_view tag = t.substr(p, e - p);
            ToolArg arg;
            std::string is_string = "true";
            if (!tag_attr(tag, "name", &arg.name)) fail("dsml: parameter without name");
            tag_attr(tag, "string", &is_string);
            size_t vstart = e + 1;
            size_t vend = t.find(sx.param_close, vstart);
            if (vend == std::string_view::npos) fail("dsml: unterminated parameter '%s'", arg.name.c_str());
            std::string_view raw = t.substr(vstart, vend - vstart);
            arg.is_string = is_string != "false";
            arg.value = arg.is_string ? replace_all(raw, kParamEscaped, kDsml.param_close)
                                      : std::string(raw);
            call.args.push_back(std::move(arg));
            p = vend + sx.param_close.size();
        }
        calls.push_back(std::move(call));
    }
}

std::string rtrim(std::string_view s) {
    size_t n = s.size();
    while (n > 0 && is_ws(s[n - 1])) n--;
    return std::string(s.substr(0, n));
}

}  // namespace

std::string ToolCall::arguments_json() const {
    std::string out = "{";
    for (size_t i = 0; i < args.size(); i++) {
        if (i) out += ',';
        out += json::quote(args[i].name);
        out += ':';
        if (args[i].is_string) out += json::quote(args[i].value);
        else out += args[i].value.empty() ? "null" : args[i].value;
    }
    return out + "}";
}

ToolCall ToolCall::from_json(std::string name, std::string_view text) {
    json::Value v = json::parse(text);  // validates; the raw scan below can then be naive
    if (!v.is_object()) fail("tool call '%s': arguments are not a JSON object", name.c_str());
    ToolCall call;
    call.name = std::move(name);
    size_t i = text.find('{') + 1;
    for (const auto& [key, val] : v.obj) {
        // Walk past the key and ':' to the raw value, keeping its literal text.
        i = skip_json_value(text, text.find('"', i));
        i = text.find(':', i) + 1;
        while (i < text.size() && is_ws(text[i])) i++;
        size_t end = skip_json_value(text, i);
        ToolArg arg;
        arg.name = key;
        arg.is_string = val.is_string();
        arg.value = arg.is_string ? val.str : minify_json(text.substr(i, end - i));
        call.args.push_back(std::move(arg));
        i = end;
    }
    return call;
}

std::string render_tool_calls(const std::vector<ToolCall>& calls) {
    if (calls.empty()) return {};
    std::string b = "\n\n<｜DSML｜tool_calls>\n";
    for (const ToolCall& c : calls) {
        b += "<｜DSML｜invoke name=\"" + attr_escape(c.name) + "\">\n";
        for (const ToolArg& a : c.args) {
            b += "<｜DSML｜parameter name=\"" + attr_escape(a.name) + "\" string=\"";
            b += a.is_string ? "true\">" : "false\">";
            // Only the exact closing tag is escaped; everything else stays raw as the
            // tools prompt instructs the model (shell `&&`, `<`, ... must survive).
            b += a.is_string ? replace_all(a.value, kDsml.param_close, kParamEscaped)
                             : replace_all(a.value, kDsml.param_close, "\\u003c/｜DSML｜parameter>");
            b += "</｜DSML｜parameter>\n";
        }
        b += "</｜DSML｜invoke>\n";
    }
    b += "</｜DSML｜tool_calls>";
    return b;
}

ParsedReply parse_reply(std::string_view text, bool thinking) {
    ParsedReply r;
    std::string_view rest = text;
    if (thinking) {
        if (rest.substr(0, kThinkOpen.size()) == kThinkOpen) rest.remove_prefix(kThinkOpen.size());
        size_t close = rest.find(kThinkClose);
        if (close == std::string_view::npos) {
            r.reasoning = std::string(rest);  // still thinking (truncated): no actions yet
            return r;
        }
        r.reasoning = std::string(rest.substr(0, close));
        rest.remove_prefix(close + kThinkClose.size());
    }
    r.think_closed = true;

    size_t start = std::string_view::npos;
    const Syntax* sx = nullptr;
    for (const Syntax* cand : {&kDsml, &kPlain}) {
        start = rest.find(cand->calls_open);
        if (start != std::string_view::npos) {
            sx = cand;
            break;
        }
    }
    if (!sx) {
        r.content = std::string(rest);
        return r;
    }
    try {
        r.tool_calls = parse_block(rest, start, *sx);
        r.content = rtrim(rest.substr(0, start));
    } catch (const Error& e) {
        r.tool_calls.clear();
        r.content = std::string(rest);
        r.error = e.what();
    }
    return r;
}

}  // namespace ds4::chat
