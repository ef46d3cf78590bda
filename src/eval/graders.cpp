#include "eval/graders.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "eval/code_exec.h"

namespace ds4::eval {

namespace {

constexpr size_t kChoiceWindow = 96;    // chars after "answer" searched for a letter (ds4)
constexpr size_t kIntegerWindow = 160;  // ... for an integer / line spec (ds4)
constexpr int kMaxLine = 100000;
constexpr int kMaxRange = 10000;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }

// Positions just past every case-insensitive "answer" in s.
std::vector<size_t> answer_keywords(std::string_view s) {
    std::vector<size_t> out;
    static constexpr std::string_view kw = "answer";
    for (size_t i = 0; i + kw.size() <= s.size(); i++) {
        size_t k = 0;
        while (k < kw.size() && tolower((unsigned char)s[i + k]) == kw[k]) k++;
        if (k == kw.size()) out.push_back(i + kw.size());
    }
    return out;
}

// Contents of every \boxed{…} (balanced braces), with the position of the macro.
std::vector<std::pair<size_t, std::string_view>> boxed(std::string_view s) {
    std::vector<std::pair<size_t, std::string_view>> out;
    static constexpr std::string_view kw = "\\boxed{";
    for (size_t i = s.find(kw); i != std::string_view::npos; i = s.find(kw, i + 1)) {
        size_t b = i + kw.size(), e = b;
        int depth = 1;
        for (; e < s.size(); e++) {
            if (s[e] == '{') depth++;
            else if (s[e] == '}' && --depth == 0) break;
        }
        if (depth == 0) out.push_back({i, s.substr(b, e - b)});
    }
    return out;
}

struct IntTok {
    size_t pos;
    std::string value;  // normalised
};

// Integer tokens of s in order: optional '-', digits with optional ",ddd" groups, an
// optional all-zero fraction ("12.00"). Numbers with a real fraction are not integers.
std::vector<IntTok> integers(std::string_view s) {
    std::vector<IntTok> out;
    size_t i = 0;
    while (i < s.size()) {
        if (!is_digit(s[i]) || (i > 0 && (is_digit(s[i - 1]) || s[i - 1] == '.'))) {
            i++;
            continue;
        }
        size_t start = i;
        bool neg = i > 0 && s[i - 1] == '-' && (i < 2 || !is_alnum(s[i - 2]));
        std::string digits;
        while (i < s.size() && is_digit(s[i])) digits += s[i++];
        // thousands groups: exactly three digits after each comma
        while (i + 3 < s.size() && s[i] == ',' && is_digit(s[i + 1]) && is_digit(s[i + 2]) &&
               is_digit(s[i + 3]) && (i + 4 >= s.size() || !is_digit(s[i + 4]))) {
            digits.append(s.substr(i + 1, 3));
            i += 4;
        }
        bool integral = true;
        if (i + 1 < s.size() && s[i] == '.' && is_digit(s[i + 1])) {
            size_t j = i + 1;
            while (j < s.size() && is_digit(s[j])) {
                if (s[j] != '0') integral = false;
                j++;
            }
            i = j;
        }
        if (!integral) continue;
        std::string v = normalize_integer(digits);
        if (neg && v != "0") v = "-" + v;
        out.push_back({neg ? start - 1 : start, v});
    }
    return out;
}

std::optional<IntTok> first_integer(std::string_view s, size_t base) {
    auto v = integers(s);
    if (v.empty()) return std::nullopt;
    return IntTok{base + v[0].pos, v[0].value};
}

// A standalone option letter at s[i]: non-letters on both sides. 'I' followed by an
// apostrophe or a lowercase word is the pronoun, not option I.
bool standalone_letter(std::string_view s, size_t i, char max_letter, bool allow_lower, bool strict_article) {
    char c = s[i];
    char u = (char)toupper((unsigned char)c);
    if (u < 'A' || u > max_letter || (!allow_lower && c != u)) return false;
    if ((i > 0 && is_alpha(s[i - 1])) || (i + 1 < s.size() && is_alpha(s[i + 1]))) return false;
    // A lowercase letter must look like a label ("b)", "(c", "d." or line end), not the article "a".
    if (c != u) {
        char n = i + 1 < s.size() ? s[i + 1] : '\n';
        if (!(n == ')' || n == ']' || n == '.' || n == '*' || n == '\n' || n == '\r')) return false;
    }
    bool word_follows = i + 2 < s.size() && s[i + 1] == ' ' && s[i + 2] >= 'a' && s[i + 2] <= 'z';
    if (u == 'I' && ((i + 1 < s.size() && s[i + 1] == '\'') || word_follows)) return false;
    if (strict_article && u == 'A' && word_follows) return false;
    return true;
}

}  // namespace

