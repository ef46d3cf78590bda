#include "model/weights.h"

#include <initializer_list>

#include "gguf/gguf.h"
#include "quant/quants.h"
#include "util/error.h"

namespace ds4 {

namespace {

// Which stored types a tensor may have.
enum class Kind {
    Matrix,  // any type the engine multiplies in: F32, F16, BF16, Q8_0, Q4_K, Q2_K, IQ2_XXS
    Vector,  // F32 (norms, biases, sinks, HC base/scale)
    Table,   // small tables dequantized once at load (APE): any Matrix type
    Ids,     // I32 (tid2eid)
};

bool type_ok(Kind k, GgmlType t) {
    switch (k) {
        case Kind::Matrix:
        case Kind::Table:
            return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16 || t == GgmlType::Q8_0 ||
                   t == GgmlType::Q4_K || t == GgmlType::Q2_K || t == GgmlType::IQ2_XXS;
        case Kind::Vector: return t == GgmlType::F32;
        case Kind::Ids: return t == GgmlType::I32;
    }
    return false;
}

const char* kind_types(Kind k) {
    switch (k) {
        case Kind::Matrix:
        case Kind::Table: return "F32|F16|BF16|Q8_0|Q4_K|Q2_K|IQ2_XXS";
        case Kind::Vector: return "F32";
        case Kind::Ids: return "I32";
    }
    return "?";
}

std::string shape_str(std::initializer_list<int64_t> ne) {
    std::string s = "[";
    bool first = true;
    for (int64_t v : ne) {
        s += (first ? "" : ", ") + std::to_string(v);
        first = false;
    }
    return s + "]";
}

class Binder {
public:
    Binder(const gguf::File& f) : f_(f) {}

