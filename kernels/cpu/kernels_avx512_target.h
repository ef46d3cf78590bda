// Target attributes shared by the AVX-512 kernel files. Each SIMD function carries its own
// target attribute (instead of -m flags on the file), so the files build with any -march and
// their code only runs after kernels.cpp has checked CPUID.
//   T512    AVX-512 F/BW/DQ/VL + VNNI (+AVX2/FMA/F16C/BMI2): the AVX512 level's baseline
//   T512BF  + AVX512-BF16 (vdpbf16ps)
//   T512V   + AVX512-VBMI (vpermb / vpermi2b)
#pragma once
// GCC 12 reports its own _mm512_undefined_*() placeholders (casts, inserts) as uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#define DS4_T512_ISA "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c,bmi,bmi2"
#define T512 __attribute__((target(DS4_T512_ISA)))
#define T512BF __attribute__((target(DS4_T512_ISA ",avx512bf16")))
#define T512V __attribute__((target(DS4_T512_ISA ",avx512vbmi")))
#define INL inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")
