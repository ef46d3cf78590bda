// Random-weight (seeded) models in the ds4 layout, built from the same conversion plan as
// deepseek4-quantize: presets (tiny, bench-q4, bench-q2) and a weight source whose values keep
// activations O(1) (the oracle's initialisation rules, MODEL-SPEC 15.1).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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
    // block_pool: Q4_K / Q2_K / IQ2_XXS tensors are assembled from blocks drawn at random from
    // a pool of 64 properly quantized random rows per tensor instead of quantizing every
    // random row (those quantizers cost 0.4-3 us per value: minutes for the bench presets).
    // Every block is still a valid block of N(0, 1/fan_in) values.
    SyntheticSource(const ModelParams& p, uint64_t seed, int threads = 1, bool block_pool = false)
        : p_(p), seed_(seed), threads_(threads), block_pool_(block_pool) {}
    void fill(const PlannedTensor& t, int64_t expert, float* out) const override;
    bool fill_quantized(const PlannedTensor& t, int64_t expert, uint8_t* dst) const override;
    void fill_i32(const PlannedTensor& t, int32_t* out) const override;
    std::string describe(const PlannedTensor& t) const override;

private:
    void fill_chunk(const PlannedTensor& t, int64_t expert, int64_t chunk, float* out, int64_t n) const;
    ModelParams p_;
    uint64_t seed_;
    int threads_;
    bool block_pool_;
    mutable std::mutex mu_;
    mutable std::map<std::string, std::shared_ptr<const std::vector<uint8_t>>> pools_;
};

}  // namespace ds4::convert
