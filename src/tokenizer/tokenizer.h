// Byte-level BPE tokenizer for DeepSeek V3/V4 (HF `tokenizers` semantics).
//
// encode(): added tokens (token_type 3 = control, 4 = user-defined) are matched first,
// atomically, leftmost-longest, anywhere in the text (parse_special = false: never); the text
// between them goes through the DeepSeek pre-tokenizer (three Isolated regex splits with real
// Unicode classes, see pretokenizer.h) and rank-ordered byte-level BPE. No BOS/EOS is added.
// decode(): concatenated raw bytes (normal tokens through the GPT-2 byte alphabet, added
// tokens verbatim); the result may end inside a UTF-8 character: stream it via Utf8Streamer.
//
// A Tokenizer is immutable after construction (apart from an internal, mutex-guarded word
// cache), cheap to copy (copies share state) and safe to use from several threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ds4::gguf { class File; }

namespace ds4 {

// Token types as in GGUF `tokenizer.ggml.token_type`.
enum TokenType : int32_t {
    kTokenNormal = 1, kTokenUnknown = 2, kTokenControl = 3, kTokenUserDefined = 4,
    kTokenUnused = 5, kTokenByte = 6,
};

class Tokenizer {
public:
    // Reads tokenizer.ggml.tokens (string array, required), tokenizer.ggml.merges (string
    // array, required) and tokenizer.ggml.token_type (integer array, optional; its length
    // must equal the token count). Other tokenizer keys are ignored. Throws Error naming the
    // key when one is missing or malformed.
    static Tokenizer from_gguf(const gguf::File& f);
    // tokens: id -> token string (GPT-2 byte alphabet; added tokens verbatim).
    // merges: "left right", rank = index. token_types: empty, or one per token; when empty,
    // tokens shaped like <｜…｜> / <|…|> and <think>, </think>, ｜DSML｜ count as added tokens.
    static Tokenizer from_vocab(std::vector<std::string> tokens, std::vector<std::string> merges,
                                std::vector<int32_t> token_types);

    std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;
    std::string token_bytes(int32_t id) const;           // raw bytes of one token; throws if out of range
    std::string decode(const std::vector<int32_t>& ids) const;  // throws on an out-of-range id
    int32_t find_token(std::string_view token_text) const;  // exact token string, -1 if absent
    int32_t bos() const;   // id of <｜begin▁of▁sentence｜>, -1 if absent
    int32_t eos() const;   // id of <｜end▁of▁sentence｜>, -1 if absent
    size_t n_vocab() const;

    const std::string& token_text(int32_t id) const;     // the token string as stored; throws if out of range
    int32_t token_type(int32_t id) const;                // as given (GGUF 0..6); throws if out of range
    bool is_added(int32_t id) const;                     // matched atomically in text (type 3 or 4)
    size_t n_merges() const;                             // merges in effect

    struct Impl;
private:
    explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
    // Shared by from_vocab/from_gguf; the key names are used in error messages.
    static Tokenizer build(std::vector<std::string> tokens, std::vector<std::string> merges,
                           std::vector<int32_t> token_types, const char* tokens_key, const char* merges_key,
                           const char* types_key);
    std::shared_ptr<const Impl> impl_;
};

// Incremental UTF-8 output: push() returns the bytes that form complete characters and holds
// back an incomplete trailing sequence (at most 3 bytes) until later bytes complete it. Bytes
// that can never become part of a valid character (stray continuation bytes, C0/C1/F5..FF,
// a lead byte followed by a non-continuation) are passed through at once, unchanged, so the
// streamer never stalls on bad input. flush() returns whatever is held back.
class Utf8Streamer {
public:
    std::string push(std::string_view bytes);
    std::string flush();
private:
    std::string pending_;
};

// HF tokenizer.json (+ optional tokenizer_config.json) -> the GGUF tokenizer arrays.
struct HfVocab {
    std::vector<std::string> tokens;   // id order; vocab in the byte alphabet, added tokens verbatim
    std::vector<std::string> merges;   // "left right"
    std::vector<int32_t> token_types;  // 1 normal, 3 control, 4 user-defined, 5 unused filler
    int32_t bos_id = -1, eos_id = -1;  // from tokenizer_config's bos_token/eos_token, else by string
};
// vocab_size > 0: pad to that many ids with "[PAD<id>]" (type 5); throws if the file already
// has more ids. Unassigned ids below the highest used id are filled the same way.
HfVocab load_hf_tokenizer(const std::string& tokenizer_json_path, const std::string& tokenizer_config_path,
                          int64_t vocab_size);

}  // namespace ds4
