// CPU kernel micro-benchmark (not a unit test): GB/s of weight bytes streamed by GEMV per
// weight type and ISA level, 1 and 2 threads, on matrices far larger than the last-level cache,
// next to the machine's streaming-read and memcpy bandwidth; plus GEMM (prefill) throughput.
//
// Build and run (after `make build/ds4_tests` or any target that builds build/libds4.a):
//   g++ -O2 -std=c++20 -march=native -ffp-contract=off -I. -Isrc kernels/cpu/bench/kernel_bench_main.cpp
//       build/libds4.a -o build/kernel_bench -pthread
//   ./build/kernel_bench [--mb 256] [--n 4096] [--reps 7] [--types q4_k,q8_0,...] [--no-gemm]
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cpu/kernels.h"

using namespace ds4;

namespace {

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Buf {  // 2 MiB-aligned, pre-faulted
    uint8_t* p = nullptr;
    size_t n = 0;
    explicit Buf(size_t bytes) : n(bytes) {
        p = static_cast<uint8_t*>(std::aligned_alloc(1 << 21, (bytes + (1 << 21) - 1) & ~size_t((1 << 21) - 1)));
        std::memset(p, 0, bytes);
    }
    ~Buf() { std::free(p); }
    Buf(const Buf&) = delete;
    Buf& operator=(const Buf&) = delete;
};

uint64_t g_rng = 0x9E3779B97F4A7C15ull;
uint64_t next_u64() {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
float next_f(float lo, float hi) { return lo + (hi - lo) * float(next_u64() >> 40) / float(1 << 24); }

// Random weights: random bytes with finite block scales (every quant bit pattern is valid).
void fill_weights(GgmlType t, uint8_t* w, size_t bytes) {
    for (size_t i = 0; i + 8 <= bytes; i += 8) {
        const uint64_t v = next_u64();
        std::memcpy(w + i, &v, 8);
    }
    auto half = [](uint8_t* p, float v) {
        const uint16_t h = fp32_to_fp16(v);
        std::memcpy(p, &h, 2);
    };
    const size_t bs = size_t(type_traits(t).type_size);
    switch (t) {
        case GgmlType::Q8_0:
            for (size_t i = 0; i + bs <= bytes; i += bs) half(w + i, next_f(-0.05f, 0.05f));
            break;
        case GgmlType::Q4_K:
            for (size_t i = 0; i + bs <= bytes; i += bs) half(w + i, 0.01f), half(w + i + 2, 0.01f);
            break;
        case GgmlType::Q2_K:
            for (size_t i = 0; i + bs <= bytes; i += bs) half(w + i + 80, 0.05f), half(w + i + 82, 0.02f);
            break;
        case GgmlType::IQ2_XXS:
            for (size_t i = 0; i + bs <= bytes; i += bs) half(w + i, 0.05f);
            break;
        case GgmlType::F16:
            for (size_t i = 0; i + 2 <= bytes; i += 2) half(w + i, next_f(-1, 1));
            break;
        case GgmlType::BF16:
            for (size_t i = 0; i + 2 <= bytes; i += 2) {
                const uint16_t h = fp32_to_bf16(next_f(-1, 1));
                std::memcpy(w + i, &h, 2);
            }
            break;
        case GgmlType::F32:
            for (size_t i = 0; i + 4 <= bytes; i += 4) {
                const float f = next_f(-1, 1);
                std::memcpy(w + i, &f, 4);
            }
            break;
        default: break;
    }
}

double thread_cpu() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Seconds of one run: wall clock, and the largest per-thread CPU time. This machine may be
// shared; CPU time excludes time a thread sat descheduled, so bytes / cpu approximates an
// unloaded run (memory-bound figures still compete with other tenants for DRAM).
struct Secs {
    double wall, cpu;
};

// Runs fn(thread, n_threads) on n_threads threads (the caller is thread 0).
template <class F>
Secs run_threads(int n_threads, F&& fn) {
    std::vector<double> cpu(n_threads);
    auto body = [&](int i) {
        const double c0 = thread_cpu();
        fn(i, n_threads);
        cpu[i] = thread_cpu() - c0;
    };
    const double t0 = now();
    std::vector<std::thread> th;
    for (int i = 1; i < n_threads; ++i) th.emplace_back(body, i);
    body(0);
    for (auto& x : th) x.join();
    return {now() - t0, *std::max_element(cpu.begin(), cpu.end())};
}

// Best (minimum) of reps runs after a warm-up, separately for wall and CPU time.
template <class F>
Secs best_secs(int reps, F&& once) {
    once();
    Secs b{1e30, 1e30};
    for (int i = 0; i < reps; ++i) {
        const Secs s = once();
        b.wall = std::min(b.wall, s.wall);
        b.cpu = std::min(b.cpu, s.cpu);
    }
    return b;
}

__attribute__((target("avx2"))) uint64_t read_stream(const uint8_t* p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
    }
    const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    return uint64_t(_mm256_extract_epi64(s, 0) + _mm256_extract_epi64(s, 1) + _mm256_extract_epi64(s, 2) +
                    _mm256_extract_epi64(s, 3));
}

volatile uint64_t g_sink;

}  // namespace