    // Binds `name` expecting exactly the dims `ne` (trailing 1s ignored). For Ids tensors
    // a larger ne[0] is accepted (the tid2eid table may hold more columns than top-k).
    Weight get(const std::string& name, Kind kind, std::initializer_list<int64_t> ne, bool wide_ok = false) {
        const gguf::TensorInfo* ti = f_.tensor(name);
        if (!ti) fail("tensor %s: missing (expected %s %s)", name.c_str(), shape_str(ne).c_str(), kind_types(kind));
        int64_t want[4] = {1, 1, 1, 1};
        int i = 0;
        for (int64_t v : ne) want[i++] = v;
        bool ok = true;
        for (int d = 0; d < 4; ++d) ok &= (d == 0 && wide_ok) ? ti->ne[0] >= want[0] : ti->ne[d] == want[d];
        if (!ok)
            fail("tensor %s: expected shape %s%s, found %s", name.c_str(), shape_str(ne).c_str(),
                 wide_ok ? " (or wider ne0)" : "", ti->shape_str().c_str());
        if (!type_ok(kind, ti->type))
            fail("tensor %s: expected type %s, found %s", name.c_str(), kind_types(kind), type_name(uint32_t(ti->type)));
        const TypeTraits tr = type_traits(ti->type);
        if (tr.block_size <= 0 || ti->ne[0] % tr.block_size != 0)
            fail("tensor %s: row length %lld is not a multiple of the %s block size %lld", name.c_str(),
                 (long long)ti->ne[0], tr.name, (long long)tr.block_size);
        Weight w;
        w.name = name;
        w.type = ti->type;
        for (int d = 0; d < 4; ++d) w.ne[d] = ti->ne[d];
        w.data = ti->data;
        w.row_bytes = size_t(row_size(ti->type, ti->ne[0]));
        bytes_ += ti->nbytes;
        return w;
    }
    Weight opt(const std::string& name, Kind kind, std::initializer_list<int64_t> ne) {
        return f_.tensor(name) ? get(name, kind, ne) : Weight{};
    }
    uint64_t bytes() const { return bytes_; }

private:
    const gguf::File& f_;
    uint64_t bytes_ = 0;
};

}  // namespace

ModelWeights ModelWeights::bind(const gguf::File& f, const ModelConfig& c) {
    Binder b(f);
    ModelWeights m;
    const int64_t D = c.n_embd, V = c.n_vocab, nhc = c.n_hc, mix = c.mix_hc();
    const int64_t Dh = c.head_dim, H = c.n_head, G = c.o_groups, F = c.ffn_dim, E = c.n_expert;
    m.tok_embd = b.get("token_embd.weight", Kind::Matrix, {D, V});
    m.out_hc_fn = b.get("output_hc_fn.weight", Kind::Matrix, {nhc * D, nhc});
    m.out_hc_base = b.get("output_hc_base.weight", Kind::Vector, {nhc});
    m.out_hc_scale = b.get("output_hc_scale.weight", Kind::Vector, {1});
    m.out_norm = b.get("output_norm.weight", Kind::Vector, {D});
    m.output = b.get("output.weight", Kind::Matrix, {D, V});
    m.layers.resize(c.n_layer);
    for (int il = 0; il < c.n_layer; ++il) {
        LayerWeights& L = m.layers[il];
        const std::string p = "blk." + std::to_string(il) + ".";
        L.hc_attn_fn = b.get(p + "hc_attn_fn.weight", Kind::Matrix, {nhc * D, mix});
        L.hc_attn_scale = b.get(p + "hc_attn_scale.weight", Kind::Vector, {3});
        L.hc_attn_base = b.get(p + "hc_attn_base.weight", Kind::Vector, {mix});
        L.attn_norm = b.get(p + "attn_norm.weight", Kind::Vector, {D});
        L.q_a = b.get(p + "attn_q_a.weight", Kind::Matrix, {D, c.q_lora});
        L.q_a_norm = b.get(p + "attn_q_a_norm.weight", Kind::Vector, {c.q_lora});
        L.q_b = b.get(p + "attn_q_b.weight", Kind::Matrix, {c.q_lora, H * Dh});
        L.kv = b.get(p + "attn_kv.weight", Kind::Matrix, {D, Dh});
        L.kv_norm = b.get(p + "attn_kv_a_norm.weight", Kind::Vector, {Dh});
        L.sinks = b.get(p + "attn_sinks.weight", Kind::Vector, {H});
        L.out_a = b.get(p + "attn_output_a.weight", Kind::Matrix, {H * Dh / G, G * c.o_lora});
        L.out_b = b.get(p + "attn_output_b.weight", Kind::Matrix, {G * c.o_lora, D});
        const int r = c.ratio[il];
        if (r != 0) {
            const int64_t w = c.comp_lanes(il) * Dh;
            L.comp_ape = b.get(p + "attn_compressor_ape.weight", Kind::Table, {w, r});
            L.comp_kv = b.get(p + "attn_compressor_kv.weight", Kind::Matrix, {D, w});
            L.comp_gate = b.get(p + "attn_compressor_gate.weight", Kind::Matrix, {D, w});
            L.comp_norm = b.get(p + "attn_compressor_norm.weight", Kind::Vector, {Dh});
        }
        if (c.has_indexer(il)) {
            const int64_t Di = c.idx_dim, Hi = c.idx_heads;
            L.idx_q_b = b.get(p + "indexer.attn_q_b.weight", Kind::Matrix, {c.q_lora, Hi * Di});
            L.idx_proj = b.get(p + "indexer.proj.weight", Kind::Matrix, {D, Hi});
            L.idx_ape = b.get(p + "indexer_compressor_ape.weight", Kind::Table, {2 * Di, r});
            L.idx_kv = b.get(p + "indexer_compressor_kv.weight", Kind::Matrix, {D, 2 * Di});
            L.idx_gate = b.get(p + "indexer_compressor_gate.weight", Kind::Matrix, {D, 2 * Di});
            L.idx_norm = b.get(p + "indexer_compressor_norm.weight", Kind::Vector, {Di});
        }
        L.hc_ffn_fn = b.get(p + "hc_ffn_fn.weight", Kind::Matrix, {nhc * D, mix});
        L.hc_ffn_scale = b.get(p + "hc_ffn_scale.weight", Kind::Vector, {3});
        L.hc_ffn_base = b.get(p + "hc_ffn_base.weight", Kind::Vector, {mix});
        L.ffn_norm = b.get(p + "ffn_norm.weight", Kind::Vector, {D});
        L.gate_inp = b.get(p + "ffn_gate_inp.weight", Kind::Matrix, {D, E});
        if (c.hash_layer(il)) {
            const std::string tn = p + "ffn_gate_tid2eid.weight";
            if (const gguf::TensorInfo* ti = f.tensor(tn); ti && ti->ne[0] < c.n_expert_used)
                fail("tensor %s: hash routing table has %lld columns, fewer than the %d experts per token in use",
                     tn.c_str(), (long long)ti->ne[0], c.n_expert_used);
            L.tid2eid = b.get(p + "ffn_gate_tid2eid.weight", Kind::Ids, {c.n_expert_used, V}, true);
            // The table may be wider than top-k (a 6-column table run with 4 experts uses the
            // first 4 columns); row() must still step over the stored width.
            const int64_t cols = L.tid2eid.ne[0];
            const int32_t* ids = reinterpret_cast<const int32_t*>(L.tid2eid.data);
            for (int64_t t = 0; t < V; ++t)
                for (int k = 0; k < c.n_expert_used; ++k) {
                    const int32_t e = ids[t * cols + k];
                    if (e < 0 || e >= E)
                        fail("tensor %s: token %lld maps to expert %d, expert_count is %lld", L.tid2eid.name.c_str(),
                             (long long)t, e, (long long)E);
                }
        } else {
            L.gate_bias = b.opt(p + "exp_probs_b.bias", Kind::Vector, {E});
        }
        L.gate_exps = b.get(p + "ffn_gate_exps.weight", Kind::Matrix, {D, F, E});
        L.up_exps = b.get(p + "ffn_up_exps.weight", Kind::Matrix, {D, F, E});
        L.down_exps = b.get(p + "ffn_down_exps.weight", Kind::Matrix, {F, D, E});
        if (c.n_shared > 0) {
            L.gate_sh = b.get(p + "ffn_gate_shexp.weight", Kind::Matrix, {D, F});
            L.up_sh = b.get(p + "ffn_up_shexp.weight", Kind::Matrix, {D, F});
            L.down_sh = b.get(p + "ffn_down_shexp.weight", Kind::Matrix, {F, D});
        }
    }
    m.total_bytes = b.bytes();
    return m;
}

}  // namespace ds4
