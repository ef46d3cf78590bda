#include "model/kv_cache.h"

#include <cmath>
#include <cstring>

#include "model/compressor.h"
#include "util/error.h"

namespace ds4 {

namespace {
constexpr uint32_t kMagic = 0x3453444b;  // "KDS4"
constexpr uint32_t kVersion = 1;
struct Header {
    uint32_t magic, version;
    int32_t n_layer, n_ctx, n_past, head_dim;
    uint64_t payload;
};
}  // namespace

KvCache::KvCache(Backend& be, const ModelConfig& c, int n_ctx, const std::vector<float*>& ape,
                 const std::vector<float*>& idx_ape)
    : be_(be), c_(c), n_ctx_(n_ctx) {
    // First pass computes offsets, second binds pointers into the single allocation.
    layers.resize(c.n_layer);
    size_t total = 0;
    auto take = [&](size_t floats) {
        const size_t o = total;
        total += (floats * sizeof(float) + 63) / 64 * 64;
        return o;
    };
    struct Off {
        size_t raw, comp, idx, ckv, csc, ikv, isc;
    };
    std::vector<Off> offs(c.n_layer);
    for (int il = 0; il < c.n_layer; ++il) {
        Off& o = offs[il];
        o = {};
        const int r = c.ratio[il];
        o.raw = take(size_t(c.window) * c.head_dim);
        if (r) {
            const bool ov = c.overlap(il);
            o.comp = take(size_t(n_ctx / r) * c.head_dim);
            const size_t st = size_t(compressor::state_rows(r, ov)) * compressor::state_width(c.head_dim, ov);
            o.ckv = take(st);
            o.csc = take(st);
        }
        if (c.has_indexer(il)) {
            o.idx = take(size_t(n_ctx / r) * c.idx_dim);
            const size_t st = size_t(compressor::state_rows(r, true)) * compressor::state_width(c.idx_dim, true);
            o.ikv = take(st);
            o.isc = take(st);
        }
    }
    bytes_ = total;
    blob_ = static_cast<uint8_t*>(be.alloc(total));
    for (int il = 0; il < c.n_layer; ++il) {
        const Off& o = offs[il];
        LayerCache& L = layers[il];
        const int r = c.ratio[il];
        L.raw = reinterpret_cast<float*>(blob_ + o.raw);
        if (r) {
            L.comp = reinterpret_cast<float*>(blob_ + o.comp);
            L.comp_state = {r, c.head_dim, c.overlap(il), ape[il], reinterpret_cast<float*>(blob_ + o.ckv),
                            reinterpret_cast<float*>(blob_ + o.csc)};
        }
        if (c.has_indexer(il)) {
            L.idx = reinterpret_cast<float*>(blob_ + o.idx);
            L.idx_state = {r, c.idx_dim, true, idx_ape[il], reinterpret_cast<float*>(blob_ + o.ikv),
                           reinterpret_cast<float*>(blob_ + o.isc)};
        }
    }
    reset();
}

KvCache::~KvCache() { be_.free(blob_); }

void KvCache::reset() {
    // Only the compressor scores need a non-zero initial value; row buffers are never read
    // before being written, but zeroing keeps snapshots deterministic.
    be_.fill_f32(reinterpret_cast<float*>(blob_), 0.0f, bytes_ / sizeof(float));
    for (const LayerCache& L : layers) {
        for (const CompressorArgs* a : {&L.comp_state, &L.idx_state}) {
            if (!a->state_sc) continue;
            const size_t n = size_t(compressor::state_rows(a->ratio, a->overlap)) *
                             compressor::state_width(a->dim, a->overlap);
            be_.fill_f32(a->state_sc, -INFINITY, n);
        }
    }
}

std::vector<KvCache::Region> KvCache::regions(int n_past) const {
    std::vector<Region> out;
    auto add = [&](const void* p, size_t bytes) {
        if (p && bytes) out.push_back({size_t(static_cast<const uint8_t*>(p) - blob_), bytes});
    };
    for (int il = 0; il < c_.n_layer; ++il) {
        const LayerCache& L = layers[il];
        const int r = c_.ratio[il];
        add(L.raw, sizeof(float) * c_.window * c_.head_dim);
        if (!r) continue;
        add(L.comp, sizeof(float) * size_t(n_past / r) * c_.head_dim);
        for (const CompressorArgs* a : {&L.comp_state, &L.idx_state}) {
            if (!a->state_kv) continue;
            const size_t n = size_t(compressor::state_rows(a->ratio, a->overlap)) *
                             compressor::state_width(a->dim, a->overlap) * sizeof(float);
            add(a->state_kv, n);
            add(a->state_sc, n);
        }
        if (L.idx) add(L.idx, sizeof(float) * size_t(n_past / r) * c_.idx_dim);
    }
    return out;
}

std::vector<uint8_t> KvCache::save(int n_past) const {
    const std::vector<Region> rs = regions(n_past);
    size_t payload = 0;
    for (const Region& r : rs) payload += r.bytes;
    std::vector<uint8_t> out(sizeof(Header) + payload);
    Header h{kMagic, kVersion, c_.n_layer, n_ctx_, n_past, c_.head_dim, payload};
    std::memcpy(out.data(), &h, sizeof h);
    size_t pos = sizeof h;
    for (const Region& r : rs) {
        be_.download(out.data() + pos, blob_ + r.offset, r.bytes);
        pos += r.bytes;
    }
    return out;
}

int KvCache::load(const std::vector<uint8_t>& blob) {
    Header h;
    if (blob.size() < sizeof h) fail("session state: truncated header");
    std::memcpy(&h, blob.data(), sizeof h);
    if (h.magic != kMagic || h.version != kVersion) fail("session state: not a ds4 session snapshot (v%u)", kVersion);
    if (h.n_layer != c_.n_layer || h.head_dim != c_.head_dim)
        fail("session state: saved for a different model (%d layers, head %d)", h.n_layer, h.head_dim);
    if (h.n_past < 0 || h.n_past > n_ctx_) fail("session state: %d positions do not fit n_ctx %d", h.n_past, n_ctx_);
    const std::vector<Region> rs = regions(h.n_past);
    size_t payload = 0;
    for (const Region& r : rs) payload += r.bytes;
    if (payload != h.payload || blob.size() != sizeof h + payload)
        fail("session state: size mismatch (%zu bytes, expected %zu)", blob.size(), sizeof h + payload);
    reset();
    size_t pos = sizeof h;
    for (const Region& r : rs) {
        be_.upload(blob_ + r.offset, blob.data() + pos, r.bytes);
        pos += r.bytes;
    }
    return h.n_past;
}

}  // namespace ds4
