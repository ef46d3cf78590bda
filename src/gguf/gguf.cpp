// GGUF reader. The file is hostile until proven otherwise: every length and count is
// checked against the bytes that remain BEFORE anything is allocated or read, so a
// corrupt or malicious file produces one clear Error("<path>: <problem>") and never a
// crash, a hang or a huge allocation. Problems rejected (each names the key/tensor):
//   bad magic; version 0, 1 (u32 string lengths, never produced any more) or > 3; a
//   byte-swapped (big-endian) file; truncation anywhere; string/array lengths past the
//   end of the file; n_kv/n_tensors/array counts larger than the remaining bytes could
//   hold; empty or duplicate keys; unknown value types; nested arrays; bool bytes other
//   than 0/1; general.alignment not a u32 non-zero power of two; empty, duplicate or
//   >= 64-byte tensor names; n_dims 0 or > 4; ne <= 0; element count or byte size
//   overflowing int64; unknown tensor type codes; ne[0] not a multiple of the block
//   size; misaligned tensor offsets; tensor data past the end of the file; overlapping
//   tensors.
// The writer lives in gguf_writer.cpp.
#include "gguf/gguf.h"

#include <algorithm>
#include <bit>
#include <cstdarg>
#include <cstring>
#include <numeric>

#include "gguf/gguf_internal.h"
#include "util/error.h"

namespace ds4::gguf {

static_assert(std::endian::native == std::endian::little, "GGUF I/O assumes a little-endian host");

const char* value_type_name(ValueType t) {
    switch (t) {
        case ValueType::U8: return "u8";
        case ValueType::I8: return "i8";
        case ValueType::U16: return "u16";
        case ValueType::I16: return "i16";
        case ValueType::U32: return "u32";
        case ValueType::I32: return "i32";
        case ValueType::F32: return "f32";
        case ValueType::BOOL: return "bool";
        case ValueType::STRING: return "string";
        case ValueType::ARRAY: return "array";
        case ValueType::U64: return "u64";
        case ValueType::I64: return "i64";
        case ValueType::F64: return "f64";
    }
    return "unknown";
}

size_t value_size(ValueType t) {
    switch (t) {
        case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
        case ValueType::U16: case ValueType::I16: return 2;
        case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
        case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
        default: return 0;
    }
}

std::string printable(std::string_view s) {
    // Names come from the file: keep error messages on one line and bounded in size.
    constexpr size_t kMax = 96;
    std::string out;
    for (size_t i = 0; i < s.size() && i < kMax; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\'') {
            out += strfmt("\\x%02x", c);
        } else {
            out += (char)c;
        }
    }
    if (s.size() > kMax) out += strfmt("...(%zu bytes)", s.size());
    return out;
}

std::string TensorInfo::shape_str() const {
    std::string s = "[";
    for (int d = 0; d < n_dims; d++) s += strfmt(d ? ", %lld" : "%lld", (long long)ne[d]);
    return s + "]";
}

namespace {
constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr size_t kMaxName = 64;          // GGML_MAX_NAME, including ggml's NUL terminator
// Smallest possible encodings, used to bound counts by the bytes that remain:
// a KV is key length (8) + >= 1 key byte + type (4) + >= 1 value byte;
// a tensor info is name length (8) + >= 1 name byte + n_dims (4) + >= 1 ne (8) + type (4) + offset (8).
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;

bool valid_value_type(uint32_t t) { return t <= (uint32_t)ValueType::F64; }
}  // namespace

void bad(const std::string& label, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    throw Error(label + ": " + buf);
}

// Bounds-checked little-endian cursor. `ctx` names the entry being parsed ("metadata key
// 'x'", "tensor 'y'") so a truncation error says what was cut off.
struct Cursor {
    const uint8_t* base;
    size_t size;
    const std::string& label;
    size_t pos = 0;
    std::string ctx = "header";

    size_t remaining() const { return size - pos; }

