#include "safetensors/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sys/stat.h>

#include "quant/float16.h"
#include "quant/lowp.h"
#include "util/error.h"
#include "util/json.h"

namespace ds4::safetensors {

namespace {

struct DTypeInfo {
    DType t;
    const char* name;
    size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::BOOL, "BOOL", 1},       {DType::U8, "U8", 1},           {DType::I8, "I8", 1},
    {DType::I16, "I16", 2},         {DType::U16, "U16", 2},         {DType::I32, "I32", 4},
    {DType::U32, "U32", 4},         {DType::I64, "I64", 8},         {DType::U64, "U64", 8},
    {DType::F16, "F16", 2},         {DType::BF16, "BF16", 2},       {DType::F32, "F32", 4},
    {DType::F64, "F64", 8},         {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1},
    {DType::F8_E8M0, "F8_E8M0", 1},
};

std::string shape_string(const std::vector<int64_t>& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); i++) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

// F8_E5M2 (not part of the DeepSeek release; decoded for completeness): bias 15, Inf/NaN at e=31.
float e5m2_to_f32(uint8_t b) {
    const int e = (b >> 2) & 31, m = b & 3;
    float v;
    if (e == 0) v = std::ldexp((float)m, -16);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = std::ldexp((float)(4 + m), e - 17);
    return (b & 0x80) ? -v : v;
}

bool is_float_scale(DType t) { return t == DType::F8_E8M0 || t == DType::F32; }

inline float scale_at(const Tensor& s, uint64_t i) {
    if (s.dtype == DType::F8_E8M0) return e8m0_to_f32(s.data[i]);
    float f;
    memcpy(&f, s.data + 4 * i, 4);
    return f;
}

}  // namespace

const char* dtype_name(DType t) {
    for (const auto& d : kDTypes)
        if (d.t == t) return d.name;
    return "?";
}
size_t dtype_size(DType t) {
    for (const auto& d : kDTypes)
        if (d.t == t) return d.size;
    return 0;
}
bool parse_dtype(std::string_view s, DType* out) {
    for (const auto& d : kDTypes)
        if (s == d.name) {
            *out = d.t;
            return true;
        }
    return false;
}

std::string Tensor::shape_str() const { return shape_string(shape); }

// ---------------------------------------------------------------------------------------
// File
// ---------------------------------------------------------------------------------------

std::unique_ptr<File> File::open(const std::string& path) {
    std::unique_ptr<File> f(new File());
    f->map_ = MappedFile(path);
    f->base_ = f->map_.data();
    f->size_ = f->map_.size();
    f->label_ = path;
    f->parse();
    return f;
}

std::unique_ptr<File> File::from_memory(const uint8_t* data, size_t size, const std::string& label) {
    std::unique_ptr<File> f(new File());
    f->base_ = data;
    f->size_ = size;
    f->label_ = label;
    f->parse();
    return f;
}

