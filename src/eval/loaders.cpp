#include "eval/loaders.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include "sample/sampler.h"
#include "util/error.h"
#include "util/json.h"

namespace ds4::eval {

namespace {

// Fixed so a GPQA question always shows the same letter order, whatever subset is run.
constexpr uint64_t kGpqaShuffleSeed = 0x64733465766c3031ull;

std::string trim(std::string_view s) {
    size_t a = s.find_first_not_of(" \t\r\n\xEF\xBB\xBF");  // also a UTF-8 BOM in headers
    if (a == std::string_view::npos) return {};
    size_t b = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(a, b - a + 1));
}

// A JSON scalar as text: strings as is, integers without ".0".
std::string scalar_text(const json::Value& v, const char* what) {
    if (v.is_string()) return v.str;
    if (v.is_number() && v.is_int) return std::to_string(v.integer);
    if (v.is_number()) return strfmt("%g", v.number);
    fail("%s is not a string or number", what);
}

const json::Value& need(const json::Value& o, const char* key) {
    const json::Value* v = o.find(key);
    if (!v || v->is_null()) fail("missing \"%s\"", key);
    return *v;
}

std::string opt_text(const json::Value& o, const char* key) {
    const json::Value* v = o.find(key);
    return v && !v->is_null() ? scalar_text(*v, key) : std::string();
}

std::vector<std::string> string_list(const json::Value& v, const char* what) {
    std::vector<std::string> out;
    for (const json::Value& e : v.as_array(what)) out.push_back(scalar_text(e, what));
    return out;
}

std::string sniff(const json::Value& o) {
    if (o.find("framework") || (o.find("prompt") && o.find("answer"))) return "ds4";
    if (o.find("task_id") && o.find("entry_point")) return "humaneval";
    if (o.find("answer_letter") && o.find("options")) return "supergpqa";
    if (o.find("options")) return "mmlu-pro";
    if (o.find("problem") && o.find("answer")) return "aime";
    fail("cannot tell the question format from its keys");
}

Question from_json(const json::Value& o, std::string_view format, size_t line) {
    if (!o.is_object()) fail("not a JSON object");
    std::string fmt = format.empty() ? sniff(o) : std::string(format);
    Question q;
    if (fmt == "ds4") {
        q.id = scalar_text(need(o, "id"), "id");
        q.framework = opt_text(o, "framework");
        if (q.framework.empty()) q.framework = "custom";
        q.prompt = need(o, "prompt").as_string("prompt");
        q.grader = grader_for(q.framework, opt_text(o, "grader"));
        if (const json::Value* c = o.find("choices"); c && !c->is_null()) q.choices = string_list(*c, "choices");
        q.test = opt_text(o, "test");
        q.entry_point = opt_text(o, "entry_point");
        if (q.grader != GraderKind::Code) q.answer = scalar_text(need(o, "answer"), "answer");
    } else if (fmt == "aime") {
        q.framework = "aime";
        q.id = opt_text(o, "id");
        if (q.id.empty()) q.id = strfmt("aime-%zu", line);
        q.prompt = need(o, "problem").as_string("problem");
        q.answer = scalar_text(need(o, "answer"), "answer");
    } else if (fmt == "mmlu-pro") {
        q.framework = "mmlu-pro";
        std::string qid = opt_text(o, "question_id");
        q.id = "mmlu-pro-" + (qid.empty() ? std::to_string(line) : qid);
        q.prompt = need(o, "question").as_string("question");
        q.choices = string_list(need(o, "options"), "options");
        q.answer = opt_text(o, "answer");
        if (q.answer.empty()) {
            int64_t idx = need(o, "answer_index").as_int("answer_index");
            if (idx < 0 || idx >= (int64_t)q.choices.size()) fail("answer_index out of range");
            q.answer = std::string(1, (char)('A' + idx));
        }
    } else if (fmt == "supergpqa") {
        q.framework = "supergpqa";
        q.id = opt_text(o, "uuid");
        if (q.id.empty()) q.id = strfmt("supergpqa-%zu", line);
        q.prompt = need(o, "question").as_string("question");
        q.choices = string_list(need(o, "options"), "options");
        q.answer = need(o, "answer_letter").as_string("answer_letter");
    } else if (fmt == "humaneval") {
        q.framework = "humaneval";
        q.id = need(o, "task_id").as_string("task_id");
        q.prompt = need(o, "prompt").as_string("prompt");
        q.test = need(o, "test").as_string("test");
        q.entry_point = need(o, "entry_point").as_string("entry_point");
    } else {
        fail("unknown set format '%s' (ds4, aime, mmlu-pro, supergpqa, humaneval, gpqa)", fmt.c_str());
    }
    if (fmt != "ds4") q.grader = grader_for(q.framework);
    validate(q);
    return q;
}

}  // namespace

