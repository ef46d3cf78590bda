// Small strict JSON reader/writer helpers (RFC 8259). Used for safetensors headers,
// config.json, tokenizer.json, eval question sets and test-vector sidecars.
// Hostile input gives ds4::Error("json: <what> at byte N"); nesting is capped.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ds4::json {

enum class Type { Null, Bool, Number, String, Array, Object };

struct Value {
    Type type = Type::Null;
    bool boolean = false;
    double number = 0;       // every number
    bool is_int = false;     // the literal was an integer that fits int64
    int64_t integer = 0;     // valid when is_int
    std::string str;         // String
    std::vector<Value> arr;  // Array
    std::vector<std::pair<std::string, Value>> obj;  // Object, in file order

    bool is_null() const { return type == Type::Null; }
    bool is_object() const { return type == Type::Object; }
    bool is_array() const { return type == Type::Array; }
    bool is_string() const { return type == Type::String; }
    bool is_number() const { return type == Type::Number; }
    bool is_bool() const { return type == Type::Bool; }

    // Object member lookup (first match); nullptr when absent or not an object.
    const Value* find(std::string_view key) const;
    // Typed accessors that throw Error naming `what` when the type is wrong.
    const std::string& as_string(const char* what = "value") const;
    double as_number(const char* what = "value") const;
    int64_t as_int(const char* what = "value") const;
    bool as_bool(const char* what = "value") const;
    const std::vector<Value>& as_array(const char* what = "value") const;
};

// Parses a complete document (trailing garbage is an error).
Value parse(std::string_view text, int max_depth = 128);

// JSON string literal (with quotes) for s; invalid UTF-8 bytes are written as \u00XX.
std::string quote(std::string_view s);

}  // namespace ds4::json
