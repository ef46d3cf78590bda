// Random-weight (seeded) models in the ds4 layout, built from the same conversion plan as
// deepseek4-quantize: presets (tiny, bench-q4, bench-q2) and a weight source whose values keep
// activations O(1) (the oracle's initialisation rules, MODEL-SPEC 15.1).
#pragma once
#include <cstdint>
#include <string>

#include "convert/pipeline.h"
#include "convert/plan.h"

namespace ds4::convert {

struct SyntheticPreset {
    ModelParams params;
    Policy policy;
};
// "tiny" (every layer kind, a few MB), "bench-q4" (~4 GB, Flash-width layers), "bench-q2".
// Throws on an unknown name.
SyntheticPreset synthetic_preset(const std::string& name);

// Seeded values for every planned tensor; deterministic for a given (seed, tensor name,
// expert), independent of threading.
class SyntheticSource : public WeightSource {
public:
    // threads: used to fill large non-expert tensors (the output does not depend on it).
    SyntheticSource(const ModelParams& p, uint64_t seed, int threads = 1) : p_(p), seed_(seed), threads_(threads) {}
    void fill(const PlannedTensor& t, int64_t expert, float* out) const override;
    void fill_i32(const PlannedTensor& t, int32_t* out) const override;
    std::string describe(const PlannedTensor& t) const override;

private:
    void fill_chunk(const PlannedTensor& t, int64_t expert, int64_t chunk, float* out, int64_t n) const;
    ModelParams p_;
    uint64_t seed_;
    int threads_;
};

}  // namespace ds4::convert