    void need(uint64_t n, const char* what) const {
        if (n > remaining())
            bad(label, "truncated file: %s of %s at offset %zu needs %llu bytes but the file ends at %zu", what,
                ctx.c_str(), pos, (unsigned long long)n, size);
    }
    template <class T>
    T read(const char* what) {
        need(sizeof(T), what);
        T v = load<T>(base + pos);
        pos += sizeof(T);
        return v;
    }
    uint32_t u32(const char* what) { return read<uint32_t>(what); }
    uint64_t u64(const char* what) { return read<uint64_t>(what); }
    std::string_view str(const char* what) {
        uint64_t len = u64(what);
        if (len > remaining())
            bad(label, "%s of %s: string length %llu at offset %zu extends past end of file (size %zu)", what,
                ctx.c_str(), (unsigned long long)len, pos - 8, size);
        std::string_view s((const char*)base + pos, (size_t)len);
        pos += (size_t)len;
        return s;
    }
};

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

void File::parse_value(Cursor& c, KV& kv) {
    const std::string& L = label_;
    switch (kv.type) {
        case ValueType::STRING: kv.str = std::string(c.str("string value")); return;
        case ValueType::ARRAY: {
            uint32_t et = c.u32("array element type");
            if (et == (uint32_t)ValueType::ARRAY)
                bad(L, "%s is a nested array (arrays of arrays are not supported)", c.ctx.c_str());
            if (!valid_value_type(et)) bad(L, "%s has unknown array element type %u", c.ctx.c_str(), et);
            kv.arr_type = (ValueType)et;
            kv.arr_n = c.u64("array count");
            size_t start = c.pos;
            size_t es = value_size(kv.arr_type);
            // A string element takes at least its 8-byte length, so both kinds are bounded here.
            uint64_t min_es = es ? es : 8;
            if (kv.arr_n > c.remaining() / min_es)
                bad(L, "%s: array of %llu %s elements at offset %zu extends past end of file (size %zu)", c.ctx.c_str(),
                    (unsigned long long)kv.arr_n, value_type_name(kv.arr_type), start, size_);
            if (es) {
                c.pos += (size_t)(kv.arr_n * es);
                if (kv.arr_type == ValueType::BOOL)
                    for (uint64_t j = 0; j < kv.arr_n; j++)
                        if (base_[start + j] > 1)
                            bad(L, "%s: array element %llu has invalid bool value %u", c.ctx.c_str(),
                                (unsigned long long)j, base_[start + j]);
            } else {
                for (uint64_t j = 0; j < kv.arr_n; j++) c.str("array string");
            }
            kv.arr_data = base_ + start;
            kv.arr_bytes = c.pos - start;
            return;
        }
        default: break;
    }
    size_t es = value_size(kv.type);
    c.need(es, "value");
    const uint8_t* p = base_ + c.pos;
    c.pos += es;
    switch (kv.type) {
        case ValueType::U8: kv.u = p[0]; break;
        case ValueType::I8: kv.i = (int8_t)p[0]; break;
        case ValueType::BOOL:
            if (p[0] > 1) bad(L, "%s has invalid bool value %u (must be 0 or 1)", c.ctx.c_str(), p[0]);
            kv.u = p[0];
            break;
        case ValueType::U16: kv.u = load<uint16_t>(p); break;
        case ValueType::I16: kv.i = load<int16_t>(p); break;
        case ValueType::U32: kv.u = load<uint32_t>(p); break;
        case ValueType::I32: kv.i = load<int32_t>(p); break;
        case ValueType::U64: kv.u = load<uint64_t>(p); break;
        case ValueType::I64: kv.i = load<int64_t>(p); break;
        case ValueType::F32: kv.f = load<float>(p); break;
        case ValueType::F64: kv.f = load<double>(p); break;
        default: break;
    }
}

