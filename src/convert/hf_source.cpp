#include "convert/hf_source.h"

#include <set>

#include "util/error.h"

namespace ds4::convert {

using safetensors::Checkpoint;

namespace {
std::string shape_str(const std::vector<int64_t>& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); i++) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}
const char* enc_name(const Checkpoint::Logical& l) {
    switch (l.enc) {
        case Checkpoint::Encoding::Fp8Block: return "+scale (FP8 128x128)";
        case Checkpoint::Encoding::Fp4Packed: return "+scale (FP4 E2M1)";
        default: return "";
    }
}
}  // namespace

void HfSource::check(const PlannedTensor& t) const {
    if (t.cls == TensorClass::Tid2eid) {
        const safetensors::Tensor* x = ck_.find(t.hf_name);
        if (!x) fail("%s: missing tensor '%s' (for %s)", ck_.path().c_str(), t.hf_name.c_str(), t.name.c_str());
        if (x->shape.size() != 2 || x->shape[0] != t.ne[1] || x->shape[1] < t.ne[0])
            fail("%s: '%s' has shape %s, want [%lld, >= %lld]", ck_.path().c_str(), t.hf_name.c_str(),
                 x->shape_str().c_str(), (long long)t.ne[1], (long long)t.ne[0]);
        return;
    }
    const int64_t n = t.experts ? t.ne[2] : 1;
    const std::vector<int64_t> want = t.hf_shape();
    for (int64_t e = 0; e < n; e++) {
        const std::string name = t.hf_expert_name(e);
        if (!ck_.has(name)) fail("%s: missing tensor '%s' (for %s)", ck_.path().c_str(), name.c_str(), t.name.c_str());
        Checkpoint::Logical l = ck_.logical(name);
        if (l.shape != want)
            fail("%s: '%s' has shape %s, want %s (for %s %s)", ck_.path().c_str(), name.c_str(), shape_str(l.shape).c_str(),
                 shape_str(want).c_str(), t.name.c_str(), shape_str(t.ne).c_str());
        if (l.enc == Checkpoint::Encoding::Plain) {
            const auto dt = l.weight->dtype;
            using safetensors::DType;
            if (!(dt == DType::F32 || dt == DType::F16 || dt == DType::BF16 || dt == DType::F64 || dt == DType::F8_E4M3 ||
                  dt == DType::F8_E5M2))
                fail("%s: '%s' has dtype %s, not a floating-point weight", ck_.path().c_str(), name.c_str(),
                     safetensors::dtype_name(dt));
        }
    }
}

void HfSource::fill(const PlannedTensor& t, int64_t expert, float* out) const {
    Checkpoint::Logical l = ck_.logical(t.hf_expert_name(t.experts ? expert : 0));
    ck_.load_f32(l, out);
}

void HfSource::fill_i32(const PlannedTensor& t, int32_t* out) const {
    std::vector<int64_t> shape;
    std::vector<int64_t> v = ck_.load_i64(t.hf_name, &shape);
    const int64_t K = t.ne[0], V = t.ne[1], Kf = shape[1];
    for (int64_t r = 0; r < V; r++)
        for (int64_t k = 0; k < K; k++) {
            const int64_t id = v[(size_t)(r * Kf + k)];
            if (id < 0 || id >= n_expert_)
                fail("%s: '%s'[%lld][%lld] = %lld outside [0, %lld)", ck_.path().c_str(), t.hf_name.c_str(), (long long)r,
                     (long long)k, (long long)id, (long long)n_expert_);
            out[r * K + k] = (int32_t)id;
        }
}

std::string HfSource::describe(const PlannedTensor& t) const {
    const std::string name = t.experts ? t.hf_name + "{0.." + std::to_string(t.ne[2] - 1) + "}" + t.hf_suffix : t.hf_name;
    const std::string first = t.hf_expert_name(0);
    if (!ck_.has(first)) return name + " (MISSING)";
    if (t.cls == TensorClass::Tid2eid) {
        const auto* x = ck_.find(first);
        return name + " " + safetensors::dtype_name(x->dtype) + " " + x->shape_str();
    }
    try {
        Checkpoint::Logical l = ck_.logical(first);
        return name + " " + safetensors::dtype_name(l.weight->dtype) + enc_name(l) + " " + shape_str(l.shape);
    } catch (const Error& e) {
        return name + " (BAD: " + e.what() + ")";
    }
}

void HfSource::unused(const std::vector<PlannedTensor>& plan, std::vector<std::string>* mtp,
                      std::vector<std::string>* other) const {
    std::set<std::string> used;
    for (const auto& t : plan) {
        const int64_t n = t.experts ? t.ne[2] : 1;
        for (int64_t e = 0; e < n; e++) used.insert(t.hf_expert_name(e));
    }
    for (const std::string& n : ck_.names()) {
        if (used.count(n)) continue;
        if (n.size() > 6 && n.compare(n.size() - 6, 6, ".scale") == 0 && used.count(n.substr(0, n.size() - 6) + ".weight"))
            continue;
        if (n.rfind("mtp.", 0) == 0) mtp->push_back(n);
        else other->push_back(n);
    }
}

}  // namespace ds4::convert