std::vector<std::vector<std::string>> parse_csv(std::string_view t, const std::string& label) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    bool quoted = false, any = false;
    size_t line = 1;
    auto end_row = [&] {
        row.push_back(std::move(field));
        field.clear();
        if (!(row.size() == 1 && row[0].empty() && !any)) rows.push_back(std::move(row));  // skip blank lines
        row.clear();
        any = false;
    };
    for (size_t i = 0; i < t.size(); i++) {
        char c = t[i];
        if (quoted) {
            if (c == '"') {
                if (i + 1 < t.size() && t[i + 1] == '"') field += t[++i];
                else quoted = false;
            } else {
                if (c == '\n') line++;
                field += c;
            }
        } else if (c == '"') {
            quoted = any = true;
        } else if (c == ',') {
            row.push_back(std::move(field));
            field.clear();
            any = true;
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 < t.size() && t[i + 1] == '\n') i++;
            end_row();
            line++;
        } else {
            field += c;
            any = true;
        }
    }
    if (quoted) fail("%s:%zu: unterminated quoted field", label.c_str(), line);
    if (any || !field.empty()) end_row();
    return rows;
}

std::vector<Question> parse_gpqa_csv(std::string_view text, const std::string& label) {
    auto rows = parse_csv(text, label);
    if (rows.empty()) fail("%s: empty CSV", label.c_str());
    auto col = [&](const char* name, bool required) -> int {
        for (size_t i = 0; i < rows[0].size(); i++)
            if (trim(rows[0][i]) == name) return (int)i;
        if (required) fail("%s: no \"%s\" column", label.c_str(), name);
        return -1;
    };
    const int cq = col("Question", true), cc = col("Correct Answer", true);
    const int cw[3] = {col("Incorrect Answer 1", true), col("Incorrect Answer 2", true), col("Incorrect Answer 3", true)};
    const int cid = col("Record ID", false);
    std::vector<Question> out;
    for (size_t r = 1; r < rows.size(); r++) {
        const auto& row = rows[r];
        auto get = [&](int c) {
            if (c >= (int)row.size()) fail("%s: row %zu has only %zu fields", label.c_str(), r + 1, row.size());
            return trim(row[c]);
        };
        Question q;
        q.framework = "gpqa";
        q.grader = GraderKind::Choice;
        q.id = cid >= 0 ? get(cid) : std::string();
        if (q.id.empty()) q.id = strfmt("gpqa-%zu", r);
        q.prompt = get(cq);
        std::vector<std::string> ch = {get(cc), get(cw[0]), get(cw[1]), get(cw[2])};
        // Fisher-Yates with our portable PRNG: the same order on every platform.
        sample::Rng rng(kGpqaShuffleSeed ^ stable_hash(q.id) ^ stable_hash(q.prompt));
        std::vector<int> order = {0, 1, 2, 3};
        for (int i = 3; i > 0; i--) std::swap(order[i], order[rng.below((uint64_t)i + 1)]);
        for (int i = 0; i < 4; i++) {
            q.choices.push_back(ch[order[i]]);
            if (order[i] == 0) q.answer = std::string(1, (char)('A' + i));
        }
        try {
            validate(q);
        } catch (const Error& e) {
            fail("%s: row %zu: %s", label.c_str(), r + 1, e.what());
        }
        out.push_back(std::move(q));
    }
    return out;
}

std::vector<Question> parse_jsonl(std::string_view text, const std::string& label, std::string_view format) {
    std::vector<Question> out;
    size_t line = 0, pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view l = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        line++;
        if (trim(l).empty()) continue;
        try {
            out.push_back(from_json(json::parse(l), format, line));
        } catch (const Error& e) {
            fail("%s:%zu: %s", label.c_str(), line, e.what());
        }
    }
    return out;
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("%s: %s", path.c_str(), strerror(errno));
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::vector<Question> load_set(const std::string& spec) {
    std::string format, path = spec;
    size_t colon = spec.find(':');
    if (colon != std::string::npos && colon > 1) {  // colon > 1: not a Windows drive letter
        std::string f = spec.substr(0, colon);
        static const std::set<std::string> known = {"ds4", "aime", "mmlu-pro", "supergpqa", "humaneval", "gpqa"};
        if (known.count(f)) {
            format = f;
            path = spec.substr(colon + 1);
        }
    }
    std::string text = read_file(path);
    bool csv = format == "gpqa" || (format.empty() && path.size() > 4 && path.substr(path.size() - 4) == ".csv");
    std::vector<Question> qs = csv ? parse_gpqa_csv(text, path) : parse_jsonl(text, path, format);
    std::set<std::string> ids;
    for (const Question& q : qs)
        if (!ids.insert(q.id).second) fail("%s: duplicate id '%s'", path.c_str(), q.id.c_str());
    return qs;
}

}  // namespace ds4::eval