void File::parse_tensor_info(Cursor& c, uint64_t index, TensorInfo& t) {
    const std::string& L = label_;
    c.ctx = strfmt("tensor %llu", (unsigned long long)index);
    std::string_view name = c.str("name");
    if (name.empty()) bad(L, "tensor %llu has an empty name", (unsigned long long)index);
    if (name.size() >= kMaxName)
        bad(L, "tensor name '%s' is %zu bytes (the limit is %zu)", printable(name).c_str(), name.size(), kMaxName - 1);
    t.name = std::string(name);
    std::string tn = printable(name);
    c.ctx = "tensor '" + tn + "'";
    uint32_t n_dims = c.u32("n_dims");
    if (n_dims == 0 || n_dims > (uint32_t)kMaxDims)
        bad(L, "tensor '%s' has %u dimensions (must be 1..%d)", tn.c_str(), n_dims, kMaxDims);
    t.n_dims = (int)n_dims;
    for (uint32_t d = 0; d < n_dims; d++) {
        int64_t ne = (int64_t)c.u64("dimension");
        if (ne <= 0) bad(L, "tensor '%s' dimension %u is %lld (must be > 0)", tn.c_str(), d, (long long)ne);
        t.ne[d] = ne;
    }
    uint32_t type = c.u32("type");
    TypeTraits tr = type_traits(type);
    if (tr.block_size == 0) bad(L, "tensor '%s' has unknown type code %u", tn.c_str(), type);
    t.type = (GgmlType)type;
    if (t.ne[0] % tr.block_size != 0)
        bad(L, "tensor '%s' (%s) ne[0]=%lld is not a multiple of the block size %lld", tn.c_str(), tr.name,
            (long long)t.ne[0], (long long)tr.block_size);
    int64_t nel = 1, nb = t.ne[0] / tr.block_size * 1;
    bool ovf = __builtin_mul_overflow(nb, tr.type_size, &nb);
    for (int d = 0; d < kMaxDims; d++) ovf |= __builtin_mul_overflow(nel, t.ne[d], &nel);
    for (int d = 1; d < kMaxDims; d++) ovf |= __builtin_mul_overflow(nb, t.ne[d], &nb);
    if (ovf) bad(L, "tensor '%s' shape %s overflows the element count or byte size", tn.c_str(), t.shape_str().c_str());
    t.nbytes = (uint64_t)nb;
    t.offset = c.u64("offset");
}

void File::parse() {
    const std::string& L = label_;
    Cursor c{base_, size_, L};
    if (size_ < 4) bad(L, "not a GGUF file: only %zu bytes", size_);
    uint32_t magic = c.u32("magic");
    if (magic != kMagic)
        bad(L, "bad magic %02x %02x %02x %02x (not a GGUF file)", base_[0], base_[1], base_[2], base_[3]);
    version_ = c.u32("version");
    // ggml's trick: a byte-swapped (big-endian) file has its version in the high bytes.
    if (version_ != 0 && (version_ & 0xFFFF) == 0)
        bad(L, "GGUF version 0x%08x looks byte-swapped: big-endian files are not supported", version_);
    if (version_ == 1) bad(L, "GGUF version 1 is not supported (only versions 2 and 3)");
    if (version_ != 2 && version_ != 3) bad(L, "unsupported GGUF version %u (expected 2 or 3)", version_);
    uint64_t n_tensors = c.u64("n_tensors");
    uint64_t n_kv = c.u64("n_kv");

    if (n_kv > c.remaining() / kMinKvBytes)
        bad(L, "n_kv %llu is larger than the %zu remaining bytes could hold", (unsigned long long)n_kv, c.remaining());
    // Reserve only a small amount up front: entries are appended as they are actually parsed,
    // so memory stays proportional to what the file really contains.
    kvs_.reserve((size_t)std::min<uint64_t>(n_kv, 1024));
    for (uint64_t i = 0; i < n_kv; i++) {
        c.ctx = strfmt("metadata entry %llu", (unsigned long long)i);
        KV kv;
        std::string_view key = c.str("key");
        if (key.empty()) bad(L, "metadata entry %llu has an empty key", (unsigned long long)i);
        kv.key = std::string(key);
        c.ctx = "metadata key '" + printable(key) + "'";
        uint32_t type = c.u32("value type");
        if (!valid_value_type(type)) bad(L, "%s has unknown value type %u", c.ctx.c_str(), type);
        kv.type = (ValueType)type;
        parse_value(c, kv);
        kvs_.push_back(std::move(kv));
    }
    for (size_t i = 0; i < kvs_.size(); i++)
        if (!kv_index_.emplace(kvs_[i].key, i).second)
            bad(L, "duplicate metadata key '%s'", printable(kvs_[i].key).c_str());

    if (const KV* a = find("general.alignment")) {
        if (a->type != ValueType::U32)
            bad(L, "metadata key 'general.alignment' has type %s, expected u32", value_type_name(a->type));
        if (a->u == 0 || (a->u & (a->u - 1)) != 0)
            bad(L, "general.alignment %llu must be a non-zero power of two", (unsigned long long)a->u);
        alignment_ = (uint32_t)a->u;
    }

    c.ctx = "header";
    if (n_tensors > c.remaining() / kMinTensorInfoBytes)
        bad(L, "n_tensors %llu is larger than the %zu remaining bytes could hold", (unsigned long long)n_tensors,
            c.remaining());
    tensors_.resize((size_t)n_tensors);  // bounded by the check above
    for (uint64_t i = 0; i < n_tensors; i++) parse_tensor_info(c, i, tensors_[i]);
    for (size_t i = 0; i < tensors_.size(); i++)
        if (!tensor_index_.emplace(tensors_[i].name, i).second)
            bad(L, "duplicate tensor name '%s'", printable(tensors_[i].name).c_str());

    // pos <= size and alignment <= 2^31, so this cannot overflow.
    data_offset_ = (c.pos + alignment_ - 1) / alignment_ * alignment_;
    validate_placement();
}

