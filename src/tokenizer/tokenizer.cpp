#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <climits>
#include <functional>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "util/error.h"
#include "util/json.h"

namespace ds4 {

namespace {

constexpr char kBos[] = "<｜begin▁of▁sentence｜>";
constexpr char kEos[] = "<｜end▁of▁sentence｜>";

// GPT-2 byte -> code point map: bytes 33..126, 161..172, 174..255 map to themselves, the
// other 68 to 256, 257, ... in increasing byte order.
struct ByteAlphabet {
    uint32_t b2u[256];
    int16_t u2b[324];
    ByteAlphabet() {
        std::fill(std::begin(u2b), std::end(u2b), int16_t(-1));
        uint32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool self = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
            b2u[b] = self ? uint32_t(b) : next++;
            u2b[b2u[b]] = int16_t(b);
        }
    }
};
const ByteAlphabet& alphabet() {
    static const ByteAlphabet a;
    return a;
}

void append_utf8(std::string& s, uint32_t cp) {
    if (cp < 0x80) {
        s += char(cp);
    } else if (cp < 0x800) {
        s += char(0xC0 | (cp >> 6));
        s += char(0x80 | (cp & 0x3F));
    } else {
        s += char(0xE0 | (cp >> 12));
        s += char(0x80 | ((cp >> 6) & 0x3F));
        s += char(0x80 | (cp & 0x3F));
    }
}

// Byte-alphabet token string -> raw bytes; the string itself when a character is outside
// the alphabet (HF ByteLevel decoder behaviour).
std::string alphabet_to_bytes(const std::string& tok) {
    const ByteAlphabet& a = alphabet();
    std::string out;
    out.reserve(tok.size());
    for (size_t i = 0; i < tok.size();) {
        const uint8_t b0 = uint8_t(tok[i]);
        uint32_t cp;
        size_t len;
        if (b0 < 0x80) { cp = b0; len = 1; }
        else if ((b0 & 0xE0) == 0xC0 && i + 1 < tok.size()) {
            cp = ((b0 & 0x1Fu) << 6) | (uint8_t(tok[i + 1]) & 0x3Fu);
            len = 2;
        } else {
            return tok;  // every alphabet character is at most 2 UTF-8 bytes
        }
        if (cp >= 324 || a.u2b[cp] < 0) return tok;
        out += char(a.u2b[cp]);
        i += len;
    }
    return out;
}

bool looks_special(std::string_view s) {
    auto wrapped = [&](std::string_view open, std::string_view close) {
        return s.size() > open.size() + close.size() && s.substr(0, open.size()) == open &&
               s.substr(s.size() - close.size()) == close;
    };
    return wrapped("<｜", "｜>") || wrapped("<|", "|>") || s == "<think>" || s == "</think>" || s == "｜DSML｜";
}

bool is_added_type(int32_t t) { return t == kTokenControl || t == kTokenUserDefined; }

}  // namespace

// ---------------------------------------------------------------------------------------
void MergeTable::reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    slots_.assign(cap, Entry{kEmpty, 0, 0});
    mask_ = cap - 1;
    count_ = 0;
}

bool MergeTable::insert(int32_t a, int32_t b, int32_t rank, int32_t id) {
    if (2 * (count_ + 1) > slots_.size()) {
        std::vector<Entry> old = std::move(slots_);
        reserve(count_ + 1 > 8 ? 2 * (count_ + 1) : 16);
        for (const Entry& e : old)
            if (e.key != kEmpty) insert(int32_t(e.key >> 32), int32_t(uint32_t(e.key)), e.rank, e.id);
    }
    const uint64_t k = key(a, b);
    for (size_t h = hash(k) & mask_;; h = (h + 1) & mask_) {
        Entry& e = slots_[h];
        if (e.key == k) return false;
        if (e.key == kEmpty) {
            e = Entry{k, rank, id};
            ++count_;
            return true;
        }
    }
}

void StringIndex::reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    slots_.assign(cap, Slot{0, -1});
    mask_ = cap - 1;
}