const Tensor* File::find(std::string_view name) const {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

void File::parse() {
    const std::string& L = label_;
    if (size_ < 8) fail("%s: not a safetensors file (%zu bytes, need at least 8)", L.c_str(), size_);
    uint64_t hlen;
    memcpy(&hlen, base_, 8);
    if (hlen > size_ - 8)
        fail("%s: safetensors header length %llu exceeds the file size %zu", L.c_str(), (unsigned long long)hlen, size_);
    if (hlen < 2) fail("%s: safetensors header length %llu too small", L.c_str(), (unsigned long long)hlen);
    const uint64_t data_start = 8 + hlen;
    const uint64_t data_size = size_ - data_start;
    json::Value root;
    try {
        root = json::parse(std::string_view((const char*)base_ + 8, (size_t)hlen), 64);
    } catch (const Error& e) {
        fail("%s: bad safetensors header: %s", L.c_str(), e.what());
    }
    if (!root.is_object()) fail("%s: safetensors header is not a JSON object", L.c_str());

    struct Span {
        uint64_t b, e;
        size_t idx;
    };
    std::vector<Span> spans;
    for (const auto& [name, v] : root.obj) {
        if (name == "__metadata__") {
            if (!v.is_object()) fail("%s: __metadata__ is not an object", L.c_str());
            for (const auto& [k, mv] : v.obj) {
                if (!mv.is_string()) fail("%s: __metadata__ value for '%s' is not a string", L.c_str(), k.c_str());
                meta_.emplace_back(k, mv.str);
            }
            continue;
        }
        if (name.empty()) fail("%s: empty tensor name", L.c_str());
        if (index_.count(name)) fail("%s: duplicate tensor '%s'", L.c_str(), name.c_str());
        if (!v.is_object()) fail("%s: tensor '%s': entry is not an object", L.c_str(), name.c_str());
        const json::Value* dt = v.find("dtype");
        const json::Value* sh = v.find("shape");
        const json::Value* off = v.find("data_offsets");
        if (!dt || !dt->is_string()) fail("%s: tensor '%s': missing or non-string dtype", L.c_str(), name.c_str());
        if (!sh || !sh->is_array()) fail("%s: tensor '%s': missing or non-array shape", L.c_str(), name.c_str());
        if (!off || !off->is_array() || off->arr.size() != 2)
            fail("%s: tensor '%s': data_offsets must be [begin, end]", L.c_str(), name.c_str());
        Tensor t;
        t.name = name;
        if (!parse_dtype(dt->str, &t.dtype))
            fail("%s: tensor '%s': unsupported dtype '%s'", L.c_str(), name.c_str(), dt->str.c_str());
        if (sh->arr.size() > 8) fail("%s: tensor '%s': too many dims (%zu)", L.c_str(), name.c_str(), sh->arr.size());
        uint64_t numel = 1;
        bool zero = false;
        for (const auto& d : sh->arr) {
            if (!d.is_number() || !d.is_int || d.integer < 0)
                fail("%s: tensor '%s': shape entries must be non-negative integers", L.c_str(), name.c_str());
            uint64_t x = (uint64_t)d.integer;
            t.shape.push_back(d.integer);
            if (x == 0) zero = true;
            else if (!zero && numel > (UINT64_MAX >> 4) / x)
                fail("%s: tensor '%s': shape %s overflows", L.c_str(), name.c_str(), shape_string(t.shape).c_str());
            else if (!zero) numel *= x;
        }
        if (zero) numel = 0;
        t.numel = numel;
        uint64_t ob[2];
        for (int i = 0; i < 2; i++) {
            const json::Value& o = off->arr[i];
            if (!o.is_number() || !o.is_int || o.integer < 0)
                fail("%s: tensor '%s': data_offsets must be non-negative integers", L.c_str(), name.c_str());
            ob[i] = (uint64_t)o.integer;
        }
        if (ob[0] > ob[1]) fail("%s: tensor '%s': data_offsets begin > end", L.c_str(), name.c_str());
        if (ob[1] > data_size)
            fail("%s: tensor '%s': data_offsets [%llu, %llu] beyond the data section (%llu bytes)", L.c_str(),
                 name.c_str(), (unsigned long long)ob[0], (unsigned long long)ob[1], (unsigned long long)data_size);
        const uint64_t want = numel * dtype_size(t.dtype);
        if (ob[1] - ob[0] != want)
            fail("%s: tensor '%s': %s %s needs %llu bytes, data_offsets give %llu", L.c_str(), name.c_str(),
                 dtype_name(t.dtype), shape_string(t.shape).c_str(), (unsigned long long)want,
                 (unsigned long long)(ob[1] - ob[0]));
        t.data = base_ + data_start + ob[0];
        t.nbytes = want;
        index_[name] = tensors_.size();
        spans.push_back({ob[0], ob[1], tensors_.size()});
        tensors_.push_back(std::move(t));
    }
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.b < b.b || (a.b == b.b && a.e < b.e); });
    const Span* prev = nullptr;  // the non-empty span reaching furthest so far
    for (const Span& c : spans) {
        if (c.e == c.b) continue;
        if (prev && c.b < prev->e)
            fail("%s: tensors '%s' and '%s' overlap", L.c_str(), tensors_[prev->idx].name.c_str(), tensors_[c.idx].name.c_str());
        if (!prev || c.e > prev->e) prev = &c;
    }
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

