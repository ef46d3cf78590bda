// GGUF writer. Produces exactly the layout ggml's own writer does (v3, KVs in insertion
// order, tensor infos, zero padding to the alignment, then each tensor's data at the running
// padded offset in info order, each followed by zero padding), because ggml/llama.cpp
// reject any other tensor placement. Everything the reader would reject is refused here
// first, so ds4 never produces a file it cannot read back.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "gguf/gguf.h"
#include "gguf/gguf_internal.h"
#include "util/error.h"

namespace ds4::gguf {

namespace {
const std::string kWriter = "gguf writer";

template <class T>
void append(std::vector<uint8_t>& out, T v) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(&v);
    out.insert(out.end(), p, p + sizeof v);
}
void append_str(std::vector<uint8_t>& out, std::string_view s) {
    append<uint64_t>(out, s.size());
    out.insert(out.end(), s.begin(), s.end());
}
template <class T>
std::vector<uint8_t> scalar(T v) {
    std::vector<uint8_t> out;
    append(out, v);
    return out;
}
std::vector<uint8_t> array_header(ValueType elem, uint64_t n) {
    std::vector<uint8_t> out;
    append<uint32_t>(out, (uint32_t)elem);
    append<uint64_t>(out, n);
    return out;
}
uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }
}  // namespace

void Writer::put(const std::string& k, ValueType t, std::vector<uint8_t> payload) {
    if (k.empty()) bad(kWriter, "empty metadata key");
    if (fp_) bad(kWriter, "metadata key '%s' set after begin()", printable(k).c_str());
    for (Item& it : items_)
        if (it.key == k) {
            it.type = t;
            it.payload = std::move(payload);
            return;
        }
    items_.push_back({k, t, std::move(payload)});
}

void Writer::set_u8(const std::string& k, uint8_t v) { put(k, ValueType::U8, scalar(v)); }
void Writer::set_i8(const std::string& k, int8_t v) { put(k, ValueType::I8, scalar(v)); }
void Writer::set_u16(const std::string& k, uint16_t v) { put(k, ValueType::U16, scalar(v)); }
void Writer::set_i16(const std::string& k, int16_t v) { put(k, ValueType::I16, scalar(v)); }
void Writer::set_u32(const std::string& k, uint32_t v) { put(k, ValueType::U32, scalar(v)); }
void Writer::set_i32(const std::string& k, int32_t v) { put(k, ValueType::I32, scalar(v)); }
void Writer::set_u64(const std::string& k, uint64_t v) { put(k, ValueType::U64, scalar(v)); }
void Writer::set_i64(const std::string& k, int64_t v) { put(k, ValueType::I64, scalar(v)); }
void Writer::set_f32(const std::string& k, float v) { put(k, ValueType::F32, scalar(v)); }
void Writer::set_f64(const std::string& k, double v) { put(k, ValueType::F64, scalar(v)); }
void Writer::set_bool(const std::string& k, bool v) { put(k, ValueType::BOOL, scalar<uint8_t>(v ? 1 : 0)); }

void Writer::set_string(const std::string& k, const std::string& v) {
    std::vector<uint8_t> p;
    append_str(p, v);
    put(k, ValueType::STRING, std::move(p));
}

void Writer::set_array(const std::string& k, ValueType elem, const void* elems, size_t n) {
    size_t es = value_size(elem);
    if (es == 0) bad(kWriter, "metadata key '%s': set_array needs a fixed-size element type, got %s",
                     printable(k).c_str(), value_type_name(elem));
    const uint8_t* b = static_cast<const uint8_t*>(elems);
    if (elem == ValueType::BOOL)
        for (size_t j = 0; j < n; j++)
            if (b[j] > 1) bad(kWriter, "metadata key '%s': bool element %zu is %u", printable(k).c_str(), j, b[j]);
    std::vector<uint8_t> p = array_header(elem, n);
    if (n) p.insert(p.end(), b, b + n * es);
    put(k, ValueType::ARRAY, std::move(p));
}

void Writer::set_array_u32(const std::string& k, const std::vector<uint32_t>& v) {
    set_array(k, ValueType::U32, v.data(), v.size());
}
void Writer::set_array_i32(const std::string& k, const std::vector<int32_t>& v) {
    set_array(k, ValueType::I32, v.data(), v.size());
}
void Writer::set_array_f32(const std::string& k, const std::vector<float>& v) {
    set_array(k, ValueType::F32, v.data(), v.size());
}