void StringIndex::insert(const std::vector<std::string>& table, int32_t id) {
    const std::string& s = table[size_t(id)];
    const uint64_t h = hash(s);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
        Slot& e = slots_[i];
        if (e.id < 0) { e = Slot{h, id}; return; }
        if (e.hash == h && table[size_t(e.id)] == s) return;
    }
}

void TokenTrie::insert(std::string_view s, int32_t id) {
    if (s.empty()) return;
    int32_t node = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        const uint8_t b = uint8_t(s[i]);
        int32_t next = (i == 0) ? (root_[b] ? root_[b] : -1) : child(node, b);
        if (next < 0) {
            next = int32_t(nodes_.size());
            nodes_.emplace_back();
            if (i == 0) {
                root_[b] = next;
            } else {
                auto& kids = nodes_[size_t(node)].kids;
                kids.insert(std::lower_bound(kids.begin(), kids.end(), std::make_pair(b, int32_t(-1))),
                            std::make_pair(b, next));
            }
        }
        node = next;
    }
    if (nodes_[size_t(node)].id < 0) nodes_[size_t(node)].id = id;
}

int32_t TokenTrie::child(int32_t node, uint8_t b) const {
    const auto& kids = nodes_[size_t(node)].kids;
    auto it = std::lower_bound(kids.begin(), kids.end(), std::make_pair(b, int32_t(-1)));
    return (it != kids.end() && it->first == b) ? it->second : -1;
}

int32_t TokenTrie::longest(std::string_view text, size_t i, size_t& len) const {
    int32_t node = root_[uint8_t(text[i])];
    if (!node) return -1;
    int32_t best = -1;
    for (size_t j = i + 1;; ++j) {
        if (nodes_[size_t(node)].id >= 0) { best = nodes_[size_t(node)].id; len = j - i; }
        if (j >= text.size()) break;
        node = child(node, uint8_t(text[j]));
        if (node < 0) break;
    }
    return best;
}

// ---------------------------------------------------------------------------------------
Tokenizer Tokenizer::from_vocab(std::vector<std::string> tokens, std::vector<std::string> merges,
                                std::vector<int32_t> token_types) {
    return build(std::move(tokens), std::move(merges), std::move(token_types), "tokens", "merges",
                 "token_types");
}

Tokenizer Tokenizer::build(std::vector<std::string> tokens, std::vector<std::string> merges,
                           std::vector<int32_t> token_types, const char* tokens_key, const char* merges_key,
                           const char* types_key) {
    if (tokens.empty()) fail("%s: no tokens", tokens_key);
    if (tokens.size() > size_t(INT32_MAX)) fail("%s: %zu tokens is too many", tokens_key, tokens.size());
    if (merges.size() > size_t(INT32_MAX)) fail("%s: %zu merges is too many", merges_key, merges.size());
    if (!token_types.empty() && token_types.size() != tokens.size())
        fail("%s: %zu entries for %zu tokens", types_key, token_types.size(), tokens.size());

    auto impl = std::make_shared<Impl>();
    Impl& t = *impl;
    const size_t n = tokens.size();
    t.tokens = std::move(tokens);
    if (token_types.empty()) {
        t.types.resize(n);
        for (size_t i = 0; i < n; ++i) t.types[i] = looks_special(t.tokens[i]) ? kTokenControl : kTokenNormal;
    } else {
        t.types = std::move(token_types);
    }

    // Strings -> ids: all tokens (find_token) and the BPE vocabulary (non-added tokens).
    StringIndex bpe_vocab;
    t.text_to_id.reserve(n);
    bpe_vocab.reserve(n);
    t.bytes.resize(n);
    for (size_t i = 0; i < n; ++i) {
        const std::string& s = t.tokens[i];
        t.text_to_id.insert(t.tokens, int32_t(i));
        if (is_added_type(t.types[i])) {
            t.bytes[i] = s;
            t.added.insert(s, int32_t(i));
        } else {
            bpe_vocab.insert(t.tokens, int32_t(i));
            t.bytes[i] = alphabet_to_bytes(s);
        }
    }
    auto bpe_id = [&](std::string_view s) -> int32_t { return bpe_vocab.find(t.tokens, s); };
    const ByteAlphabet& a = alphabet();
    for (int b = 0; b < 256; ++b) {
        std::string s;
        append_utf8(s, a.b2u[b]);
        t.byte_id[b] = bpe_id(s);
    }

    // Merges whose parts or result are not in the vocabulary can never apply: skipped.
    t.merges.reserve(merges.size());
    std::string joined;
    for (size_t r = 0; r < merges.size(); ++r) {
        const std::string& m = merges[r];
        const size_t sp = m.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 == m.size())
            fail("%s[%zu]: %s is not \"left right\"", merges_key, r, json::quote(m.substr(0, 64)).c_str());
        const std::string_view left(m.data(), sp), right(m.data() + sp + 1, m.size() - sp - 1);
        const int32_t l = bpe_id(left), rr = bpe_id(right);
        if (l < 0 || rr < 0) continue;
        joined.assign(left);
        joined.append(right);
        const int32_t id = bpe_id(joined);
        if (id < 0) continue;
        t.merges.insert(l, rr, int32_t(r), id);
    }
    // Monotone merge table: a merge ranks after every merge that produces one of its parts
    // (true of a trained BPE), so the pending-merge minimum never decreases (RadixQueue).
    {
        std::vector<int32_t> made_at(n, -1);
        for (const MergeTable::Entry& e : t.merges.slots())
            if (e.key != MergeTable::empty_key()) made_at[size_t(e.id)] = std::max(made_at[size_t(e.id)], e.rank);
        t.monotone_merges = true;
        for (const MergeTable::Entry& e : t.merges.slots()) {
            if (e.key == MergeTable::empty_key()) continue;
            const int32_t l = int32_t(e.key >> 32), r = int32_t(uint32_t(e.key));
            if (e.rank <= made_at[size_t(l)] || e.rank <= made_at[size_t(r)]) t.monotone_merges = false;
        }
    }
    t.bos = t.text_to_id.find(t.tokens, kBos);
    t.eos = t.text_to_id.find(t.tokens, kEos);
    return Tokenizer(std::move(impl));
}