int main(int argc, char** argv) {
    size_t mb = 256;
    int64_t n = 4096;
    int reps = 7;
    bool do_gemm = true;
    std::vector<GgmlType> types = {GgmlType::Q4_K, GgmlType::Q2_K, GgmlType::IQ2_XXS, GgmlType::Q8_0,
                                   GgmlType::F16,  GgmlType::BF16, GgmlType::F32};
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--mb" && i + 1 < argc) mb = size_t(std::atol(argv[++i]));
        else if (a == "--n" && i + 1 < argc) n = std::atol(argv[++i]);
        else if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
        else if (a == "--no-gemm") do_gemm = false;
        else if (a == "--types" && i + 1 < argc) {
            types.clear();
            std::string s = argv[++i];
            for (size_t b = 0; b <= s.size();) {
                size_t e = s.find(',', b);
                if (e == std::string::npos) e = s.size();
                GgmlType t;
                if (parse_type_name(s.substr(b, e - b).c_str(), &t)) types.push_back(t);
                b = e + 1;
            }
        } else {
            std::fprintf(stderr, "kernel_bench: unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    kernels_cpu_init();
    const int hw = int(std::max(1u, std::thread::hardware_concurrency()));
    std::printf("kernel_bench: active ISA %s (avx2 %d, avx512 %d, avx512bf16 %d), %d hw threads, matrices %zu MiB, n=%lld\n",
                cpu_isa_name(kernels_cpu_isa()), cpu_isa_supported(CpuIsa::AVX2), cpu_isa_supported(CpuIsa::AVX512),
                cpu_has_avx512_bf16(), hw, mb, (long long)n);

    std::printf("figures: best of %d runs; 'wall' = bytes / wall time, 'cpu' = bytes / max per-thread CPU time\n", reps);

    // ---- memory bandwidth --------------------------------------------------------------
    {
        Buf src(mb << 20), dst(mb << 20);
        for (size_t i = 0; i < src.n; i += 64) src.p[i] = uint8_t(i);
        for (int nt : {1, 2}) {
            const Secs s = best_secs(reps, [&] {
                return run_threads(nt, [&](int i, int k) {
                    const size_t chunk = (src.n / k) & ~size_t(127);
                    g_sink = read_stream(src.p + chunk * i, chunk);
                });
            });
            const Secs c = best_secs(reps, [&] {
                return run_threads(nt, [&](int i, int k) {
                    const size_t chunk = (src.n / k) & ~size_t(127);
                    std::memcpy(dst.p + chunk * i, src.p + chunk * i, chunk);
                });
            });
            std::printf("memory %d thread%s: streaming read %5.1f GB/s wall %5.1f cpu | memcpy (read+write) %5.1f wall %5.1f cpu\n",
                        nt, nt > 1 ? "s" : " ", src.n / s.wall / 1e9, src.n / s.cpu / 1e9, 2 * src.n / c.wall / 1e9,
                        2 * src.n / c.cpu / 1e9);
        }
    }

    // ---- GEMV per type -----------------------------------------------------------------
    std::printf("\nGEMV (decode): weight GB/s, %lld columns, rows filling %zu MiB (>> LLC); in-L2: 1 MiB matrix, cpu\n",
                (long long)n, mb);
    std::printf("%-8s %7s  %-7s %12s %12s %12s %8s\n", "type", "rows", "isa", "1T wall/cpu", "2T wall/cpu", "in-L2 1T",
                "scalar");
    for (GgmlType t : types) {
        const GgmlType at = vec_dot_type(t);
        const size_t rb = size_t(row_size(t, n));
        const int64_t rows = int64_t((mb << 20) / rb), rows_l2 = std::max<int64_t>(4, int64_t((1 << 20) / rb));
        Buf w(rb * rows);
        fill_weights(t, w.p, w.n);
        std::vector<float> x(n), y(rows);
        for (float& v : x) v = next_f(-1, 1);
        std::vector<uint8_t> act(size_t(row_size(at, n)));
        quantize_act_row(at, x.data(), act.data(), n);
        const double bytes = double(rb) * rows;
        auto gemv_run = [&](GemmFn g, int64_t nrows, int nt) {
            return run_threads(nt, [&](int i, int k) {
                const int64_t r0 = nrows * i / k, r1 = nrows * (i + 1) / k;
                g(w.p + rb * r0, rb, r1 - r0, act.data(), 0, 1, n, y.data() + r0, nrows);
            });
        };
        const GemmFn gs = kernel_gemm(CpuIsa::Scalar, t);
        const double scalar_gbs = double(rb) * rows_l2 / best_secs(2, [&] { return gemv_run(gs, rows_l2, 1); }).cpu / 1e9;
        for (CpuIsa isa : {CpuIsa::AVX2, CpuIsa::AVX512}) {
            const GemmFn g = kernel_gemm(isa, t);
            if (!g) continue;
            const Secs s1 = best_secs(reps, [&] { return gemv_run(g, rows, 1); });
            const Secs s2 = best_secs(reps, [&] { return gemv_run(g, rows, 2); });
            const Secs l2 = best_secs(reps * 20, [&] { return gemv_run(g, rows_l2, 1); });
            std::printf("%-8s %7lld  %-7s %5.1f /%5.1f %5.1f /%5.1f %12.1f %8.2f\n", type_name(uint32_t(t)), (long long)rows,
                        cpu_isa_name(isa), bytes / s1.wall / 1e9, bytes / s1.cpu / 1e9, bytes / s2.wall / 1e9,
                        bytes / s2.cpu / 1e9, double(rb) * rows_l2 / l2.cpu / 1e9, scalar_gbs);
        }
    }

    // ---- GEMM per type -----------------------------------------------------------------
    if (do_gemm) {
        const int64_t rows = 1024, tok = 64;
        std::printf("\nGEMM (prefill): %lld rows x %lld columns x %lld tokens, GOP/s = 2*rows*n*tokens / s\n",
                    (long long)rows, (long long)n, (long long)tok);
        std::printf("%-8s %-7s %14s %14s %16s\n", "type", "isa", "1T wall/cpu", "2T wall/cpu", "gemv-loop 1T cpu");
        for (GgmlType t : types) {
            const GgmlType at = vec_dot_type(t);
            const size_t rb = size_t(row_size(t, n)), ab = size_t(row_size(at, n));
            Buf w(rb * rows);
            fill_weights(t, w.p, w.n);
            std::vector<float> x(size_t(n) * tok), y(size_t(rows) * tok);
            for (float& v : x) v = next_f(-1, 1);
            std::vector<uint8_t> act(ab * tok);
            for (int64_t i = 0; i < tok; ++i) quantize_act_row(at, x.data() + i * n, act.data() + i * ab, n);
            const double ops = 2.0 * rows * n * tok;
            for (CpuIsa isa : {CpuIsa::AVX2, CpuIsa::AVX512}) {
                const GemmFn g = kernel_gemm(isa, t);
                if (!g) continue;
                Secs s[2];
                for (int nt : {1, 2})
                    s[nt - 1] = best_secs(std::max(3, reps / 2), [&] {
                        return run_threads(nt, [&](int i, int k) {
                            const int64_t r0 = rows * i / k, r1 = rows * (i + 1) / k;
                            g(w.p + rb * r0, rb, r1 - r0, act.data(), ab, tok, n, y.data() + r0, rows);
                        });
                    });
                // Same work as one GEMV call per token (no register blocking over tokens).
                const Secs sv = best_secs(2, [&] {
                    return run_threads(1, [&](int, int) {
                        for (int64_t c = 0; c < tok; ++c) g(w.p, rb, rows, act.data() + c * ab, 0, 1, n, y.data(), rows);
                    });
                });
                std::printf("%-8s %-7s %6.1f /%6.1f %6.1f /%6.1f %16.1f\n", type_name(uint32_t(t)), cpu_isa_name(isa),
                            ops / s[0].wall / 1e9, ops / s[0].cpu / 1e9, ops / s[1].wall / 1e9, ops / s[1].cpu / 1e9,
                            ops / sv.cpu / 1e9);
            }
        }
    }
    return 0;
}
