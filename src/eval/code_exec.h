// Code-framework grading (HumanEval style): pull the completion out of the reply, build
// prompt + completion + tests + check(entry_point), run it in a sandboxed python3.
#pragma once
#include <string>
#include <string_view>

namespace ds4::eval {

// The code to test: the last ```python (```py or bare ```) block that defines entry_point,
// else the last such block, else the raw text (a plain continuation of the prompt).
// "" when the reply holds nothing.
std::string extract_code(std::string_view visible, std::string_view entry_point);

// A completion that redefines `def entry_point` is appended after the prompt (keeping the
// prompt's imports and helpers); otherwise it is a body continuing the prompt's signature.
std::string build_program(std::string_view prompt, std::string_view completion, std::string_view test,
                          std::string_view entry_point);

struct CodeResult {
    bool passed = false;      // exited with status 0
    bool timed_out = false;
    int exit_code = -1;       // or -signal
    bool no_network = false;  // a private network namespace was obtained
    std::string output_tail;  // last lines of stdout+stderr
};

// Runs `program` with python3 in a fresh temp directory, its own process group (the whole
// group is killed on timeout), no network when the kernel allows an unprivileged network
// namespace (else at least without proxy variables), and memory/file-size limits.
// Throws Error only when python3 cannot be found or the temp dir cannot be made.
CodeResult run_python(const std::string& program, double timeout_s);

}  // namespace ds4::eval