void decode_to_f32(const Tensor& t, float* out) {
    const uint8_t* p = t.data;
    const uint64_t n = t.numel;
    switch (t.dtype) {
        case DType::F32: memcpy(out, p, n * 4); break;
        case DType::F16:
            for (uint64_t i = 0; i < n; i++) {
                uint16_t h;
                memcpy(&h, p + 2 * i, 2);
                out[i] = fp16_to_fp32(h);
            }
            break;
        case DType::BF16:
            for (uint64_t i = 0; i < n; i++) {
                uint16_t h;
                memcpy(&h, p + 2 * i, 2);
                out[i] = bf16_to_fp32(h);
            }
            break;
        case DType::F64:
            for (uint64_t i = 0; i < n; i++) {
                double d;
                memcpy(&d, p + 8 * i, 8);
                out[i] = (float)d;
            }
            break;
        case DType::F8_E4M3:
            for (uint64_t i = 0; i < n; i++) out[i] = e4m3_to_f32_nan_as_zero(p[i]);
            break;
        case DType::F8_E5M2:
            for (uint64_t i = 0; i < n; i++) out[i] = e5m2_to_f32(p[i]);
            break;
        case DType::F8_E8M0:
            for (uint64_t i = 0; i < n; i++) out[i] = e8m0_to_f32(p[i]);
            break;
        case DType::BOOL:
        case DType::U8:
            for (uint64_t i = 0; i < n; i++) out[i] = (float)p[i];
            break;
        case DType::I8:
            for (uint64_t i = 0; i < n; i++) out[i] = (float)(int8_t)p[i];
            break;
#define DS4_INT_CASE(DT, CT)                                  \
    case DType::DT:                                           \
        for (uint64_t i = 0; i < n; i++) {                    \
            CT v;                                             \
            memcpy(&v, p + sizeof(CT) * i, sizeof(CT));       \
            out[i] = (float)v;                                \
        }                                                     \
        break;
            DS4_INT_CASE(I16, int16_t)
            DS4_INT_CASE(U16, uint16_t)
            DS4_INT_CASE(I32, int32_t)
            DS4_INT_CASE(U32, uint32_t)
            DS4_INT_CASE(I64, int64_t)
            DS4_INT_CASE(U64, uint64_t)
#undef DS4_INT_CASE
    }
}

// ---------------------------------------------------------------------------------------
// Checkpoint
// ---------------------------------------------------------------------------------------

