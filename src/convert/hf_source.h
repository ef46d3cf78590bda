// Weight source reading the official DeepSeek V4 safetensors checkpoint (FP8/FP4/BF16/F32,
// I64 tid2eid) for the conversion pipeline.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "convert/pipeline.h"
#include "safetensors/safetensors.h"

namespace ds4::convert {

class HfSource : public WeightSource {
public:
    // n_vocab / n_expert / n_expert_used: the values written to the GGUF (tid2eid is cut to
    // its first n_expert_used columns and its ids are checked against n_expert).
    HfSource(const safetensors::Checkpoint& ck, int64_t n_expert) : ck_(ck), n_expert_(n_expert) {}
    void fill(const PlannedTensor& t, int64_t expert, float* out) const override;
    void fill_i32(const PlannedTensor& t, int32_t* out) const override;
    void check(const PlannedTensor& t) const override;
    std::string describe(const PlannedTensor& t) const override;

    // Checkpoint tensors the plan does not consume (excluding .scale companions), split into
    // mtp.* ones and others.
    void unused(const std::vector<PlannedTensor>& plan, std::vector<std::string>* mtp, std::vector<std::string>* other) const;

private:
    const safetensors::Checkpoint& ck_;
    int64_t n_expert_;
};

}  // namespace ds4::convert