// ---------------------------------------------------------------------------------------
namespace {

// Min-priority queues of candidate merges keyed (rank << 32 | position): lowest rank
// first, leftmost on ties.
struct BinaryQueue {
    std::vector<uint64_t> v;
    void clear() { v.clear(); }
    bool empty() const { return v.empty(); }
    void add_initial(uint64_t x) { v.push_back(x); }
    void heapify() { std::make_heap(v.begin(), v.end(), std::greater<uint64_t>()); }
    void push(uint64_t x) {
        v.push_back(x);
        std::push_heap(v.begin(), v.end(), std::greater<uint64_t>());
    }
    uint64_t pop() {
        std::pop_heap(v.begin(), v.end(), std::greater<uint64_t>());
        const uint64_t x = v.back();
        v.pop_back();
        return x;
    }
};

// Radix heap: valid only when no key pushed is below the last key popped, which holds when
// every merge involving a token ranks after the merges that produce it (checked at load:
// Impl::monotone_merges). Sequential memory access; used for long pieces.
struct RadixQueue {
    std::vector<uint64_t> b[65];
    uint64_t last = 0;
    size_t n = 0;
    static int bucket(uint64_t x, uint64_t last) { return x == last ? 0 : 64 - __builtin_clzll(x ^ last); }
    void clear() {
        for (auto& v : b) v.clear();
        last = 0;
        n = 0;
    }
    bool empty() const { return n == 0; }
    void add_initial(uint64_t x) { push(x); }
    void heapify() {}
    void push(uint64_t x) {
        b[bucket(x, last)].push_back(x);
        ++n;
    }
    uint64_t pop() {
        if (b[0].empty()) {
            int i = 1;
            while (b[i].empty()) ++i;
            last = *std::min_element(b[i].begin(), b[i].end());
            for (uint64_t x : b[i]) b[bucket(x, last)].push_back(x);
            b[i].clear();
        }
        const uint64_t x = b[0].back();
        b[0].pop_back();
        --n;
        return x;
    }
};

struct Sym {
    int32_t id, prev, next;
};

// Rank-ordered byte-level BPE of one piece. A popped candidate is stale when the pair now at
// its position has another rank (a rank names one pair, and a position never holds the same
// left id twice), so queue entries need no copy of the ids.
template <class Queue>
void bpe_piece(const int32_t* byte_id, const MergeTable& merges, std::string_view piece, std::vector<Sym>& sym,
               Queue& q, std::vector<int32_t>& out) {
    const size_t n = piece.size();
    sym.resize(n);
    q.clear();
    for (size_t k = 0; k < n; ++k)
        sym[k] = Sym{byte_id[uint8_t(piece[k])], int32_t(k) - 1, k + 1 < n ? int32_t(k + 1) : -1};
    auto lookup = [&](int32_t pos) -> const MergeTable::Entry* {
        const Sym& l = sym[size_t(pos)];
        if (l.next < 0 || l.id < 0) return nullptr;
        const int32_t r = sym[size_t(l.next)].id;
        return r < 0 ? nullptr : merges.find(l.id, r);
    };
    auto key = [](int32_t rank, int32_t pos) { return (uint64_t(uint32_t(rank)) << 32) | uint32_t(pos); };
    for (size_t k = 0; k + 1 < n; ++k)
        if (const MergeTable::Entry* e = lookup(int32_t(k))) q.add_initial(key(e->rank, int32_t(k)));
    q.heapify();
    auto push = [&](int32_t pos) {
        if (const MergeTable::Entry* e = lookup(pos)) q.push(key(e->rank, pos));
    };
    while (!q.empty()) {
        const uint64_t top = q.pop();
        const int32_t rank = int32_t(top >> 32), pos = int32_t(uint32_t(top));
        const MergeTable::Entry* e = lookup(pos);
        if (!e || e->rank != rank) continue;  // stale
        Sym& l = sym[size_t(pos)];
        Sym& r = sym[size_t(l.next)];
        l.id = e->id;
        r.id = -2;  // dead
        l.next = r.next;
        if (r.next >= 0) sym[size_t(r.next)].prev = pos;
        if (l.prev >= 0) push(l.prev);
        push(pos);
    }
    for (int32_t k = 0; k >= 0; k = sym[size_t(k)].next)
        if (sym[size_t(k)].id >= 0) out.push_back(sym[size_t(k)].id);
}

}  // namespace