void Writer::set_array_string(const std::string& k, const std::vector<std::string>& v) {
    std::vector<uint8_t> p = array_header(ValueType::STRING, v.size());
    for (const std::string& s : v) append_str(p, s);
    put(k, ValueType::ARRAY, std::move(p));
}

void Writer::copy_kv(const KV& kv) {
    std::vector<uint8_t> p;
    switch (kv.type) {
        case ValueType::U8: case ValueType::BOOL: append<uint8_t>(p, (uint8_t)kv.u); break;
        case ValueType::I8: append<int8_t>(p, (int8_t)kv.i); break;
        case ValueType::U16: append<uint16_t>(p, (uint16_t)kv.u); break;
        case ValueType::I16: append<int16_t>(p, (int16_t)kv.i); break;
        case ValueType::U32: append<uint32_t>(p, (uint32_t)kv.u); break;
        case ValueType::I32: append<int32_t>(p, (int32_t)kv.i); break;
        case ValueType::U64: append<uint64_t>(p, kv.u); break;
        case ValueType::I64: append<int64_t>(p, kv.i); break;
        case ValueType::F32: append<float>(p, (float)kv.f); break;
        case ValueType::F64: append<double>(p, kv.f); break;
        case ValueType::STRING: append_str(p, kv.str); break;
        case ValueType::ARRAY:
            // The raw bytes were validated by the reader; copy them verbatim.
            p = array_header(kv.arr_type, kv.arr_n);
            if (kv.arr_bytes) p.insert(p.end(), kv.arr_data, kv.arr_data + kv.arr_bytes);
            break;
        default: bad(kWriter, "metadata key '%s' has unknown type %u", printable(kv.key).c_str(), (unsigned)kv.type);
    }
    put(kv.key, kv.type, std::move(p));
}

void Writer::remove(const std::string& k) {
    for (size_t i = 0; i < items_.size(); i++)
        if (items_[i].key == k) {
            items_.erase(items_.begin() + (long)i);
            return;
        }
}

bool Writer::has(const std::string& k) const {
    for (const Item& it : items_)
        if (it.key == k) return true;
    return false;
}

void Writer::set_alignment(uint32_t a) {
    if (a == 0 || (a & (a - 1)) != 0) bad(kWriter, "alignment %u must be a non-zero power of two", a);
    set_u32("general.alignment", a);
    alignment_ = a;
}

size_t Writer::add_tensor(const std::string& name, GgmlType type, const std::vector<int64_t>& ne) {
    std::string tn = printable(name);
    if (fp_) bad(kWriter, "tensor '%s' added after begin()", tn.c_str());
    if (name.empty() || name.size() >= 64) bad(kWriter, "tensor name '%s' must be 1..63 bytes", tn.c_str());
    for (const T& t : tensors_)
        if (t.name == name) bad(kWriter, "duplicate tensor name '%s'", tn.c_str());
    if (ne.empty() || ne.size() > (size_t)kMaxDims)
        bad(kWriter, "tensor '%s' has %zu dimensions (must be 1..%d)", tn.c_str(), ne.size(), kMaxDims);
    TypeTraits tr = type_traits(type);
    if (tr.block_size == 0) bad(kWriter, "tensor '%s' has unknown type code %u", tn.c_str(), (unsigned)type);
    if (ne[0] % tr.block_size != 0)
        bad(kWriter, "tensor '%s' (%s) ne[0]=%lld is not a multiple of the block size %lld", tn.c_str(), tr.name,
            (long long)ne[0], (long long)tr.block_size);
    int64_t nb = ne[0] / tr.block_size, nel = 1;
    bool ovf = __builtin_mul_overflow(nb, tr.type_size, &nb);
    for (size_t d = 0; d < ne.size(); d++) {
        if (ne[d] <= 0) bad(kWriter, "tensor '%s' dimension %zu is %lld (must be > 0)", tn.c_str(), d, (long long)ne[d]);
        ovf |= __builtin_mul_overflow(nel, ne[d], &nel);
        if (d) ovf |= __builtin_mul_overflow(nb, ne[d], &nb);
    }
    if (ovf) bad(kWriter, "tensor '%s' is too large", tn.c_str());
    tensors_.push_back({name, type, ne, (uint64_t)nb, 0});
    return tensors_.size() - 1;
}

