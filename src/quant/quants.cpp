// Generic quantization API (dispatch by type), plus the simple formats: F32, F16, BF16, I32,
// Q8_0 and Q8_K. The K-quants live in quants_k.cpp, IQ2_XXS in quants_iq2.cpp.
#include "quant/quants.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "quant/quants_impl.h"

namespace ds4 {

namespace qimpl {
void fail(const char* what) { throw std::invalid_argument(what); }
}  // namespace qimpl

using qimpl::nearest_int;

// =====================================================================================
// Conversions
// =====================================================================================

void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}
void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}
void fp32_to_bf16_row(const float* x, uint16_t* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}
void bf16_to_fp32_row(const uint16_t* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}

// =====================================================================================
// Q8_0 (ggml reference quantizer: d = amax/127, id = 1/d, q = roundf(x*id))
// =====================================================================================

void quantize_row_q8_0_ref(const float* x, block_q8_0* y, int64_t n) {
    if (n < 0 || n % QK8_0 != 0) qimpl::fail("quantize_row_q8_0: n must be a multiple of 32");
    const int64_t nb = n / QK8_0;
    for (int64_t i = 0; i < nb; i++, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; ++j) y[i].qs[j] = (int8_t)std::round(x[j] * id);
    }
}

void dequantize_row_q8_0(const block_q8_0* x, float* y, int64_t n) {
    if (n < 0 || n % QK8_0 != 0) qimpl::fail("dequantize_row_q8_0: n must be a multiple of 32");
    const int64_t nb = n / QK8_0;
    for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK8_0; ++j) *y++ = x[i].qs[j] * d;
    }
}

float vec_dot_q8_0_q8_0_ref(const void* vw, const void* va, int64_t n) {
    if (n < 0 || n % QK8_0 != 0) qimpl::fail("vec_dot_q8_0_q8_0: n must be a multiple of 32");
    const block_q8_0* x = static_cast<const block_q8_0*>(vw);
    const block_q8_0* y = static_cast<const block_q8_0*>(va);
    const int64_t nb = n / QK8_0;
    float sumf = 0;
    for (int64_t ib = 0; ib < nb; ++ib) {
        int32_t sumi = 0;
        for (int j = 0; j < QK8_0; j++) sumi += x[ib].qs[j] * y[ib].qs[j];
        sumf += sumi * (fp16_to_fp32(x[ib].d) * fp16_to_fp32(y[ib].d));
    }
    return sumf;
}

// =====================================================================================
// Q8_K (activation type of the K/IQ quants; ggml quantize_row_q8_K_ref)
// =====================================================================================