void Tokenizer::Impl::bpe(std::string_view piece, std::vector<int32_t>& out) const {
    const size_t n = piece.size();
    if (n == 1) {
        const int32_t id = byte_id[uint8_t(piece[0])];
        if (id >= 0) out.push_back(id);
        return;
    }
    thread_local std::vector<Sym> sym;
    if (monotone_merges && n >= 256) {
        thread_local RadixQueue rq;
        bpe_piece(byte_id, merges, piece, sym, rq, out);
        if (n > kKeepScratch) rq = RadixQueue();
    } else {
        thread_local BinaryQueue bq;
        bpe_piece(byte_id, merges, piece, sym, bq, out);
        if (n > kKeepScratch) bq = BinaryQueue();
    }
    if (n > kKeepScratch) std::vector<Sym>().swap(sym);  // do not keep huge buffers per thread
}

void Tokenizer::Impl::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
    thread_local std::vector<PieceSpan> pieces;
    pieces.clear();
    pretokenize(text, pieces);
    std::vector<int32_t> tmp;
    for (const PieceSpan& p : pieces) {
        const std::string_view piece = text.substr(p.off, p.len);
        if (piece.size() <= 1 || piece.size() > kCacheMaxPieceBytes) {
            bpe(piece, out);
            continue;
        }
        {
            std::lock_guard<std::mutex> lock(cache_mu);
            auto it = cache.find(piece);
            if (it != cache.end()) {
                out.insert(out.end(), it->second.begin(), it->second.end());
                continue;
            }
        }
        tmp.clear();
        bpe(piece, tmp);
        out.insert(out.end(), tmp.begin(), tmp.end());
        std::lock_guard<std::mutex> lock(cache_mu);
        if (cache.size() >= kCacheMaxEntries) cache.clear();
        cache.emplace(std::string(piece), tmp);
    }
    if (pieces.capacity() > kKeepScratch) std::vector<PieceSpan>().swap(pieces);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
    if (text.size() >= UINT32_MAX) fail("tokenizer: text of %zu bytes is too long", text.size());
    const Impl& t = *impl_;
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 8);
    if (!parse_special || t.added.empty()) {
        t.encode_plain(text, out);
        return out;
    }
    size_t start = 0;
    for (size_t i = 0; i < text.size();) {
        size_t len = 0;
        const int32_t id = t.added.longest(text, i, len);
        if (id < 0) { ++i; continue; }
        if (start < i) t.encode_plain(text.substr(start, i - start), out);
        out.push_back(id);
        i += len;
        start = i;
    }
    if (start < text.size()) t.encode_plain(text.substr(start), out);
    return out;
}