uint64_t Writer::tensor_nbytes(size_t idx) const {
    if (idx >= tensors_.size()) bad(kWriter, "tensor index %zu out of range (%zu tensors)", idx, tensors_.size());
    return tensors_[idx].nbytes;
}

void Writer::write_raw(const void* p, size_t n) {
    if (n && fwrite(p, 1, n, fp_) != n) bad(path_, "write failed: %s", strerror(errno));
    pos_ += n;
}

void Writer::pad_to_alignment() {
    static const uint8_t zeros[256] = {};
    uint64_t pad = align_up(pos_, alignment_) - pos_;
    while (pad) {
        size_t k = (size_t)std::min<uint64_t>(pad, sizeof zeros);
        write_raw(zeros, k);
        pad -= k;
    }
}

void Writer::begin(const std::string& path) {
    if (fp_) bad(kWriter, "begin() called twice");
    // general.alignment may have arrived via set_u32 or copy_kv rather than set_alignment.
    for (const Item& it : items_)
        if (it.key == "general.alignment") {
            if (it.type != ValueType::U32) bad(kWriter, "general.alignment must be u32, got %s", value_type_name(it.type));
            set_alignment(load<uint32_t>(it.payload.data()));
        }
    fp_ = fopen(path.c_str(), "wb");
    if (!fp_) bad(path, "cannot create: %s", strerror(errno));
    path_ = path;
    pos_ = 0;
    cur_tensor_ = 0;
    cur_written_ = 0;

    std::vector<uint8_t> h;
    append<uint32_t>(h, 0x46554747);  // "GGUF"
    append<uint32_t>(h, 3);
    append<uint64_t>(h, tensors_.size());
    append<uint64_t>(h, items_.size());
    for (const Item& it : items_) {
        append_str(h, it.key);
        append<uint32_t>(h, (uint32_t)it.type);
        h.insert(h.end(), it.payload.begin(), it.payload.end());
    }
    uint64_t off = 0;
    for (T& t : tensors_) {
        t.offset = off;
        off = align_up(off + t.nbytes, alignment_);
        append_str(h, t.name);
        append<uint32_t>(h, (uint32_t)t.ne.size());
        for (int64_t v : t.ne) append<int64_t>(h, v);
        append<uint32_t>(h, (uint32_t)t.type);
        append<uint64_t>(h, t.offset);
    }
    write_raw(h.data(), h.size());
    pad_to_alignment();
}

void Writer::write_tensor_data(const void* data, size_t n) {
    if (!fp_) bad(kWriter, "write_tensor_data() before begin()");
    const uint8_t* p = static_cast<const uint8_t*>(data);
    // A piece may end or start mid-tensor, or span several tensors.
    while (n) {
        if (cur_tensor_ >= tensors_.size())
            bad(path_, "%zu bytes of tensor data beyond the %zu declared tensors", n, tensors_.size());
        const T& t = tensors_[cur_tensor_];
        size_t k = (size_t)std::min<uint64_t>(n, t.nbytes - cur_written_);
        write_raw(p, k);
        p += k;
        n -= k;
        cur_written_ += k;
        if (cur_written_ == t.nbytes) {
            pad_to_alignment();
            cur_tensor_++;
            cur_written_ = 0;
        }
    }
}

void Writer::finish() {
    if (!fp_) bad(kWriter, "finish() before begin()");
    if (cur_tensor_ < tensors_.size()) {
        const T& t = tensors_[cur_tensor_];
        std::string msg = strfmt("tensor '%s' got %llu of %llu bytes", printable(t.name).c_str(),
                                 (unsigned long long)cur_written_, (unsigned long long)t.nbytes);
        fclose(fp_);
        fp_ = nullptr;
        bad(path_, "incomplete tensor data: %s", msg.c_str());
    }
    bool ok = fflush(fp_) == 0 && ferror(fp_) == 0;
    int e = errno;
    ok = (fclose(fp_) == 0) && ok;
    fp_ = nullptr;
    if (!ok) bad(path_, "write failed: %s", strerror(e ? e : errno));
}

Writer::~Writer() {
    if (fp_) fclose(fp_);
}

}  // namespace ds4::gguf