void File::validate_placement() {
    const std::string& L = label_;
    for (TensorInfo& t : tensors_) {
        std::string tn = printable(t.name);
        if (t.offset % alignment_ != 0)
            bad(L, "tensor '%s' offset %llu is not a multiple of the alignment %u", tn.c_str(),
                (unsigned long long)t.offset, alignment_);
        // Written as subtractions so that a huge offset or size cannot wrap around.
        if (data_offset_ > size_ || t.offset > size_ - data_offset_ || t.nbytes > size_ - data_offset_ - t.offset)
            bad(L, "tensor '%s' data [offset %llu, %llu bytes] extends past end of file (size %zu, data section at %llu)",
                tn.c_str(), (unsigned long long)t.offset, (unsigned long long)t.nbytes, size_,
                (unsigned long long)data_offset_);
        t.data = base_ + data_offset_ + t.offset;
    }
    // ggml itself insists on offsets equal to the running padded sum; ds4 accepts any
    // in-bounds aligned placement but never two tensors sharing bytes.
    std::vector<size_t> order(tensors_.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tensors_[a].offset < tensors_[b].offset; });
    for (size_t k = 1; k < order.size(); k++) {
        const TensorInfo& a = tensors_[order[k - 1]];
        const TensorInfo& b = tensors_[order[k]];
        if (a.offset + a.nbytes > b.offset)
            bad(L, "tensors '%s' [offset %llu, %llu bytes] and '%s' [offset %llu] overlap", printable(a.name).c_str(),
                (unsigned long long)a.offset, (unsigned long long)a.nbytes, printable(b.name).c_str(),
                (unsigned long long)b.offset);
    }
}

const KV* File::find(std::string_view key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kvs_[it->second];
}

