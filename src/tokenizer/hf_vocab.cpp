// load_hf_tokenizer: HF tokenizer.json (+ tokenizer_config.json) -> GGUF tokenizer arrays,
// as llama.cpp's converter builds them for DeepSeek V3/V4.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/json.h"

namespace ds4 {

namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("%s: cannot open", path.c_str());
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) fail("%s: read error", path.c_str());
    return ss.str();
}

json::Value parse_file(const std::string& path) {
    const std::string text = read_file(path);
    try {
        return json::parse(text);
    } catch (const Error& e) {
        fail("%s: %s", path.c_str(), e.what());
    }
}

bool looks_like_control(const std::string& s) {
    auto wrapped = [&](const char* open, const char* close) {
        const std::string o(open), c(close);
        return s.size() > o.size() + c.size() && s.compare(0, o.size(), o) == 0 &&
               s.compare(s.size() - c.size(), c.size(), c) == 0;
    };
    return wrapped("<｜", "｜>") || wrapped("<|", "|>");
}

// bos_token / eos_token in tokenizer_config.json: a string or {"content": "..."}.
std::string config_token(const json::Value& cfg, const char* key) {
    const json::Value* v = cfg.find(key);
    if (!v || v->is_null()) return "";
    if (v->is_string()) return v->str;
    if (v->is_object()) {
        if (const json::Value* c = v->find("content"); c && c->is_string()) return c->str;
    }
    return "";
}

}  // namespace

HfVocab load_hf_tokenizer(const std::string& tokenizer_json_path, const std::string& tokenizer_config_path,
                          int64_t vocab_size) {
    const char* P = tokenizer_json_path.c_str();
    const json::Value doc = parse_file(tokenizer_json_path);
    if (!doc.is_object()) fail("%s: not a JSON object", P);
    const json::Value* model = doc.find("model");
    if (!model || !model->is_object()) fail("%s: missing object \"model\"", P);
    if (const json::Value* type = model->find("type"); type && type->is_string() && type->str != "BPE")
        fail("%s: model.type is \"%s\", expected \"BPE\"", P, type->str.c_str());
    const json::Value* vocab = model->find("vocab");
    if (!vocab || !vocab->is_object()) fail("%s: missing object model.vocab", P);
    const json::Value* merges = model->find("merges");
    if (!merges || !merges->is_array()) fail("%s: missing array model.merges", P);

    // Highest id (vocab and added tokens) bounds the table; ids must be sane.
    const int64_t kMaxId = std::max<int64_t>(vocab_size, int64_t(1) << 24);
    auto check_id = [&](const json::Value& v, const char* what) -> int64_t {
        const int64_t id = v.as_int(what);
        if (id < 0 || id >= kMaxId) fail("%s: %s id %lld out of range", P, what, (long long)id);
        return id;
    };
    const json::Value* added = doc.find("added_tokens");
    if (added && !added->is_null() && !added->is_array()) fail("%s: added_tokens is not an array", P);

    int64_t n = 0;
    for (const auto& kv : vocab->obj) n = std::max(n, check_id(kv.second, "model.vocab") + 1);
    if (added && added->is_array()) {
        for (const json::Value& a : added->arr) {
            if (!a.is_object() || !a.find("id")) fail("%s: added_tokens entry without an id", P);
            n = std::max(n, check_id(*a.find("id"), "added_tokens") + 1);
        }
    }
    if (vocab_size > 0) {
        if (n > vocab_size)
            fail("%s: token ids go up to %lld, more than the vocab size %lld", P, (long long)(n - 1),
                 (long long)vocab_size);
        n = vocab_size;
    }

    HfVocab out;
    out.tokens.resize(size_t(n));
    out.token_types.assign(size_t(n), 0);
    for (const auto& kv : vocab->obj) {
        const size_t id = size_t(kv.second.as_int("model.vocab"));
        if (out.token_types[id] != 0 && out.tokens[id] != kv.first)
            fail("%s: model.vocab id %zu used by two tokens", P, id);
        out.tokens[id] = kv.first;
        out.token_types[id] = kTokenNormal;
    }
    if (added && added->is_array()) {
        for (const json::Value& a : added->arr) {
            const size_t id = size_t(a.find("id")->as_int("added_tokens id"));
            const json::Value* content = a.find("content");
            if (!content || !content->is_string()) fail("%s: added_tokens id %zu has no content", P, id);
            const json::Value* special = a.find("special");
            const bool is_special = special && special->is_bool() && special->boolean;
            out.tokens[id] = content->str;
            out.token_types[id] = (is_special || looks_like_control(content->str)) ? kTokenControl : kTokenUserDefined;
        }
    }
    for (size_t id = 0; id < size_t(n); ++id) {
        if (out.token_types[id] == 0) {
            out.tokens[id] = "[PAD" + std::to_string(id) + "]";
            out.token_types[id] = kTokenUnused;
        }
    }

    out.merges.reserve(merges->arr.size());
    for (size_t i = 0; i < merges->arr.size(); ++i) {
        const json::Value& m = merges->arr[i];
        if (m.is_string()) {
            out.merges.push_back(m.str);
        } else if (m.is_array() && m.arr.size() == 2 && m.arr[0].is_string() && m.arr[1].is_string()) {
            out.merges.push_back(m.arr[0].str + " " + m.arr[1].str);
        } else {
            fail("%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", P, i);
        }
    }

    std::string bos = "<｜begin▁of▁sentence｜>", eos = "<｜end▁of▁sentence｜>";
    if (!tokenizer_config_path.empty()) {
        const json::Value cfg = parse_file(tokenizer_config_path);
        if (!cfg.is_object()) fail("%s: not a JSON object", tokenizer_config_path.c_str());
        if (std::string s = config_token(cfg, "bos_token"); !s.empty()) bos = s;
        if (std::string s = config_token(cfg, "eos_token"); !s.empty()) eos = s;
    }
    for (size_t id = 0; id < size_t(n); ++id) {
        if (out.bos_id < 0 && out.tokens[id] == bos) out.bos_id = int32_t(id);
        if (out.eos_id < 0 && out.tokens[id] == eos) out.eos_id = int32_t(id);
    }
    return out;
}

}  // namespace ds4
