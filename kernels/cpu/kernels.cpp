// CPU kernel dispatch: CPUID detection, per-level tables, scalar fallbacks, registration.
#include "kernels/cpu/kernels.h"

#include <cstdlib>
#include <new>
#include <strings.h>

#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

#include "kernels/cpu/kernels_internal.h"

namespace ds4 {
namespace kcpu {

uint8_t* panel_scratch(size_t bytes) {
    struct Buf {
        uint8_t* p = nullptr;
        size_t size = 0;
        ~Buf() { std::free(p); }
    };
    thread_local Buf b;
    if (b.size < bytes) {
        std::free(b.p);
        b.size = (bytes + 63) & ~size_t(63);
        b.p = static_cast<uint8_t*>(std::aligned_alloc(64, b.size));
        if (!b.p) throw std::bad_alloc();
    }
    return b.p;
}

namespace {

constexpr GgmlType kDotTypes[] = {GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q2_K, GgmlType::IQ2_XXS,
                                  GgmlType::F16,  GgmlType::BF16, GgmlType::F32};

// Scalar level: the quant/ references, looped.
template <GgmlType T>
void gemm_scalar(const void* w, size_t ws, int64_t n_rows, const void* act, size_t as, int64_t n_tok, int64_t n,
                 float* y, int64_t ldy) {
    const VecDotFn f = vec_dot_ref_fn(T);
    const char* W = static_cast<const char*>(w);
    const char* A = static_cast<const char*>(act);
    for (int64_t t = 0; t < n_tok; ++t)
        for (int64_t r = 0; r < n_rows; ++r) y[t * ldy + r] = f(W + r * ws, A + t * as, n);
}
void quant_q8_0_scalar(const float* x, void* d, int64_t n) { quantize_row_q8_0_ref(x, static_cast<block_q8_0*>(d), n); }
void quant_q8_K_scalar(const float* x, void* d, int64_t n) { quantize_row_q8_K_ref(x, static_cast<block_q8_K*>(d), n); }

void fill_scalar(IsaTable* t) {
#define DS4_SCALAR(TY)                                  \
    t->dot[slot(GgmlType::TY)] = vec_dot_ref_fn(GgmlType::TY); \
    t->gemm[slot(GgmlType::TY)] = gemm_scalar<GgmlType::TY>;
    DS4_SCALAR(Q8_0)
    DS4_SCALAR(Q4_K)
    DS4_SCALAR(Q2_K)
    DS4_SCALAR(IQ2_XXS)
    DS4_SCALAR(F16)
    DS4_SCALAR(BF16)
    DS4_SCALAR(F32)
#undef DS4_SCALAR
    t->quant_q8_0 = quant_q8_0_scalar;
    t->quant_q8_K = quant_q8_K_scalar;
    t->to_f16 = fp32_to_fp16_row;
    t->to_bf16 = fp32_to_bf16_row;
    t->from_f16 = fp16_to_fp32_row;
    t->from_bf16 = bf16_to_fp32_row;
}

// Entries a level lacks come from the level below.
void merge(IsaTable* dst, const IsaTable& below) {
    for (int i = 0; i < kSlots; ++i) {
        if (!dst->dot[i]) dst->dot[i] = below.dot[i];
        if (!dst->gemm[i]) dst->gemm[i] = below.gemm[i];
    }
    if (!dst->quant_q8_0) dst->quant_q8_0 = below.quant_q8_0;
    if (!dst->quant_q8_K) dst->quant_q8_K = below.quant_q8_K;
    if (!dst->to_f16) dst->to_f16 = below.to_f16;
    if (!dst->to_bf16) dst->to_bf16 = below.to_bf16;
    if (!dst->from_f16) dst->from_f16 = below.from_f16;
    if (!dst->from_bf16) dst->from_bf16 = below.from_bf16;
}

struct State {
    IsaTable own[kCpuIsaCount];     // each level's own kernels (null = none)
    IsaTable merged[kCpuIsaCount];  // with fallbacks from lower levels
    bool supported[kCpuIsaCount] = {true, false, false};
    bool bf16 = false, vbmi = false;
    CpuIsa active = CpuIsa::Scalar;
};

State build_state() {
    State s;
#if defined(__x86_64__)
    __builtin_cpu_init();
    s.supported[1] = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                     __builtin_cpu_supports("bmi2");
    s.supported[2] = s.supported[1] && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                     __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                     __builtin_cpu_supports("avx512vnni");
    s.bf16 = s.supported[2] && __builtin_cpu_supports("avx512bf16");
    s.vbmi = s.supported[2] && __builtin_cpu_supports("avx512vbmi");
#endif
    fill_scalar(&s.own[0]);
    if (s.supported[1]) fill_avx2(&s.own[1]);
    if (s.supported[2]) fill_avx512(&s.own[2], s.bf16, s.vbmi);
    s.merged[0] = s.own[0];
    for (int i = 1; i < kCpuIsaCount; ++i) {
        s.merged[i] = s.own[i];
        merge(&s.merged[i], s.merged[i - 1]);
    }
    int best = 0;
    for (int i = 0; i < kCpuIsaCount; ++i)
        if (s.supported[i]) best = i;
    if (const char* e = std::getenv("DS4_CPU_ISA"); e && *e) {
        int cap = best;
        if (!strcasecmp(e, "scalar")) cap = 0;
        else if (!strcasecmp(e, "avx2")) cap = 1;
        else if (!strcasecmp(e, "avx512")) cap = 2;
        if (cap < best) best = cap;
    }
    s.active = static_cast<CpuIsa>(best);
    return s;
}

const State& state() {
    static const State s = build_state();  // thread-safe (magic static)
    return s;
}
const IsaTable& active() { return state().merged[static_cast<int>(state().active)]; }
const IsaTable* own(CpuIsa isa) {
    const int i = static_cast<int>(isa);
    if (i < 0 || i >= kCpuIsaCount || !state().supported[i]) return nullptr;
    return &state().own[i];
}

[[noreturn]] void bad_type(const char* fn, GgmlType t) {
    throw std::invalid_argument(std::string(fn) + ": unsupported type " + type_name(static_cast<uint32_t>(t)));
}

}  // namespace
}  // namespace kcpu

using kcpu::active;
using kcpu::own;
using kcpu::slot;

void kernels_cpu_init() {
    static std::once_flag once;
    std::call_once(once, [] {
        const kcpu::IsaTable& t = active();
        for (GgmlType ty : kcpu::kDotTypes) register_vec_dot(ty, t.dot[slot(ty)]);
    });
}

CpuIsa kernels_cpu_isa() { return kcpu::state().active; }
bool cpu_isa_supported(CpuIsa isa) { return own(isa) != nullptr; }
bool cpu_has_avx512_bf16() { return kcpu::state().bf16; }
bool cpu_has_avx512_vbmi() { return kcpu::state().vbmi; }
const char* cpu_isa_name(CpuIsa isa) {
    switch (isa) {
        case CpuIsa::Scalar: return "scalar";
        case CpuIsa::AVX2: return "avx2";
        case CpuIsa::AVX512: return "avx512";
    }
    return "?";
}

void gemm(GgmlType t, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
          int64_t n_tok, int64_t n, float* y, int64_t ldy) {
    const int i = slot(t);
    const GemmFn f = (i >= 0 && i < kcpu::kSlots) ? active().gemm[i] : nullptr;
    if (!f) kcpu::bad_type("gemm", t);
    if (n_rows <= 0 || n_tok <= 0) return;
    f(w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, n, y, ldy);
}

void gemv(GgmlType t, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, int64_t n, float* y) {
    gemm(t, w, w_row_bytes, n_rows, act, 0, 1, n, y, n_rows);
}

void quantize_act_row(GgmlType at, const float* x, void* dst, int64_t n) {
    const int64_t bs = type_traits(at).block_size;
    if (n < 0 || bs <= 0 || n % bs != 0)
        throw std::invalid_argument("quantize_act_row: n=" + std::to_string(n) + " is not a multiple of the " +
                                    type_name(static_cast<uint32_t>(at)) + " block size");
    const kcpu::IsaTable& t = active();
    switch (at) {
        case GgmlType::Q8_0: t.quant_q8_0(x, dst, n); return;
        case GgmlType::Q8_K: t.quant_q8_K(x, dst, n); return;
        case GgmlType::F16: t.to_f16(x, static_cast<uint16_t*>(dst), n); return;
        case GgmlType::BF16: t.to_bf16(x, static_cast<uint16_t*>(dst), n); return;
        case GgmlType::F32: std::memcpy(dst, x, size_t(n) * sizeof(float)); return;
        default: kcpu::bad_type("quantize_act_row", at);
    }
}

void fp32_to_fp16_row_fast(const float* x, uint16_t* y, int64_t n) { active().to_f16(x, y, n); }
void fp32_to_bf16_row_fast(const float* x, uint16_t* y, int64_t n) { active().to_bf16(x, y, n); }
void fp16_to_fp32_row_fast(const uint16_t* x, float* y, int64_t n) { active().from_f16(x, y, n); }
void bf16_to_fp32_row_fast(const uint16_t* x, float* y, int64_t n) { active().from_bf16(x, y, n); }

VecDotFn kernel_vec_dot(CpuIsa isa, GgmlType t) {
    const kcpu::IsaTable* k = own(isa);
    const int i = slot(t);
    return (k && i >= 0 && i < kcpu::kSlots) ? k->dot[i] : nullptr;
}
GemmFn kernel_gemm(CpuIsa isa, GgmlType t) {
    const kcpu::IsaTable* k = own(isa);
    const int i = slot(t);
    return (k && i >= 0 && i < kcpu::kSlots) ? k->gemm[i] : nullptr;
}
QuantizeRowFn kernel_quantize_row(CpuIsa isa, GgmlType at) {
    const kcpu::IsaTable* k = own(isa);
    if (!k) return nullptr;
    if (at == GgmlType::Q8_0) return k->quant_q8_0;
    if (at == GgmlType::Q8_K) return k->quant_q8_K;
    return nullptr;
}
F32ToHalfFn kernel_fp32_to_fp16(CpuIsa isa) { return own(isa) ? own(isa)->to_f16 : nullptr; }
F32ToHalfFn kernel_fp32_to_bf16(CpuIsa isa) { return own(isa) ? own(isa)->to_bf16 : nullptr; }
HalfToF32Fn kernel_fp16_to_fp32(CpuIsa isa) { return own(isa) ? own(isa)->from_f16 : nullptr; }
HalfToF32Fn kernel_bf16_to_fp32(CpuIsa isa) { return own(isa) ? own(isa)->from_bf16 : nullptr; }

}  // namespace ds4
