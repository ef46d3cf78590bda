// One error type for the whole engine: a single-line, human-readable message.
// Tools catch it at main() and print "tool: message" with a non-zero exit.
#pragma once
#include <cstdarg>
#include <stdexcept>
#include <string>

namespace ds4 {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// printf-style formatting into a std::string.
std::string strfmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace ds4