static bool is_dir(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
static bool exists(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0;
}

std::unique_ptr<Checkpoint> Checkpoint::open(const std::string& where) {
    std::unique_ptr<Checkpoint> c(new Checkpoint());
    c->path_ = where;
    std::vector<std::string> shards;
    std::unordered_map<std::string, std::string> weight_map;  // from the index, checked after loading
    if (!is_dir(where)) {
        if (!exists(where)) fail("%s: no such file or directory", where.c_str());
        shards.push_back(where);
    } else {
        const std::string idx = where + "/model.safetensors.index.json";
        if (exists(idx)) {
            json::Value root;
            try {
                root = json::parse(read_text_file(idx));
            } catch (const Error& e) {
                fail("%s: %s", idx.c_str(), e.what());
            }
            const json::Value* wm = root.find("weight_map");
            if (!wm || !wm->is_object()) fail("%s: missing weight_map object", idx.c_str());
            for (const auto& [name, v] : wm->obj) {
                if (!v.is_string()) fail("%s: weight_map['%s'] is not a string", idx.c_str(), name.c_str());
                const std::string& f = v.str;
                if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
                    fail("%s: weight_map['%s']: bad shard name '%s'", idx.c_str(), name.c_str(), f.c_str());
                weight_map[name] = f;
                if (std::find(shards.begin(), shards.end(), where + "/" + f) == shards.end())
                    shards.push_back(where + "/" + f);
            }
            if (shards.empty()) fail("%s: empty weight_map", idx.c_str());
        } else if (exists(where + "/model.safetensors")) {
            shards.push_back(where + "/model.safetensors");
        } else {
            fail("%s: neither model.safetensors.index.json nor model.safetensors found", where.c_str());
        }
    }
    for (const auto& s : shards) {
        c->files_.push_back(File::open(s));
        for (const Tensor& t : c->files_.back()->tensors()) {
            if (!weight_map.empty()) {
                auto it = weight_map.find(t.name);
                if (it == weight_map.end() || where + "/" + it->second != s) continue;  // not this shard's
            }
            if (c->by_name_.count(t.name)) fail("%s: tensor '%s' appears in two shards", where.c_str(), t.name.c_str());
            c->by_name_[t.name] = &t;
        }
    }
    for (const auto& [name, f] : weight_map)
        if (!c->by_name_.count(name))
            fail("%s: weight_map lists '%s' in %s, but that shard does not hold it", where.c_str(), name.c_str(), f.c_str());
    return c;
}

const Tensor* Checkpoint::find(std::string_view name) const {
    auto it = by_name_.find(std::string(name));
    return it == by_name_.end() ? nullptr : it->second;
}

std::vector<std::string> Checkpoint::names() const {
    std::vector<std::string> r;
    r.reserve(by_name_.size());
    for (const auto& kv : by_name_) r.push_back(kv.first);
    std::sort(r.begin(), r.end());
    return r;
}

Checkpoint::Logical Checkpoint::logical(const std::string& name) const {
    Logical l;
    l.weight = find(name);
    if (!l.weight) fail("%s: missing tensor '%s'", path_.c_str(), name.c_str());
    const Tensor& w = *l.weight;
    l.shape = w.shape;
    l.numel = w.numel;
    const Tensor* s = nullptr;
    if (name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0)
        s = find(name.substr(0, name.size() - 7) + ".scale");
    if (w.dtype == DType::F8_E4M3 && s) {
        if (w.shape.size() != 2) fail("%s: '%s': FP8 block-scaled weight must be 2-D, got %s", path_.c_str(), name.c_str(), w.shape_str().c_str());
        if (!is_float_scale(s->dtype)) fail("%s: '%s': scale dtype %s unsupported (want F8_E8M0 or F32)", path_.c_str(), s->name.c_str(), dtype_name(s->dtype));
        const int64_t so = (w.shape[0] + 127) / 128, si = (w.shape[1] + 127) / 128;
        if (s->shape.size() != 2 || s->shape[0] != so || s->shape[1] != si)
            fail("%s: '%s': scale shape %s does not match weight %s (want [%lld, %lld] for 128x128 blocks)", path_.c_str(),
                 s->name.c_str(), s->shape_str().c_str(), w.shape_str().c_str(), (long long)so, (long long)si);
        l.scale = s;
        l.enc = Encoding::Fp8Block;
    } else if ((w.dtype == DType::I8 || w.dtype == DType::U8) && s) {
        if (w.shape.size() != 2) fail("%s: '%s': FP4 packed weight must be 2-D, got %s", path_.c_str(), name.c_str(), w.shape_str().c_str());
        if (!is_float_scale(s->dtype)) fail("%s: '%s': scale dtype %s unsupported (want F8_E8M0 or F32)", path_.c_str(), s->name.c_str(), dtype_name(s->dtype));
        const int64_t out = w.shape[0], in = w.shape[1] * 2;
        if (in % 32 != 0) fail("%s: '%s': FP4 input width %lld is not a multiple of 32", path_.c_str(), name.c_str(), (long long)in);
        if (s->shape.size() != 2 || s->shape[0] != out || s->shape[1] != in / 32)
            fail("%s: '%s': scale shape %s does not match FP4 weight %s (want [%lld, %lld])", path_.c_str(), s->name.c_str(),
                 s->shape_str().c_str(), w.shape_str().c_str(), (long long)out, (long long)(in / 32));
        l.scale = s;
        l.enc = Encoding::Fp4Packed;
        l.shape = {out, in};
        l.numel = (uint64_t)out * (uint64_t)in;
    }
    if (l.scale && l.scale->dtype == DType::F8_E8M0)
        for (uint64_t i = 0; i < l.scale->numel; i++)
            if (l.scale->data[i] == 0xFF) fail("%s: '%s': E8M0 scale byte 0xFF (NaN) at index %llu", path_.c_str(), l.scale->name.c_str(), (unsigned long long)i);
    if (s && !l.scale && w.dtype != DType::F8_E4M3) {
        fail("%s: '%s': has a .scale companion but dtype %s is not F8_E4M3 or I8 (FP4)", path_.c_str(), name.c_str(), dtype_name(w.dtype));
    }
    return l;
}

void Checkpoint::load_f32(const Logical& l, float* out) const {
    const Tensor& w = *l.weight;
    switch (l.enc) {
        case Encoding::Plain: decode_to_f32(w, out); return;
        case Encoding::Fp8Block: {
            const int64_t rows = w.shape[0], cols = w.shape[1];
            const int64_t sc = l.scale->shape[1];
            for (int64_t r = 0; r < rows; r++) {
                const uint8_t* src = w.data + (uint64_t)r * cols;
                float* dst = out + (uint64_t)r * cols;
                for (int64_t c = 0; c < cols; c++) {
                    const float s = scale_at(*l.scale, (uint64_t)(r / 128) * sc + (uint64_t)(c / 128));
                    dst[c] = e4m3_to_f32_nan_as_zero(src[c]) * s;
                }
            }
            return;
        }
        case Encoding::Fp4Packed: {
            const int64_t rows = l.shape[0], in = l.shape[1];
            const int64_t nb = in / 32;
            for (int64_t r = 0; r < rows; r++) {
                const uint8_t* src = w.data + (uint64_t)r * (in / 2);
                float* dst = out + (uint64_t)r * in;
                for (int64_t b = 0; b < nb; b++) {
                    const float s = scale_at(*l.scale, (uint64_t)r * nb + b);
                    for (int j = 0; j < 16; j++) {
                        const uint8_t byte = src[b * 16 + j];
                        dst[b * 32 + 2 * j] = e2m1_to_f32(byte & 15) * s;
                        dst[b * 32 + 2 * j + 1] = e2m1_to_f32(byte >> 4) * s;
                    }
                }
            }
            return;
        }
    }
}

std::vector<float> Checkpoint::load_f32(const std::string& name, std::vector<int64_t>* shape) const {
    Logical l = logical(name);
    std::vector<float> v(l.numel);
    load_f32(l, v.data());
    if (shape) *shape = l.shape;
    return v;
}

std::vector<int64_t> Checkpoint::load_i64(const std::string& name, std::vector<int64_t>* shape) const {
    const Tensor* t = find(name);
    if (!t) fail("%s: missing tensor '%s'", path_.c_str(), name.c_str());
    if (shape) *shape = t->shape;
    std::vector<int64_t> v(t->numel);
    const uint8_t* p = t->data;
    for (uint64_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
            case DType::I64: memcpy(&v[i], p + 8 * i, 8); break;
            case DType::U64: {
                uint64_t u;
                memcpy(&u, p + 8 * i, 8);
                if (u > (uint64_t)INT64_MAX) fail("%s: '%s': value out of range", path_.c_str(), name.c_str());
                v[i] = (int64_t)u;
                break;
            }
            case DType::I32: { int32_t x; memcpy(&x, p + 4 * i, 4); v[i] = x; break; }
            case DType::U32: { uint32_t x; memcpy(&x, p + 4 * i, 4); v[i] = x; break; }
            case DType::I16: { int16_t x; memcpy(&x, p + 2 * i, 2); v[i] = x; break; }
            case DType::U16: { uint16_t x; memcpy(&x, p + 2 * i, 2); v[i] = x; break; }
            case DType::I8: v[i] = (int8_t)p[i]; break;
            case DType::U8:
            case DType::BOOL: v[i] = p[i]; break;
            default:
                fail("%s: '%s': dtype %s is not an integer type", path_.c_str(), name.c_str(), dtype_name(t->dtype));
        }
    }
    return v;
}

}  // namespace ds4::safetensors