// ---------------------------------------------------------------------------------------
std::string Tokenizer::token_bytes(int32_t id) const {
    if (id < 0 || size_t(id) >= impl_->bytes.size())
        fail("tokenizer: token id %d out of range (n_vocab %zu)", id, impl_->bytes.size());
    return impl_->bytes[size_t(id)];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
    std::string out;
    for (int32_t id : ids) {
        if (id < 0 || size_t(id) >= impl_->bytes.size())
            fail("tokenizer: token id %d out of range (n_vocab %zu)", id, impl_->bytes.size());
        out += impl_->bytes[size_t(id)];
    }
    return out;
}

int32_t Tokenizer::find_token(std::string_view token_text) const {
    return impl_->text_to_id.find(impl_->tokens, token_text);
}

int32_t Tokenizer::bos() const { return impl_->bos; }
int32_t Tokenizer::eos() const { return impl_->eos; }
size_t Tokenizer::n_vocab() const { return impl_->tokens.size(); }
size_t Tokenizer::n_merges() const { return impl_->merges.size(); }

const std::string& Tokenizer::token_text(int32_t id) const {
    if (id < 0 || size_t(id) >= impl_->tokens.size())
        fail("tokenizer: token id %d out of range (n_vocab %zu)", id, impl_->tokens.size());
    return impl_->tokens[size_t(id)];
}

int32_t Tokenizer::token_type(int32_t id) const {
    if (id < 0 || size_t(id) >= impl_->types.size())
        fail("tokenizer: token id %d out of range (n_vocab %zu)", id, impl_->types.size());
    return impl_->types[size_t(id)];
}

bool Tokenizer::is_added(int32_t id) const { return is_added_type(token_type(id)); }

// ---------------------------------------------------------------------------------------
std::string Utf8Streamer::push(std::string_view bytes) {
    pending_.append(bytes);
    std::string out;
    const size_t n = pending_.size();
    size_t i = 0;
    while (i < n) {
        const uint8_t b0 = uint8_t(pending_[i]);
        int len = b0 < 0x80 ? 1 : (b0 >= 0xC2 && b0 <= 0xDF) ? 2 : (b0 >= 0xE0 && b0 <= 0xEF) ? 3
                : (b0 >= 0xF0 && b0 <= 0xF4) ? 4 : 0;
        if (len <= 1) { out += char(b0); ++i; continue; }  // ASCII, or a byte that cannot lead
        uint8_t lo = 0x80, hi = 0xBF;
        if (b0 == 0xE0) lo = 0xA0;
        else if (b0 == 0xED) hi = 0x9F;
        else if (b0 == 0xF0) lo = 0x90;
        else if (b0 == 0xF4) hi = 0x8F;
        int k = 1;
        bool bad = false;
        for (; k < len && i + size_t(k) < n; ++k) {
            const uint8_t c = uint8_t(pending_[i + size_t(k)]);
            if (k == 1 ? (c < lo || c > hi) : (c & 0xC0) != 0x80) { bad = true; break; }
        }
        if (bad) { out += char(b0); ++i; continue; }  // lead byte can never complete
        if (k < len) break;                            // incomplete: hold back
        out.append(pending_, i, size_t(len));
        i += size_t(len);
    }
    pending_.erase(0, i);
    return out;
}

std::string Utf8Streamer::flush() {
    std::string out;
    out.swap(pending_);
    return out;
}

}  // namespace ds4
