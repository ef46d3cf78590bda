#include "eval/report.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "eval/loaders.h"
#include "util/error.h"
#include "util/json.h"

namespace ds4::eval {

namespace {

const char* status_color(const std::string& st) {
    if (st == "PASSED") return "\x1b[32m";
    if (st == "FAILED") return "\x1b[31m";
    return "\x1b[33m";
}

std::string shown(const std::string& s) { return s.empty() ? "?" : s; }

std::string clip(const std::string& s, size_t n) {
    std::string one;
    for (char c : s) one += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    return one.size() > n ? one.substr(0, n - 3) + "..." : one;
}

void jfield(std::string& o, const char* k, const std::string& v, bool comma = true) {
    o += json::quote(k) + ":" + json::quote(v) + (comma ? "," : "");
}
void jnum(std::string& o, const char* k, double v, bool comma = true) {
    o += json::quote(k) + ":" + strfmt("%.10g", v) + (comma ? "," : "");
}

}  // namespace

std::vector<std::pair<std::string, Tally>> tally_by_framework(const std::vector<CaseResult>& results, Tally* overall) {
    std::vector<std::pair<std::string, Tally>> out;
    Tally all;
    for (const CaseResult& c : results) {
        if (c.status != "PASSED" && c.status != "FAILED") continue;
        auto it = std::find_if(out.begin(), out.end(), [&](auto& p) { return p.first == c.framework; });
        if (it == out.end()) it = out.insert(out.end(), {c.framework, Tally{}});
        bool ok = c.status == "PASSED";
        it->second.passed += ok;
        it->second.total++;
        all.passed += ok;
        all.total++;
    }
    if (overall) *overall = all;
    return out;
}

std::string verdict(const CaseResult& c) {
    if (c.status == "PASSED") return strfmt("PASSED got %s", shown(c.grade.answer).c_str());
    if (c.status == "FAILED")
        return strfmt("FAILED (%s) got %s expected %s", c.grade.reason.c_str(), shown(c.grade.answer).c_str(),
                      c.expected.c_str());
    if (c.status == "SKIPPED") return "SKIPPED (" + c.grade.reason + ")";
    return c.status;
}

void print_report(FILE* f, const std::vector<CaseResult>& results, double runtime_s, bool color) {
    const char* reset = color ? "\x1b[0m" : "";
    fprintf(f, "\n%-4s %-24s %-12s %7s %7s %8s %-12s %-12s %s\n", "#", "id", "framework", "prompt", "gen", "time",
            "answer", "expected", "result");
    for (size_t i = 0; i < results.size(); i++) {
        const CaseResult& c = results[i];
        std::string res = c.status == "PASSED" || c.status == "FAILED"
                              ? c.status + (c.grade.reason.empty() ? "" : " (" + c.grade.reason + ")")
                              : verdict(c);
        if (c.resumed) res += " [resumed]";
        fprintf(f, "%-4zu %-24s %-12s %7d %7d %7.1fs %-12s %-12s %s%s%s\n", i + 1, clip(c.id, 24).c_str(),
                clip(c.framework, 12).c_str(), c.prompt_tokens, c.gen_tokens, c.seconds,
                clip(shown(c.grade.answer), 12).c_str(), clip(c.expected, 12).c_str(),
                color ? status_color(c.status) : "", res.c_str(), reset);
    }
    Tally all;
    auto fw = tally_by_framework(results, &all);
    fprintf(f, "\n%-16s %7s %7s %7s\n", "framework", "passed", "total", "rate");
    for (auto& [name, t] : fw)
        fprintf(f, "%-16s %7d %7d %6.1f%%\n", clip(name, 16).c_str(), t.passed, t.total, 100.0 * t.rate());
    int skipped = 0, stopped = 0;
    for (const CaseResult& c : results) {
        skipped += c.status == "SKIPPED";
        stopped += c.status == "STOPPED";
    }
    fprintf(f, "%-16s %7d %7d %6.1f%%\n", "overall", all.passed, all.total, 100.0 * all.rate());
    fprintf(f, "\nds4-eval: %d/%d passed", all.passed, all.total);
    if (all.total > all.passed) fprintf(f, ", %d failed", all.total - all.passed);
    if (skipped) fprintf(f, ", %d skipped", skipped);
    if (stopped) fprintf(f, ", %d stopped", stopped);
    fprintf(f, ", runtime %.1fs\n", runtime_s);
}

std::string results_json(const std::vector<CaseResult>& results, const std::map<std::string, std::string>& meta) {
    std::string o = "{\"results\":[";
    for (size_t i = 0; i < results.size(); i++) {
        const CaseResult& c = results[i];
        o += i ? ",\n" : "\n";
        o += "{";
        jfield(o, "id", c.id);
        jfield(o, "framework", c.framework);
        o += "\"passed\":" + std::string(c.status == "PASSED" ? "true" : "false") + ",";
        jfield(o, "status", c.status);
        jfield(o, "answer", c.grade.answer);
        jfield(o, "expected", c.expected);
        jfield(o, "reason", c.grade.reason);
        jnum(o, "prompt_tokens", c.prompt_tokens);
        jnum(o, "gen_tokens", c.gen_tokens);
        jnum(o, "seconds", c.seconds);
        jfield(o, "think_close", think_close_name(c.close), false);
        o += "}";
    }
    Tally all;
    auto fw = tally_by_framework(results, &all);
    o += "\n],\n\"summary\":{";
    jnum(o, "passed", all.passed);
    jnum(o, "total", all.total);
    jnum(o, "rate", all.rate());
    for (auto& [k, v] : meta) jfield(o, k.c_str(), v);
    o += "\"frameworks\":{";
    for (size_t i = 0; i < fw.size(); i++) {
        o += (i ? "," : "") + json::quote(fw[i].first) + ":{";
        jnum(o, "passed", fw[i].second.passed);
        jnum(o, "total", fw[i].second.total);
        jnum(o, "rate", fw[i].second.rate(), false);
        o += "}";
    }
    return o + "}}}\n";
}

void write_results_json(const std::string& path, const std::vector<CaseResult>& results,
                        const std::map<std::string, std::string>& meta) {
    // Written to a temp name then renamed: an interrupted run never leaves a torn file,
    // which matters because the same file is the next run's --resume input.
    const std::string tmp = path + ".tmp";
    FILE* f = fopen(tmp.c_str(), "wb");
    if (!f) fail("%s: %s", tmp.c_str(), strerror(errno));
    std::string s = results_json(results, meta);
    bool ok = fwrite(s.data(), 1, s.size(), f) == s.size();
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp.c_str(), path.c_str()) != 0) fail("%s: write failed", path.c_str());
}