std::string_view visible_text(std::string_view generated) {
    size_t p = generated.find("</think>");
    return p == std::string_view::npos ? generated : generated.substr(p + 8);
}

std::string normalize_integer(std::string_view s) {
    while (!s.empty() && (isspace((unsigned char)s.front()) || s.front() == '$')) s.remove_prefix(1);
    while (!s.empty() && (isspace((unsigned char)s.back()) || s.back() == '$' || s.back() == '.')) s.remove_suffix(1);
    bool neg = false;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        s.remove_prefix(1);
    }
    std::string d;
    size_t i = 0;
    for (; i < s.size() && (is_digit(s[i]) || (s[i] == ',' && !d.empty())); i++)
        if (s[i] != ',') d += s[i];
    if (i < s.size() && s[i] == '.') {  // "12.0" is an integer, "12.5" is not
        for (i++; i < s.size() && s[i] == '0'; i++) {}
    }
    if (d.empty() || i != s.size()) return {};
    size_t nz = d.find_first_not_of('0');
    d = nz == std::string::npos ? "0" : d.substr(nz);
    return neg && d != "0" ? "-" + d : d;
}

std::string extract_integer(std::string_view vis) {
    // Candidates from every answer statement and \boxed{}; the last one in the text wins.
    std::optional<IntTok> best;
    auto consider = [&](std::optional<IntTok> t) {
        if (t && (!best || t->pos >= best->pos)) best = t;
    };
    for (size_t k : answer_keywords(vis)) consider(first_integer(vis.substr(k, kIntegerWindow), k));
    for (auto& [pos, content] : boxed(vis)) {
        std::string n = normalize_integer(content);
        consider(n.empty() ? first_integer(content, pos) : std::optional<IntTok>(IntTok{pos, n}));
    }
    if (best) return best->value;
    auto all = integers(vis);
    return all.empty() ? std::string() : all.back().value;
}

std::string extract_choice(std::string_view vis, int n_choices) {
    if (n_choices <= 0) return {};
    const char max_letter = (char)('A' + std::min(n_choices, 26) - 1);
    std::optional<std::pair<size_t, char>> best;
    for (size_t k : answer_keywords(vis)) {
        size_t end = std::min(vis.size(), k + kChoiceWindow);
        for (size_t i = k; i < end; i++) {
            if (standalone_letter(vis, i, max_letter, true, false)) {
                best = std::make_pair(k, (char)toupper((unsigned char)vis[i]));
                break;
            }
        }
    }
    for (auto& [pos, content] : boxed(vis)) {
        std::string_view c = content;
        if (c.substr(0, 6) == "\\text{") c = c.substr(6, c.size() > 7 ? c.size() - 7 : 0);
        while (!c.empty() && !is_alpha(c.front())) c.remove_prefix(1);
        while (!c.empty() && !is_alpha(c.back())) c.remove_suffix(1);
        if (c.size() == 1 && standalone_letter(c, 0, max_letter, true, false) && (!best || pos >= best->first))
            best = std::make_pair(pos, (char)toupper((unsigned char)c[0]));
    }
    if (best) return std::string(1, best->second);
    for (size_t i = vis.size(); i-- > 0;)
        if (standalone_letter(vis, i, max_letter, false, true)) return std::string(1, vis[i]);
    return {};
}

