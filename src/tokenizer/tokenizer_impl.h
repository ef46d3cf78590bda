// Internal state of ds4::Tokenizer (shared by tokenizer.cpp and tokenizer_gguf.cpp).
#pragma once
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ds4 {

// Open-addressing map (left id, right id) -> (rank, merged id).
class MergeTable {
public:
    struct Entry {
        uint64_t key;
        int32_t rank;
        int32_t id;
    };
    void reserve(size_t n);
    // Keeps the first (lowest-rank) entry for a pair; returns false when the pair was present.
    bool insert(int32_t a, int32_t b, int32_t rank, int32_t id);
    const Entry* find(int32_t a, int32_t b) const {
        if (slots_.empty()) return nullptr;
        const uint64_t k = key(a, b);
        for (size_t h = hash(k) & mask_;; h = (h + 1) & mask_) {
            const Entry& e = slots_[h];
            if (e.key == k) return &e;
            if (e.key == kEmpty) return nullptr;
        }
    }
    size_t size() const { return count_; }
    // All slots; entries with key == empty() are free.
    const std::vector<Entry>& slots() const { return slots_; }
    static constexpr uint64_t empty_key() { return kEmpty; }

private:
    static constexpr uint64_t kEmpty = ~uint64_t(0);
    static uint64_t key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
    static uint64_t hash(uint64_t x) {
        x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
        return x;
    }
    std::vector<Entry> slots_;
    size_t mask_ = 0, count_ = 0;
};

// Open-addressing index string -> id over strings kept elsewhere (the token table).
class StringIndex {
public:
    void reserve(size_t n);
    // Keeps the first id for a string. `s` must stay alive (it is the token table's).
    void insert(const std::vector<std::string>& table, int32_t id);
    int32_t find(const std::vector<std::string>& table, std::string_view s) const {
        if (slots_.empty()) return -1;
        const uint64_t h = hash(s);
        for (size_t i = h & mask_;; i = (i + 1) & mask_) {
            const Slot& e = slots_[i];
            if (e.id < 0) return -1;
            if (e.hash == h && table[size_t(e.id)] == s) return e.id;
        }
    }

private:
    struct Slot {
        uint64_t hash;
        int32_t id;
    };
    static uint64_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }
    std::vector<Slot> slots_;
    size_t mask_ = 0;
};

// Byte trie of the added-token strings, for leftmost-longest matching.
class TokenTrie {
public:
    void insert(std::string_view s, int32_t id);  // keeps the first id for a string
    // Longest token that starts at text[i]: sets len, returns its id; -1 if none.
    int32_t longest(std::string_view text, size_t i, size_t& len) const;
    bool empty() const { return nodes_.size() <= 1; }

private:
    struct Node {
        int32_t id = -1;
        std::vector<std::pair<uint8_t, int32_t>> kids;  // sorted by byte
    };
    int32_t child(int32_t node, uint8_t b) const;
    std::vector<Node> nodes_{Node{}};
    int32_t root_[256] = {};  // 0 = none (node 0 is the root itself)
};

struct Tokenizer::Impl {
    std::vector<std::string> tokens;      // as given
    std::vector<std::string> bytes;       // raw bytes per id
    std::vector<int32_t> types;           // per id (synthesized when none were given)
    StringIndex text_to_id;               // first id per token string
    int32_t byte_id[256];                 // single-byte tokens, -1 when missing
    MergeTable merges;
    TokenTrie added;
    int32_t bos = -1, eos = -1;
    bool monotone_merges = false;         // see build()

    static constexpr size_t kCacheMaxEntries = 1 << 16;
    static constexpr size_t kKeepScratch = 1 << 16;  // larger per-thread scratch is freed after use
    static constexpr size_t kCacheMaxPieceBytes = 64;
    mutable std::mutex cache_mu;
    struct StrHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    mutable std::unordered_map<std::string, std::vector<int32_t>, StrHash, std::equal_to<>> cache;

    void bpe(std::string_view piece, std::vector<int32_t>& out) const;
    void encode_plain(std::string_view text, std::vector<int32_t>& out) const;
};

}  // namespace ds4
