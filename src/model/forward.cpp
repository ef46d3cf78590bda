// DeepSeek V4 forward pass (MODEL-SPEC sections 7-9), layer-major over a batch of T
// consecutive tokens. Reads top to bottom:
//
//   embed -> n_hc identical residual streams
//   per layer:
//     attention half  HC pre -> attn_norm -> q (low rank, per-head norm, RoPE) and the shared
//                     K=V row (norm, RoPE, FP8) -> compressors push/emit rows -> indexer picks
//                     compressed rows (ratio 4) -> sparse attention with sinks over window +
//                     compressed rows -> inverse RoPE -> grouped low-rank output -> HC post
//     FFN half        HC pre -> ffn_norm -> router (hash or biased top-k) -> routed experts +
//                     shared expert -> HC post
//   HC head -> output_norm -> logits (only the rows the caller wants)
//
// Every op goes through the Backend; this file holds the order of operations, the cache
// bookkeeping and the numerics switches. `bf16(...)` marks each point where the official
// code stores a bf16 tensor (only active when emulating the official exact numerics); the ops
// given nf_.bf16 (rope_tail, hc_post) store their result so themselves, and rms_norm_bf16
// rounds its input.
#include "model/forward.h"

#include <algorithm>
#include <cmath>

#include "model/compressor.h"
#include "quant/quants.h"
#include "util/error.h"