std::vector<CaseResult> load_resume(const std::string& path) {
    json::Value doc = json::parse(read_file(path));
    const json::Value* arr = doc.find("results");
    if (!arr) fail("%s: no \"results\" array", path.c_str());
    std::vector<CaseResult> out;
    for (const json::Value& r : arr->as_array("results")) {
        auto str = [&](const char* k) {
            const json::Value* v = r.find(k);
            return v && v->is_string() ? v->str : std::string();
        };
        auto num = [&](const char* k) {
            const json::Value* v = r.find(k);
            return v && v->is_number() ? v->number : 0.0;
        };
        CaseResult c;
        c.id = str("id");
        if (c.id.empty()) fail("%s: result without id", path.c_str());
        c.framework = str("framework");
        const json::Value* passed = r.find("passed");
        c.status = str("status");
        if (c.status.empty()) c.status = passed && passed->is_bool() && passed->boolean ? "PASSED" : "FAILED";
        if (c.status != "PASSED" && c.status != "FAILED") continue;
        c.grade.passed = c.status == "PASSED";
        c.grade.answer = str("answer");
        c.grade.reason = str("reason");
        c.expected = str("expected");
        c.prompt_tokens = (int)num("prompt_tokens");
        c.gen_tokens = (int)num("gen_tokens");
        c.seconds = num("seconds");
        c.resumed = true;
        out.push_back(std::move(c));
    }
    return out;
}

Trace::Trace(const std::string& path) {
    if (path.empty()) return;
    f_ = fopen(path.c_str(), "wb");
    if (!f_) fail("%s: %s", path.c_str(), strerror(errno));
}

Trace::~Trace() {
    if (f_) fclose(f_);
}

void Trace::header(const std::map<std::string, std::string>& kv) {
    if (!f_) return;
    fprintf(f_, "# ds4-eval trace\n");
    for (auto& [k, v] : kv) fprintf(f_, "%s: %s\n", k.c_str(), v.c_str());
    fflush(f_);
}

void Trace::write_case(int index, int total, const Question& q, const std::string& prompt_text, const CaseResult& c) {
    if (!f_) return;
    fprintf(f_, "\n===== CASE %d/%d %s/%s =====\n", index, total, q.framework.c_str(), q.id.c_str());
    fprintf(f_, "status: %s\npicked: %s\nexpected: %s\nreason: %s\n", c.status.c_str(), shown(c.grade.answer).c_str(),
            c.expected.c_str(), c.grade.reason.c_str());
    fprintf(f_, "prompt_tokens: %d\ngenerated_tokens: %d\nelapsed_sec: %.3f\n", c.prompt_tokens, c.gen_tokens, c.seconds);
    fprintf(f_, "think_close: %s\nthink_close_index: %d\nthink_close_remaining: %d\nthink_close_rank: %d\n",
            think_close_name(c.close), c.close_index, c.close_remaining, c.close_rank);
    for (size_t i = 0; i < q.choices.size(); i++) fprintf(f_, "choice %c: %s\n", (char)('A' + i), q.choices[i].c_str());
    auto block = [&](const char* label, const std::string& text) {
        fprintf(f_, "----- %s -----\n%s\n----- END %s -----\n", label, text.c_str(), label);
    };
    block("PROMPT", prompt_text);
    block("MODEL_OUTPUT", c.output);
    if (!c.grade.detail.empty()) block("GRADER_DETAIL", c.grade.detail);
    fflush(f_);
}

void Trace::summary(const std::vector<CaseResult>& results) {
    if (!f_) return;
    Tally all;
    tally_by_framework(results, &all);
    fprintf(f_, "\n===== SUMMARY =====\npassed: %d\nfailed: %d\ntotal: %d\n", all.passed, all.total - all.passed,
            all.total);
    fflush(f_);
}

}  // namespace ds4::eval