const TensorInfo* File::tensor(std::string_view name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

// ---------------------------------------------------------------------------------------
// Typed accessors. Strict on types (ds4 refuses e.g. an i32 where a u32 is specified) so a
// badly converted model is caught at load time, not as a subtle shape mismatch later.

namespace {
std::string type_desc(const KV& kv) {
    if (kv.type == ValueType::ARRAY) return strfmt("array of %s", value_type_name(kv.arr_type));
    return value_type_name(kv.type);
}
bool is_int_type(ValueType t) {
    switch (t) {
        case ValueType::U8: case ValueType::I8: case ValueType::U16: case ValueType::I16:
        case ValueType::U32: case ValueType::I32: case ValueType::U64: case ValueType::I64: return true;
        default: return false;
    }
}
// An integer array element widened to int64 (u64 wraps; callers range-check it first).
int64_t int_element(ValueType t, const uint8_t* p) {
    switch (t) {
        case ValueType::U8: return p[0];
        case ValueType::I8: return (int8_t)p[0];
        case ValueType::U16: return load<uint16_t>(p);
        case ValueType::I16: return load<int16_t>(p);
        case ValueType::U32: return load<uint32_t>(p);
        case ValueType::I32: return load<int32_t>(p);
        default: return load<int64_t>(p);  // I64, U64
    }
}
}  // namespace

const KV& File::require(std::string_view key) const {
    const KV* kv = find(key);
    if (!kv) bad(label_, "missing metadata key '%s'", printable(key).c_str());
    return *kv;
}

void File::wrong_type(const KV& kv, const char* expected) const {
    bad(label_, "metadata key '%s' has type %s, expected %s", printable(kv.key).c_str(), type_desc(kv).c_str(), expected);
}

uint32_t File::get_u32(std::string_view key) const {
    const KV& kv = require(key);
    if (kv.type != ValueType::U32) wrong_type(kv, "u32");
    return (uint32_t)kv.u;
}

uint32_t File::get_u32_or(std::string_view key, uint32_t def) const { return find(key) ? get_u32(key) : def; }

uint64_t File::get_u64(std::string_view key) const {
    const KV& kv = require(key);
    if (kv.type != ValueType::U64 && kv.type != ValueType::U32) wrong_type(kv, "u64 or u32");
    return kv.u;
}

float File::get_f32(std::string_view key) const {
    const KV& kv = require(key);
    switch (kv.type) {
        case ValueType::F32: case ValueType::F64: return (float)kv.f;
        case ValueType::U32: return (float)kv.u;
        case ValueType::I32: return (float)kv.i;
        default: wrong_type(kv, "f32, f64, u32 or i32");
    }
}

float File::get_f32_or(std::string_view key, float def) const { return find(key) ? get_f32(key) : def; }

bool File::get_bool(std::string_view key) const {
    const KV& kv = require(key);
    if (kv.type != ValueType::BOOL) wrong_type(kv, "bool");
    return kv.u != 0;
}

bool File::get_bool_or(std::string_view key, bool def) const { return find(key) ? get_bool(key) : def; }

std::string File::get_string(std::string_view key) const {
    const KV& kv = require(key);
    if (kv.type != ValueType::STRING) wrong_type(kv, "string");
    return kv.str;
}

std::string File::get_string_or(std::string_view key, const std::string& def) const {
    return find(key) ? get_string(key) : def;
}

std::vector<int64_t> File::get_int_array(std::string_view key) const {
    const KV& kv = require(key);
    if (kv.type != ValueType::ARRAY || !is_int_type(kv.arr_type)) wrong_type(kv, "array of integers");
    size_t es = value_size(kv.arr_type);
    std::vector<int64_t> out((size_t)kv.arr_n);
    for (size_t j = 0; j < out.size(); j++) {
        const uint8_t* p = kv.arr_data + j * es;
        if (kv.arr_type == ValueType::U64 && load<uint64_t>(p) > (uint64_t)INT64_MAX)
            bad(label_, "metadata key '%s' element %zu (%llu) does not fit in int64", printable(kv.key).c_str(), j,
                (unsigned long long)load<uint64_t>(p));
        out[j] = int_element(kv.arr_type, p);
    }
    return out;
}

std::vector<double> File::get_float_array(std::string_view key) const {
    const KV& kv = require(key);
    bool fl = kv.arr_type == ValueType::F32 || kv.arr_type == ValueType::F64;
    if (kv.type != ValueType::ARRAY || !(fl || is_int_type(kv.arr_type))) wrong_type(kv, "array of numbers");
    size_t es = value_size(kv.arr_type);
    std::vector<double> out((size_t)kv.arr_n);
    for (size_t j = 0; j < out.size(); j++) {
        const uint8_t* p = kv.arr_data + j * es;
        switch (kv.arr_type) {
            case ValueType::F32: out[j] = load<float>(p); break;
            case ValueType::F64: out[j] = load<double>(p); break;
            case ValueType::U64: out[j] = (double)load<uint64_t>(p); break;
            default: out[j] = (double)int_element(kv.arr_type, p);
        }
    }
    return out;
}

std::vector<std::string> File::get_string_array(std::string_view key) const {
    const KV& kv = require(key);
    if (kv.type != ValueType::ARRAY || kv.arr_type != ValueType::STRING) wrong_type(kv, "array of strings");
    std::vector<std::string> out;
    out.reserve((size_t)std::min(kv.arr_n, kv.arr_bytes / 8));  // each element has an 8-byte length
    uint64_t p = 0;
    std::string_view sv;
    for (uint64_t j = 0; j < kv.arr_n; j++) {
        if (!next_packed_string(kv, p, &sv))
            bad(label_, "metadata key '%s' string array is truncated", printable(kv.key).c_str());
        out.emplace_back(sv);
    }
    return out;
}

}  // namespace ds4::gguf