namespace ds4 {

namespace {
constexpr int kHeadRows = 16;  // logits rows computed per output-head call
}

ModelDevice upload_model_tables(Backend& be, const ModelConfig& c, const ModelWeights& w) {
    ModelDevice d;
    auto vec = [&](const Weight& v) -> const float* {
        if (!v) return nullptr;
        const size_t n = size_t(v.ne[0] * v.ne[1] * v.ne[2] * v.ne[3]);
        float* p = static_cast<float*>(be.alloc(n * sizeof(float)));
        be.upload(p, v.data, n * sizeof(float));
        return p;
    };
    auto table = [&](const Weight& t) -> float* {
        if (!t) return nullptr;
        const int64_t n = t.n_in(), rows = t.n_rows();
        std::vector<float> host(size_t(n * rows));
        for (int64_t r = 0; r < rows; ++r) dequantize_row(t.type, t.row(r), host.data() + r * n, n);
        float* p = static_cast<float*>(be.alloc(host.size() * sizeof(float)));
        be.upload(p, host.data(), host.size() * sizeof(float));
        return p;
    };
    auto floats = [&](const std::vector<float>& h) -> const float* {
        float* p = static_cast<float*>(be.alloc(h.size() * sizeof(float)));
        be.upload(p, h.data(), h.size() * sizeof(float));
        return p;
    };
    for (const LayerWeights& L : w.layers) {
        d.attn_norm.push_back(vec(L.attn_norm));
        d.q_a_norm.push_back(vec(L.q_a_norm));
        d.kv_norm.push_back(vec(L.kv_norm));
        d.sinks.push_back(vec(L.sinks));
        d.comp_norm.push_back(vec(L.comp_norm));
        d.idx_norm.push_back(vec(L.idx_norm));
        d.ffn_norm.push_back(vec(L.ffn_norm));
        d.gate_bias.push_back(vec(L.gate_bias));
        d.hc_attn_scale.push_back(vec(L.hc_attn_scale));
        d.hc_attn_base.push_back(vec(L.hc_attn_base));
        d.hc_ffn_scale.push_back(vec(L.hc_ffn_scale));
        d.hc_ffn_base.push_back(vec(L.hc_ffn_base));
        d.comp_ape.push_back(table(L.comp_ape));
        d.idx_ape.push_back(table(L.idx_ape));
    }
    d.out_norm = vec(w.out_norm);
    d.out_hc_scale = vec(w.out_hc_scale);
    d.out_hc_base = vec(w.out_hc_base);
    d.rope_main = floats(rope::inv_freqs(c.rope_dim, c.rope_base, rope::YarnParams{}));
    d.rope_comp = floats(rope::inv_freqs(c.rope_dim, c.compress_rope_base, c.yarn));
    return d;
}

Forward::Forward(Backend& be, const ModelConfig& c, const ModelWeights& w, const ModelDevice& dev,
                 NumericsFlags nf, int max_tokens)
    : be_(be), c_(c), w_(w), dev_(dev), nf_(nf), max_T_(max_tokens) {
    const size_t T = size_t(max_tokens);
    const size_t D = c.n_embd, Dh = c.head_dim, H = c.n_head, nhc = c.n_hc;
    const size_t Di = c.idx_dim, Hi = c.idx_heads, K = c.n_expert_used;
    state_ = buf(T * nhc * D);
    mix_ = buf(T * std::max<size_t>(c.mix_hc(), nhc));
    x_ = buf(T * D);
    xn_ = buf(T * D);
    post_ = buf(T * nhc);
    comb_ = buf(T * nhc * nhc);
    qn_ = buf(T * c.q_lora);
    q_ = buf(T * H * Dh);
    kv_ = buf(T * Dh);
    ckv_ = buf(T * 2 * Dh);
    cgate_ = buf(T * 2 * Dh);
    ikv_ = buf(T * 2 * Di);
    igate_ = buf(T * 2 * Di);
    iq_ = buf(T * Hi * Di);
    iw_ = buf(T * Hi);
    sel_ = reinterpret_cast<int32_t*>(buf(T * std::max(1, c.idx_topk)));
    sel_n_ = reinterpret_cast<int32_t*>(buf(T));
    comp_row_ = buf(std::max(Dh, Di));
    o_ = buf(T * H * Dh);
    low_ = buf(T * c.o_groups * c.o_lora);
    y_ = buf(T * D);
    rlogits_ = buf(T * c.n_expert);
    rsel_ = reinterpret_cast<int32_t*>(buf(T * K));
    rw_ = buf(T * K);
    sh_g_ = buf(T * c.ffn_dim);
    sh_u_ = buf(T * c.ffn_dim);
    ffn_out_ = buf(T * D);
    head_x_ = buf(kHeadRows * D);
    logits_ = buf(size_t(kHeadRows) * c.n_vocab);
}

Forward::~Forward() {
    for (void* p : allocs_) be_.free(p);
}

float* Forward::buf(size_t floats) {
    void* p = be_.alloc(std::max<size_t>(floats, 1) * sizeof(float));
    allocs_.push_back(p);
    return static_cast<float*>(p);
}

void Forward::bf16(float* x, size_t n) {
    if (nf_.bf16) be_.round_bf16(x, n);
}

void Forward::run(KvCache& cache, const int32_t* tokens, int T, int64_t pos0, int want_rows, float* logits_host) {
    if (T <= 0) return;
    if (T > max_T_) fail("forward: batch of %d tokens exceeds the workspace (%d)", T, max_T_);
    const int D = c_.n_embd, nhc = c_.n_hc;
    be_.get_rows(w_.tok_embd, tokens, T, x_);
    bf16(x_, size_t(T) * D);
    be_.broadcast_streams(x_, T, nhc, D, state_);
    for (int il = 0; il < c_.n_layer; ++il) {
        attention_layer(il, cache, tokens, T, pos0);
        ffn_layer(il, tokens, T);
        if (hook) trace(il, T, pos0);
    }
    // Output head, only for the rows asked for, a few rows per call.
    want_rows = std::min(want_rows, T);
    for (int r0 = T - want_rows; r0 < T; r0 += kHeadRows) {
        const int n = std::min(kHeadRows, T - r0);
        const float* st = state_ + size_t(r0) * nhc * D;
        be_.matmul(w_.out_hc_fn, 0, nhc, st, int64_t(nhc) * D, n, mix_, nhc, ActQuant::None, eb(-1));
        be_.hc_head(mix_, st, dev_.out_hc_scale, dev_.out_hc_base, n, nhc, D, c_.hc_eps, c_.norm_eps, head_x_, r0,
                    nf_.ops ? T : 0);
        bf16(head_x_, size_t(n) * D);
        be_.rms_norm(head_x_, dev_.out_norm, n, D, c_.norm_eps, head_x_, nf_.ops);
        bf16(head_x_, size_t(n) * D);
        be_.matmul(w_.output, 0, c_.n_vocab, head_x_, D, n, logits_, c_.n_vocab, ActQuant::None, eb(-1));
        be_.download(logits_host + size_t(r0 - (T - want_rows)) * c_.n_vocab, logits_,
                     sizeof(float) * size_t(n) * c_.n_vocab);
    }
}

void Forward::attention_layer(int il, KvCache& cache, const int32_t* tokens, int T, int64_t pos0) {
    const LayerWeights& L = w_.layers[il];
    LayerCache& lc = cache.layers[il];
    const int D = c_.n_embd, nhc = c_.n_hc, H = c_.n_head, Dh = c_.head_dim, Lq = c_.q_lora;
    const int r = c_.ratio[il];
    const float eps = c_.norm_eps;
    const float* rope = r ? dev_.rope_comp : dev_.rope_main;
    const int npairs = c_.rope_dim / 2;
    const size_t TD = size_t(T) * D;

    // HC pre + attn_norm
    be_.matmul(L.hc_attn_fn, 0, c_.mix_hc(), state_, int64_t(nhc) * D, T, mix_, c_.mix_hc(), ActQuant::None, eb(-1));
    be_.hc_pre(mix_, state_, dev_.hc_attn_scale[il], dev_.hc_attn_base[il], T, nhc, D, c_.sinkhorn_iters,
               c_.hc_eps, eps, x_, post_, comb_, nf_.ops);
    bf16(x_, TD);
    be_.rms_norm(x_, dev_.attn_norm[il], T, D, eps, xn_, nf_.ops);
    bf16(xn_, TD);

    // Every product of the normed input, as one batch: low-rank q, the K=V row, the
    // compressors' and the indexer's inputs.
    const bool idx = c_.has_indexer(il);
    const int cw = r ? c_.comp_lanes(il) * Dh : 0, iw = 2 * c_.idx_dim, Hi = c_.idx_heads, Di = c_.idx_dim;
    {
        MatmulCall mc[7];
        int n = 0;
        mc[n++] = {&L.q_a, 0, Lq, xn_, D, qn_, Lq, aq(), eb(128)};
        mc[n++] = {&L.kv, 0, Dh, xn_, D, kv_, Dh, aq(), eb(128)};
        if (r) {
            mc[n++] = {&L.comp_kv, 0, cw, xn_, D, ckv_, cw, ActQuant::None, eb(-1)};
            mc[n++] = {&L.comp_gate, 0, cw, xn_, D, cgate_, cw, ActQuant::None, eb(-1)};
        }
        if (idx) {
            mc[n++] = {&L.idx_kv, 0, iw, xn_, D, ikv_, iw, ActQuant::None, eb(-1)};
            mc[n++] = {&L.idx_gate, 0, iw, xn_, D, igate_, iw, ActQuant::None, eb(-1)};
            mc[n++] = {&L.idx_proj, 0, Hi, xn_, D, iw_, Hi, ActQuant::None, eb(-2)};
        }
        be_.matmuls(mc, n, T);
    }

    // Queries: low-rank q (qn is also the indexer's input), per-head RMS norm, RoPE.
    bf16(qn_, size_t(T) * Lq);
    be_.rms_norm(qn_, dev_.q_a_norm[il], T, Lq, eps, qn_, nf_.ops);
    bf16(qn_, size_t(T) * Lq);
    {
        MatmulCall mc[2];
        int n = 0;
        mc[n++] = {&L.q_b, 0, int64_t(H) * Dh, qn_, Lq, q_, int64_t(H) * Dh, aq(), eb(128)};
        if (idx) mc[n++] = {&L.idx_q_b, 0, int64_t(Hi) * Di, qn_, Lq, iq_, int64_t(Hi) * Di, aq(), eb(128)};
        be_.matmuls(mc, n, T);
    }
    if (nf_.bf16)
        be_.rms_norm_bf16(q_, T * H, Dh, eps);
    else
        be_.rms_norm(q_, nullptr, T * H, Dh, eps, q_);
    be_.rope_tail(q_, T, H, Dh, pos0, 1, rope, npairs, false, nf_.bf16);

    // The single K=V row of each token: norm, RoPE, FP8 on the non-rotary dims.
    bf16(kv_, size_t(T) * Dh);
    be_.rms_norm(kv_, dev_.kv_norm[il], T, Dh, eps, kv_, nf_.ops);
    bf16(kv_, size_t(T) * Dh);
    be_.rope_tail(kv_, T, 1, Dh, pos0, 1, rope, npairs, false, nf_.bf16);
    if (nf_.kv_fp8) be_.fp8_rows(kv_, T, Dh, c_.n_nope());

    // Compressors: token by token (their state carries across batches); a row emitted at
    // token t is visible to t and every later token, never to earlier ones.
    if (r) {
        CompressorArgs cst = lc.comp_state, ist = lc.idx_state;
        cst.exact = ist.exact = nf_.ops;
        for (int t = 0; t < T; ++t) {
            const int64_t pos = pos0 + t;
            if (!compressor::emits_at(pos, r)) {
                be_.compressor_push(cst, ckv_ + size_t(t) * cw, cgate_ + size_t(t) * cw, pos, nullptr);
                if (idx) be_.compressor_push(ist, ikv_ + size_t(t) * iw, igate_ + size_t(t) * iw, pos, nullptr);
                continue;
            }
            const int64_t row = pos / r, rpos = compressor::row_position(pos, r);
            // Attention row: pooled -> (bf16) -> norm -> RoPE at the window start -> FP8.
            float* dst = lc.comp + size_t(row) * Dh;
            be_.compressor_push(cst, ckv_ + size_t(t) * cw, cgate_ + size_t(t) * cw, pos, comp_row_);
            bf16(comp_row_, Dh);
            be_.rms_norm(comp_row_, dev_.comp_norm[il], 1, Dh, eps, dst, nf_.ops);
            bf16(dst, Dh);
            be_.rope_tail(dst, 1, 1, Dh, rpos, 0, rope, npairs, false, nf_.bf16);
            if (nf_.kv_fp8) be_.fp8_rows(dst, 1, Dh, c_.n_nope());
            if (idx) {
                // Indexer key: same pooling at its own width, then Hadamard (+ FP4).
                float* kdst = lc.idx + size_t(row) * Di;
                be_.compressor_push(ist, ikv_ + size_t(t) * iw, igate_ + size_t(t) * iw, pos, comp_row_);
                bf16(comp_row_, Di);
                be_.rms_norm(comp_row_, dev_.idx_norm[il], 1, Di, eps, kdst, nf_.ops);
                bf16(kdst, Di);
                be_.rope_tail(kdst, 1, 1, Di, rpos, 0, rope, npairs, false, nf_.bf16);
                be_.hadamard_rows(kdst, 1, Di);
                bf16(kdst, Di);
                if (nf_.idx_fp4) be_.fp4_rows(kdst, 1, Di);
            }
        }
    }

    // Indexer: which compressed rows each query reads (ratio-4 layers).
    if (idx) {
        bf16(iq_, size_t(T) * Hi * Di);
        be_.rope_tail(iq_, T, Hi, Di, pos0, 1, rope, npairs, false, nf_.bf16);
        be_.hadamard_rows(iq_, T * Hi, Di);
        bf16(iq_, size_t(T) * Hi * Di);
        if (nf_.idx_fp4) be_.fp4_rows(iq_, T * Hi, Di);
        bf16(iw_, size_t(T) * Hi);
        be_.scale(iw_, size_t(T) * Hi, float(std::pow(double(Di), -0.5) * std::pow(double(Hi), -0.5)));
        bf16(iw_, size_t(T) * Hi);
        be_.indexer_select(iq_, iw_, lc.idx, T, pos0, r, Hi, Di, c_.idx_topk, nf_.bf16, sel_, sel_n_);
    }

    // Sparse attention over the sliding window (ring + this batch) and compressed rows.
    AttnArgs a;
    a.n_head = H;
    a.head_dim = Dh;
    a.window = c_.window;
    a.scale = float(1.0 / std::sqrt(double(Dh)));
    a.pos0 = pos0;
    a.raw_ring = lc.raw;
    a.raw_chunk = kv_;
    a.comp = r ? lc.comp : nullptr;
    a.ratio = r;
    a.sel = idx ? sel_ : nullptr;
    a.sel_n = idx ? sel_n_ : nullptr;
    a.sel_stride = c_.idx_topk;
    a.sinks = dev_.sinks[il];
    a.bf16 = nf_.bf16;
    a.exact = nf_.ops;
    // The official index list pads the window part to min(seqlen, window) on a fresh prefill
    // and to window when decoding; compressed entries follow it.
    a.win_slots = pos0 == 0 ? std::min(T, c_.window) : c_.window;
    if (r && pos0 == 0) a.comp_slots = idx ? std::min(c_.idx_topk, T / r) : T / r;
    be_.attention(a, q_, T, o_);
    bf16(o_, size_t(T) * H * Dh);
    // Only now may this batch's rows overwrite the ring (earlier tokens read older rows).
    for (int t = std::max(0, T - c_.window); t < T; ++t)
        be_.copy(lc.raw + size_t((pos0 + t) % c_.window) * Dh, kv_ + size_t(t) * Dh, sizeof(float) * Dh);

    // Values carry rotated tails: rotate back to the query position, then the grouped
    // low-rank output projection (group g reads heads [g*H/G, (g+1)*H/G)).
    be_.rope_tail(o_, T, H, Dh, pos0, 1, rope, npairs, true, nf_.bf16);
    const int G = c_.o_groups, Lo = c_.o_lora;
    be_.matmul_groups(L.out_a, G, Lo, o_, T, low_, int64_t(G) * Lo, eb(-2));
    bf16(low_, size_t(T) * G * Lo);
    be_.matmul(L.out_b, 0, D, low_, int64_t(G) * Lo, T, y_, D, aq(), eb(128));
    bf16(y_, TD);
    be_.hc_post(state_, y_, post_, comb_, T, nhc, D, nf_.bf16);
}

void Forward::ffn_layer(int il, const int32_t* tokens, int T) {
    const LayerWeights& L = w_.layers[il];
    const int D = c_.n_embd, nhc = c_.n_hc, F = c_.ffn_dim, K = c_.n_expert_used;
    const size_t TD = size_t(T) * D;
    be_.matmul(L.hc_ffn_fn, 0, c_.mix_hc(), state_, int64_t(nhc) * D, T, mix_, c_.mix_hc(), ActQuant::None, eb(-1));
    be_.hc_pre(mix_, state_, dev_.hc_ffn_scale[il], dev_.hc_ffn_base[il], T, nhc, D, c_.sinkhorn_iters, c_.hc_eps,
               c_.norm_eps, x_, post_, comb_, nf_.ops);
    bf16(x_, TD);
    be_.rms_norm(x_, dev_.ffn_norm[il], T, D, c_.norm_eps, xn_, nf_.ops);
    bf16(xn_, TD);

    // Router in f32 (as the official code), then the routed experts; the shared expert's
    // gate and up products join the router's batch.
    {
        MatmulCall mc[3];
        int n = 0;
        mc[n++] = {&L.gate_inp, 0, c_.n_expert, xn_, D, rlogits_, c_.n_expert, ActQuant::None, eb(-1)};
        if (c_.n_shared > 0) {
            mc[n++] = {&L.gate_sh, 0, F, xn_, D, sh_g_, F, aq(), eb(128)};
            mc[n++] = {&L.up_sh, 0, F, xn_, D, sh_u_, F, aq(), eb(128)};
        }
        be_.matmuls(mc, n, T);
    }
    be_.route(rlogits_, dev_.gate_bias[il], c_.hash_layer(il) ? &L.tid2eid : nullptr, tokens, T, c_.n_expert, K,
              c_.expert_scale, rsel_, rw_, nf_.ops);
    be_.moe(L.gate_exps, L.up_exps, L.down_exps, xn_, T, rsel_, rw_, K, c_.clamp_exp[il], aq(), nf_.bf16, ffn_out_,
            nf_.ops);

    if (c_.n_shared > 0) {
        bf16(sh_g_, size_t(T) * F);
        bf16(sh_u_, size_t(T) * F);
        be_.swiglu(sh_g_, sh_u_, size_t(T) * F, c_.clamp_shexp[il], nf_.ops);
        bf16(sh_g_, size_t(T) * F);
        be_.matmul(L.down_sh, 0, D, sh_g_, F, T, y_, D, aq(), eb(128));
        bf16(y_, TD);
        be_.add(ffn_out_, y_, TD);
    }
    bf16(ffn_out_, TD);
    be_.hc_post(state_, ffn_out_, post_, comb_, T, nhc, D, nf_.bf16);
}

void Forward::trace(int il, int T, int64_t pos0) {
    const size_t n = size_t(T) * c_.n_hc * c_.n_embd, K = c_.n_expert_used;
    h_state_.resize(n);
    h_rsel_.resize(T * K);
    h_rw_.resize(T * K);
    be_.download(h_state_.data(), state_, n * sizeof(float));
    be_.download(h_rsel_.data(), rsel_, T * K * sizeof(int32_t));
    be_.download(h_rw_.data(), rw_, T * K * sizeof(float));
    LayerTrace tr;
    tr.layer = il;
    tr.T = T;
    tr.pos0 = pos0;
    tr.state = h_state_.data();
    tr.state_width = c_.n_hc * c_.n_embd;
    tr.experts = h_rsel_.data();
    tr.expert_w = h_rw_.data();
    tr.k = int(K);
    if (c_.has_indexer(il)) {
        h_sel_.resize(size_t(T) * c_.idx_topk);
        h_sel_n_.resize(T);
        be_.download(h_sel_.data(), sel_, h_sel_.size() * sizeof(int32_t));
        be_.download(h_sel_n_.data(), sel_n_, T * sizeof(int32_t));
        tr.idx_sel = h_sel_.data();
        tr.idx_n = h_sel_n_.data();
        tr.idx_stride = c_.idx_topk;
    }
    hook(tr);
}

}  // namespace ds4