std::string extract_lines(std::string_view vis) {
    // Normalise the final "Answer:" line ("line 9", "9 and 15", "20-22", "13–15") to a spec.
    auto normalise = [](std::string_view s) {
        std::string out;
        for (size_t i = 0; i < s.size();) {
            if (!is_digit(s[i])) {
                i++;
                continue;
            }
            if (!out.empty()) out += ',';
            while (i < s.size() && is_digit(s[i])) out += s[i++];
            size_t j = i;
            while (j < s.size() && s[j] == ' ') j++;
            size_t dash = s.compare(j, 3, "–") == 0 ? 3 : (j < s.size() && s[j] == '-') ? 1 : 0;
            if (dash) {
                j += dash;
                while (j < s.size() && s[j] == ' ') j++;
                if (j < s.size() && is_digit(s[j])) {
                    out += '-';
                    while (j < s.size() && is_digit(s[j])) out += s[j++];
                    i = j;
                }
            }
        }
        return out;
    };
    auto kws = answer_keywords(vis);
    for (size_t n = kws.size(); n-- > 0;) {
        std::string_view w = vis.substr(kws[n], kIntegerWindow);
        w = w.substr(0, w.find('\n'));
        std::string spec = normalise(w);
        if (!spec.empty()) return spec;
    }
    return extract_integer(vis);
}

std::vector<int> parse_line_set(std::string_view spec) {
    std::vector<int> out;
    for (size_t i = 0; i < spec.size();) {
        if (!is_digit(spec[i])) {
            i++;
            continue;
        }
        auto read = [&]() {
            long v = 0;
            while (i < spec.size() && is_digit(spec[i])) v = std::min<long>(v * 10 + (spec[i++] - '0'), kMaxLine + 1);
            return v;
        };
        long a = read(), b = a;
        size_t j = i;
        while (j < spec.size() && spec[j] == ' ') j++;
        size_t dash = spec.compare(j, 3, "–") == 0 ? 3 : (j < spec.size() && spec[j] == '-') ? 1 : 0;
        if (dash) {
            j += dash;
            while (j < spec.size() && spec[j] == ' ') j++;
            if (j < spec.size() && is_digit(spec[j])) {
                i = j;
                b = read();
            }
        }
        if (a > b) std::swap(a, b);
        b = std::min<long>({b, kMaxLine, a + kMaxRange});
        for (long v = a; v <= b; v++) out.push_back((int)v);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

bool lines_match(std::string_view expected, std::string_view got) {
    std::vector<int> e = parse_line_set(expected), g = parse_line_set(got);
    return !g.empty() && std::includes(e.begin(), e.end(), g.begin(), g.end());
}

std::string extract_answer(const Question& q, std::string_view generated) {
    std::string_view vis = visible_text(generated);
    switch (q.grader) {
        case GraderKind::Integer: return extract_integer(vis);
        case GraderKind::Choice: return extract_choice(vis, (int)q.choices.size());
        case GraderKind::Lines: return extract_lines(vis);
        case GraderKind::Code: return extract_code(vis, q.entry_point);
    }
    return {};
}

Grade grade(const Question& q, std::string_view generated, bool truncated, double code_timeout_s) {
    Grade g;
    g.answer = extract_answer(q, generated);
    if (!g.answer.empty()) {
        switch (q.grader) {
            case GraderKind::Integer: g.passed = g.answer == normalize_integer(q.answer); break;
            case GraderKind::Choice:
                g.passed = q.answer.size() == 1 && g.answer[0] == toupper((unsigned char)q.answer[0]);
                break;
            case GraderKind::Lines: g.passed = lines_match(q.answer, g.answer); break;
            case GraderKind::Code: {
                CodeResult r = run_python(build_program(q.prompt, g.answer, q.test, q.entry_point), code_timeout_s);
                g.passed = r.passed;
                g.detail = r.timed_out ? "timeout" : r.output_tail;
                g.answer = r.passed ? "pass" : r.timed_out ? "timeout" : "fail";
                break;
            }
        }
    }
    if (!g.passed) g.reason = truncated ? "truncated" : g.answer.empty() ? "no answer" : "wrong answer";
    return g;
}

}  // namespace ds4::eval
