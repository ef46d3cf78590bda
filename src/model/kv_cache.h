// Per-session attention state, one block per layer, all in one backend allocation:
//   raw      [window, head_dim]      ring of the newest KV rows (position p at row p % window)
//   comp     [n_ctx/ratio, head_dim] compressed rows (ratio != 0), append-only
//   idx      [n_ctx/4, idx_dim]      indexer keys (ratio 4)
//   comp/idx compressor state        kv + score rows of the window in progress (and, for
//                                    ratio 4, the previous window's lane A), see compressor.h
// Row counts follow from n_past (rows = n_past / ratio), so the state has no other counters.
#pragma once
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"

namespace ds4 {

struct LayerCache {
    float* raw = nullptr;
    float* comp = nullptr;
    float* idx = nullptr;
    CompressorArgs comp_state, idx_state;  // ape pointers filled by the caller
};

class KvCache {
public:
    // ape[il] / idx_ape[il]: device f32 APE tables of each layer (null where absent).
    KvCache(Backend& be, const ModelConfig& c, int n_ctx, const std::vector<float*>& ape,
            const std::vector<float*>& idx_ape);
    ~KvCache();
    KvCache(const KvCache&) = delete;
    KvCache& operator=(const KvCache&) = delete;

    void reset();                       // empty: rows 0, compressor scores -inf
    size_t bytes() const { return bytes_; }
    int n_ctx() const { return n_ctx_; }
    std::vector<LayerCache> layers;

    // Snapshot of the state after n_past tokens (only the rows in use) and its inverse.
    std::vector<uint8_t> save(int n_past) const;
    int load(const std::vector<uint8_t>& blob);  // returns n_past; throws Error on mismatch

private:
    struct Region {
        size_t offset, bytes;
    };
    std::vector<Region> regions(int n_past) const;
    Backend& be_;
    const ModelConfig& c_;
    int n_ctx_;
    uint8_t* blob_ = nullptr;
    size_t bytes_ = 0;
};

}  // namespace ds4