void quantize_row_q8_K_ref(const float* x, block_q8_K* y, int64_t n) {
    if (n < 0 || n % QK_K != 0) qimpl::fail("quantize_row_q8_K: n must be a multiple of 256");
    const int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        // max = signed value of the first element with the largest |x|
        float max = 0;
        float amax = 0;
        for (int j = 0; j < QK_K; ++j) {
            const float ax = std::fabs(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (!amax) {
            // ggml leaves bsums unwritten here; we write zeros (what its zeroed buffers hold).
            std::memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; ++j) {
            const int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)std::min(127, v);
        }
        for (int j = 0; j < QK_K / 16; ++j) {
            int sum = 0;
            for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

void dequantize_row_q8_K(const block_q8_K* x, float* y, int64_t n) {
    if (n < 0 || n % QK_K != 0) qimpl::fail("dequantize_row_q8_K: n must be a multiple of 256");
    const int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++)
        for (int j = 0; j < QK_K; ++j) *y++ = x[i].d * x[i].qs[j];
}

// =====================================================================================
// Float dots: products are exact in double (and in float for f16/bf16), summed in double.
// =====================================================================================

float vec_dot_f16_ref(const void* vw, const void* va, int64_t n) {
    const uint16_t* x = static_cast<const uint16_t*>(vw);
    const uint16_t* y = static_cast<const uint16_t*>(va);
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += (double)fp16_to_fp32(x[i]) * (double)fp16_to_fp32(y[i]);
    return (float)s;
}

float vec_dot_bf16_ref(const void* vw, const void* va, int64_t n) {
    const uint16_t* x = static_cast<const uint16_t*>(vw);
    const uint16_t* y = static_cast<const uint16_t*>(va);
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += (double)bf16_to_fp32(x[i]) * (double)bf16_to_fp32(y[i]);
    return (float)s;
}

float vec_dot_f32_ref(const void* vw, const void* va, int64_t n) {
    const float* x = static_cast<const float*>(vw);
    const float* y = static_cast<const float*>(va);
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += (double)x[i] * (double)y[i];
    return (float)s;
}

// =====================================================================================
// Dispatch
// =====================================================================================

bool quant_supported(GgmlType t) {
    switch (t) {
        case GgmlType::F32:
        case GgmlType::F16:
        case GgmlType::BF16:
        case GgmlType::I32:
        case GgmlType::Q8_0:
        case GgmlType::Q4_K:
        case GgmlType::Q2_K:
        case GgmlType::IQ2_XXS:
        case GgmlType::Q8_K:
            return true;
        default:
            return false;
    }
}

bool quant_requires_imatrix(GgmlType t) {
    return t == GgmlType::IQ2_XXS || t == GgmlType::IQ2_XS || t == GgmlType::IQ1_S;
}

GgmlType vec_dot_type(GgmlType t) {
    switch (t) {
        case GgmlType::F32: return GgmlType::F32;
        case GgmlType::F16: return GgmlType::F16;
        case GgmlType::BF16: return GgmlType::BF16;
        case GgmlType::Q8_0: return GgmlType::Q8_0;
        case GgmlType::Q4_K:
        case GgmlType::Q2_K:
        case GgmlType::IQ2_XXS: return GgmlType::Q8_K;
        default: return GgmlType::COUNT;
    }
}

namespace {

[[noreturn]] void unsupported(const char* fn, GgmlType t) {
    throw std::invalid_argument(std::string(fn) + ": unsupported type " +
                                type_name(static_cast<uint32_t>(t)));
}

void check_len(GgmlType t, int64_t n, const char* fn) {
    const int64_t bs = type_traits(t).block_size;
    if (n < 0 || bs == 0 || n % bs != 0)
        throw std::invalid_argument(std::string(fn) + ": n=" + std::to_string(n) +
                                    " is not a multiple of the " + type_name(static_cast<uint32_t>(t)) +
                                    " block size");
}

// I32: nearest integer (ties to even, the current rounding mode), saturated; NaN -> 0.
int32_t f32_to_i32(float v) {
    if (std::isnan(v)) return 0;
    if (v >= 2147483648.0f) return INT32_MAX;
    if (v <= -2147483648.0f) return INT32_MIN;
    return (int32_t)std::nearbyint(v);
}

constexpr int kDotSlots = static_cast<int>(GgmlType::COUNT);
std::atomic<VecDotFn> g_dot[kDotSlots] = {};

}  // namespace

void quantize_row(GgmlType t, const float* x, void* dst, int64_t n, const float* imatrix) {
    if (!quant_supported(t)) unsupported("quantize_row", t);
    check_len(t, n, "quantize_row");
    switch (t) {
        case GgmlType::F32: std::memcpy(dst, x, (size_t)n * sizeof(float)); return;
        case GgmlType::F16: fp32_to_fp16_row(x, static_cast<uint16_t*>(dst), n); return;
        case GgmlType::BF16: fp32_to_bf16_row(x, static_cast<uint16_t*>(dst), n); return;
        case GgmlType::I32: {
            int32_t* y = static_cast<int32_t*>(dst);
            for (int64_t i = 0; i < n; ++i) y[i] = f32_to_i32(x[i]);
            return;
        }
        case GgmlType::Q8_0: quantize_row_q8_0_ref(x, static_cast<block_q8_0*>(dst), n); return;
        case GgmlType::Q8_K: quantize_row_q8_K_ref(x, static_cast<block_q8_K*>(dst), n); return;
        case GgmlType::Q4_K:
            if (imatrix) quantize_row_q4_K_imatrix(x, static_cast<block_q4_K*>(dst), n, imatrix);
            else quantize_row_q4_K_ref(x, static_cast<block_q4_K*>(dst), n);
            return;
        case GgmlType::Q2_K:
            if (imatrix) quantize_row_q2_K_imatrix(x, static_cast<block_q2_K*>(dst), n, imatrix);
            else quantize_row_q2_K_ref(x, static_cast<block_q2_K*>(dst), n);
            return;
        case GgmlType::IQ2_XXS:
            quantize_row_iq2_xxs(x, static_cast<block_iq2_xxs*>(dst), n, imatrix);
            return;
        default: unsupported("quantize_row", t);
    }
}

size_t quantize_rows(GgmlType t, const float* x, void* dst, int64_t nrows, int64_t n_per_row,
                     const float* imatrix) {
    if (!quant_supported(t)) unsupported("quantize_rows", t);
    check_len(t, n_per_row, "quantize_rows");
    if (nrows < 0) throw std::invalid_argument("quantize_rows: nrows < 0");
    if (quant_requires_imatrix(t) && !imatrix)
        throw std::invalid_argument(std::string("quantize_rows: ") + type_name(static_cast<uint32_t>(t)) +
                                    " requires an importance matrix");
    const size_t rs = (size_t)row_size(t, n_per_row);
    char* out = static_cast<char*>(dst);
    for (int64_t r = 0; r < nrows; ++r)
        quantize_row(t, x + r * n_per_row, out + (size_t)r * rs, n_per_row, imatrix);
    return (size_t)nrows * rs;
}

void dequantize_row(GgmlType t, const void* src, float* y, int64_t n) {
    if (!quant_supported(t)) unsupported("dequantize_row", t);
    check_len(t, n, "dequantize_row");
    switch (t) {
        case GgmlType::F32: std::memcpy(y, src, (size_t)n * sizeof(float)); return;
        case GgmlType::F16: fp16_to_fp32_row(static_cast<const uint16_t*>(src), y, n); return;
        case GgmlType::BF16: bf16_to_fp32_row(static_cast<const uint16_t*>(src), y, n); return;
        case GgmlType::I32: {
            const int32_t* s = static_cast<const int32_t*>(src);
            for (int64_t i = 0; i < n; ++i) y[i] = (float)s[i];
            return;
        }
        case GgmlType::Q8_0: dequantize_row_q8_0(static_cast<const block_q8_0*>(src), y, n); return;
        case GgmlType::Q8_K: dequantize_row_q8_K(static_cast<const block_q8_K*>(src), y, n); return;
        case GgmlType::Q4_K: dequantize_row_q4_K(static_cast<const block_q4_K*>(src), y, n); return;
        case GgmlType::Q2_K: dequantize_row_q2_K(static_cast<const block_q2_K*>(src), y, n); return;
        case GgmlType::IQ2_XXS:
            dequantize_row_iq2_xxs(static_cast<const block_iq2_xxs*>(src), y, n);
            return;
        default: unsupported("dequantize_row", t);
    }
}

VecDotFn vec_dot_ref_fn(GgmlType t) {
    switch (t) {
        case GgmlType::F32: return vec_dot_f32_ref;
        case GgmlType::F16: return vec_dot_f16_ref;
        case GgmlType::BF16: return vec_dot_bf16_ref;
        case GgmlType::Q8_0: return vec_dot_q8_0_q8_0_ref;
        case GgmlType::Q4_K: return vec_dot_q4_K_q8_K_ref;
        case GgmlType::Q2_K: return vec_dot_q2_K_q8_K_ref;
        case GgmlType::IQ2_XXS: return vec_dot_iq2_xxs_q8_K_ref;
        default: return nullptr;
    }
}

VecDotFn vec_dot_fn(GgmlType t) {
    const int i = static_cast<int>(t);
    if (i >= 0 && i < kDotSlots) {
        if (VecDotFn f = g_dot[i].load(std::memory_order_acquire)) return f;
    }
    return vec_dot_ref_fn(t);
}

void register_vec_dot(GgmlType t, VecDotFn fn) {
    const int i = static_cast<int>(t);
    if (i < 0 || i >= kDotSlots || !vec_dot_ref_fn(t)) unsupported("register_vec_dot", t);
    g_dot[i].store(fn, std::memory_order_release);
}

float vec_dot_ref(GgmlType t, const void* w_row, const void* act_row, int64_t n) {
    VecDotFn f = vec_dot_ref_fn(t);
    if (!f) unsupported("vec_dot_ref", t);
    check_len(t, n, "vec_dot_ref");
    return f(w_row, act_row, n);
}

float vec_dot(GgmlType t, const void* w_row, const void* act_row, int64_t n) {
    VecDotFn f = vec_dot_fn(t);
    if (!f) unsupported("vec_dot", t);
    return f(w_row, act_row, n);
}

}  // namespace ds4
