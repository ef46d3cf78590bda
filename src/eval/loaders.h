// Question-set loaders for ds4-eval.
//
// Formats (one question per JSONL line unless noted; the format is sniffed per line from
// its keys, or forced with a "FORMAT:" prefix on the --set path):
//   ds4        {id, framework, prompt, answer, choices?, grader?, test?, entry_point?}
//   aime       {problem, answer, id?}
//   mmlu-pro   {question, options[], answer (letter) | answer_index, question_id?, category?}
//   supergpqa  {question, options[], answer_letter, uuid?}
//   humaneval  {task_id, prompt, test, entry_point}
//   gpqa       CSV with columns Question, Correct Answer, Incorrect Answer 1..3 (Record ID?);
//              choices are shuffled with a fixed per-question seed (stable across runs/subsets).
// Every problem is an Error "label:line: what".
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "eval/question.h"

namespace ds4::eval {

// RFC 4180: quoted fields may hold commas, "" and newlines; LF or CRLF row ends.
std::vector<std::vector<std::string>> parse_csv(std::string_view text, const std::string& label = "csv");

std::vector<Question> parse_gpqa_csv(std::string_view text, const std::string& label);
// format: "" (sniff each line) or one of ds4, aime, mmlu-pro, supergpqa, humaneval.
std::vector<Question> parse_jsonl(std::string_view text, const std::string& label, std::string_view format = {});

// "[FORMAT:]PATH"; a .csv path means gpqa. Validates every question; ids must be unique.
std::vector<Question> load_set(const std::string& spec);

// Reads a whole file; throws Error("path: ...").
std::string read_file(const std::string& path);

}  // namespace ds4::eval
