// ds4-eval output: per-case lines, the final report, --json results, --resume and --trace.
#pragma once
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "eval/question.h"
#include "eval/runner.h"

namespace ds4::eval {

struct Tally {
    int passed = 0, total = 0;  // total = graded (PASSED + FAILED)
    double rate() const { return total ? (double)passed / total : 0.0; }
};
// Per framework, in first-seen order of `results`, plus the overall tally.
std::vector<std::pair<std::string, Tally>> tally_by_framework(const std::vector<CaseResult>& results, Tally* overall);

// "PASSED" / "FAILED (wrong answer) got 12 expected 13" etc.
std::string verdict(const CaseResult& c);

// The final report: one row per case, then the per-framework summary and the overall line.
void print_report(FILE* f, const std::vector<CaseResult>& results, double runtime_s, bool color);

// {"results":[{id,framework,passed,status,answer,expected,reason,prompt_tokens,gen_tokens,seconds,think_close}],
//  "summary":{passed,total,rate,frameworks:{name:{passed,total,rate}},...meta}}
std::string results_json(const std::vector<CaseResult>& results, const std::map<std::string, std::string>& meta);
void write_results_json(const std::string& path, const std::vector<CaseResult>& results,
                        const std::map<std::string, std::string>& meta);
// Results of a previous --json file (marked resumed). STOPPED/SKIPPED entries are not
// carried over, so those questions run again.
std::vector<CaseResult> load_resume(const std::string& path);

// --trace FILE: a readable log with everything the model saw and wrote.
class Trace {
public:
    explicit Trace(const std::string& path);   // "" = disabled
    ~Trace();
    void header(const std::map<std::string, std::string>& kv);
    void write_case(int index, int total, const Question& q, const std::string& prompt_text, const CaseResult& c);
    void summary(const std::vector<CaseResult>& results);
private:
    FILE* f_ = nullptr;
};

}  // namespace ds4::eval
