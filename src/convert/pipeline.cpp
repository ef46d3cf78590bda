#include "convert/pipeline.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <sys/stat.h>
#include <thread>

#include "gguf/gguf.h"
#include "quant/quants.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/json.h"
#include "util/mmap_file.h"

namespace ds4::convert {

std::string human_bytes(double b) {
    const char* u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) {
        b /= 1024;
        i++;
    }
    return i == 0 ? strfmt("%.0f B", b) : strfmt("%.2f %s", b, u[i]);
}

// ---------------------------------------------------------------------------------------
// imatrix
// ---------------------------------------------------------------------------------------
Imatrix Imatrix::load(const std::string& path) {
    Imatrix im;
    im.path_ = path;
    const std::string buf = read_text_file(path);
    size_t pos = 0;
    auto rd_i32 = [&](const char* what) {
        if (buf.size() - pos < 4) fail("%s: truncated imatrix (%s at byte %zu)", path.c_str(), what, pos);
        int32_t v;
        memcpy(&v, buf.data() + pos, 4);
        pos += 4;
        return v;
    };
    const int32_t n = rd_i32("entry count");
    if (n < 0 || n > 1000000) fail("%s: bad imatrix entry count %d", path.c_str(), n);
    for (int32_t i = 0; i < n; i++) {
        const int32_t len = rd_i32("name length");
        if (len <= 0 || (size_t)len > buf.size() - pos) fail("%s: bad imatrix name length %d (entry %d)", path.c_str(), len, i);
        std::string name = buf.substr(pos, (size_t)len);
        pos += (size_t)len;
        const int32_t ncall = rd_i32("ncall");
        const int32_t nval = rd_i32("nval");
        if (nval <= 0 || (size_t)nval > (buf.size() - pos) / 4)
            fail("%s: bad imatrix value count %d for '%s'", path.c_str(), nval, name.c_str());
        std::vector<float> v((size_t)nval);
        memcpy(v.data(), buf.data() + pos, (size_t)nval * 4);
        pos += (size_t)nval * 4;
        if (ncall > 0)
            for (float& x : v) x /= (float)ncall;
        im.entries_[name] = std::move(v);
    }
    if (buf.size() - pos >= 4) {
        im.chunks_ = rd_i32("chunks");
        if (buf.size() - pos >= 4) {
            const int32_t dl = rd_i32("dataset length");
            if (dl < 0 || (size_t)dl > buf.size() - pos) fail("%s: bad imatrix dataset length %d", path.c_str(), dl);
            im.dataset_ = buf.substr(pos, (size_t)dl);
        }
    }
    return im;
}

const float* Imatrix::lookup(const std::string& name, int64_t ncols, int64_t expert, int64_t n_expert) const {
    if (expert >= 0) {
        for (const std::string& k : {name + ".expert." + std::to_string(expert), name + ".expert_" + std::to_string(expert)}) {
            auto it = entries_.find(k);
            if (it == entries_.end()) continue;
            if ((int64_t)it->second.size() != ncols)
                fail("%s: imatrix entry '%s' has %zu values, want %lld", path_.c_str(), k.c_str(), it->second.size(), (long long)ncols);
            return it->second.data();
        }
    }
    auto it = entries_.find(name);
    if (it == entries_.end()) return nullptr;
    const int64_t n = (int64_t)it->second.size();
    if (n == ncols) return it->second.data();
    if (expert >= 0 && n == ncols * n_expert) return it->second.data() + expert * ncols;
    fail("%s: imatrix entry '%s' has %lld values, want %lld%s", path_.c_str(), name.c_str(), (long long)n, (long long)ncols,
         expert >= 0 ? strfmt(" or %lld", (long long)(ncols * n_expert)).c_str() : "");
}

const float* Imatrix::find(const PlannedTensor& t, int64_t expert) const {
    const int64_t ncols = t.ne[0];
    const int64_t e = t.experts ? expert : -1;
    const int64_t ne = t.experts ? t.ne[2] : 1;
    if (const float* v = lookup(t.name, ncols, e, ne)) return v;
    return lookup(t.hf_expert_name(t.experts ? expert : 0), ncols, -1, 1);
}

void write_imatrix_metadata(gguf::Writer& w, const Imatrix& im) {
    std::string base = im.path();
    if (size_t s = base.rfind('/'); s != std::string::npos) base = base.substr(s + 1);
    w.set_string("quantize.imatrix.file", base);
    w.set_u64("quantize.imatrix.entries_count", im.size());
    if (!im.dataset().empty()) w.set_string("quantize.imatrix.dataset", im.dataset());
    if (im.chunks() > 0) w.set_u64("quantize.imatrix.chunks_count", (uint64_t)im.chunks());
}

// ---------------------------------------------------------------------------------------
// Tokenizer / template metadata
// ---------------------------------------------------------------------------------------
static void write_vocab(gguf::Writer& w, const std::vector<std::string>& tokens, const std::vector<std::string>& merges,
                        const std::vector<int32_t>& types, int32_t bos, int32_t eos) {
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "joyai-llm");
    w.set_array_string("tokenizer.ggml.tokens", tokens);
    w.set_array_i32("tokenizer.ggml.token_type", types);
    w.set_array_string("tokenizer.ggml.merges", merges);
    if (bos >= 0) w.set_u32("tokenizer.ggml.bos_token_id", (uint32_t)bos);
    if (eos >= 0) w.set_u32("tokenizer.ggml.eos_token_id", (uint32_t)eos);
    w.set_bool("tokenizer.ggml.add_bos_token", false);
    w.set_bool("tokenizer.ggml.add_eos_token", false);
}

int64_t write_hf_tokenizer(gguf::Writer& w, const std::string& tokenizer_json, const std::string& tokenizer_config,
                           int64_t n_vocab) {
    HfVocab v = load_hf_tokenizer(tokenizer_json, tokenizer_config, n_vocab);
    if (n_vocab > 0 && (int64_t)v.tokens.size() != n_vocab)
        fail("%s: tokenizer has %zu tokens, the model vocab_size is %lld", tokenizer_json.c_str(), v.tokens.size(), (long long)n_vocab);
    if (v.token_types.size() != v.tokens.size()) fail("%s: token_type count differs from token count", tokenizer_json.c_str());
    write_vocab(w, v.tokens, v.merges, v.token_types, v.bos_id, v.eos_id);
    if (!tokenizer_config.empty()) {
        json::Value cfg = json::parse(read_text_file(tokenizer_config));
        if (const json::Value* ct = cfg.find("chat_template"); ct && ct->is_string())
            w.set_string("tokenizer.chat_template", ct->str);
    }
    return (int64_t)v.tokens.size();
}

void write_builtin_tokenizer(gguf::Writer& w, int64_t n_vocab) {
    static const char* kSpecials[] = {"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>",
                                      "<think>", "</think>", "｜DSML｜"};
    if (n_vocab < 263) fail("the built-in tokenizer needs vocab_size >= 263 (7 specials + 256 bytes), got %lld", (long long)n_vocab);
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    for (const char* s : kSpecials) {
        tokens.push_back(s);
        types.push_back(3);
    }
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        const bool self = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        const uint32_t cp = self ? (uint32_t)b : 256u + (uint32_t)extra++;
        std::string s;
        if (cp < 0x80) s += (char)cp;
        else {
            s += (char)(0xC0 | (cp >> 6));
            s += (char)(0x80 | (cp & 0x3F));
        }
        tokens.push_back(s);
        types.push_back(1);
    }
    while ((int64_t)tokens.size() < n_vocab) {
        tokens.push_back("[PAD" + std::to_string(tokens.size()) + "]");
        types.push_back(5);
    }
    write_vocab(w, tokens, {}, types, 0, 1);
}

void copy_template_metadata(gguf::Writer& w, const gguf::File& tmpl) {
    for (const gguf::KV& kv : tmpl.kvs()) {
        if (kv.key == "general.alignment" || kv.key.rfind("quantize.imatrix.", 0) == 0) continue;
        w.copy_kv(kv);
    }
}

// ---------------------------------------------------------------------------------------
// Plan printing
// ---------------------------------------------------------------------------------------
static std::string dims_str(const std::vector<int64_t>& ne) {
    std::string s = "[";
    for (size_t i = 0; i < ne.size(); i++) s += (i ? ", " : "") + std::to_string(ne[i]);
    return s + "]";
}

void print_plan(FILE* out, const std::vector<PlannedTensor>& plan, const WeightSource* src, uint64_t meta_bytes) {
    uint64_t total = 0, padded = 0;
    int fallbacks = 0;
    for (const auto& t : plan) {
        const uint64_t nb = t.nbytes();
        total += nb;
        padded += (nb + 31) / 32 * 32;
        fprintf(out, "%-40s %-8s %-15s %-22s %12s  %s%s%s\n", t.name.c_str(), type_name((uint32_t)t.type),
                class_name(t.cls), dims_str(t.ne).c_str(), human_bytes((double)nb).c_str(),
                src ? src->describe(t).c_str() : t.hf_name.c_str(), t.note.empty() ? "" : "  NOTE: ", t.note.c_str());
        if (!t.note.empty()) fallbacks++;
    }
    fprintf(out, "n_tensors %zu, tensor bytes %llu (%s), type fallbacks %d\n", plan.size(), (unsigned long long)total,
            human_bytes((double)total).c_str(), fallbacks);
    fprintf(out, "approx file bytes %llu (%s; tensor data padded to 32, plus metadata)\n", (unsigned long long)(padded + meta_bytes),
            human_bytes((double)(padded + meta_bytes)).c_str());
}

// ---------------------------------------------------------------------------------------
// Quantization
// ---------------------------------------------------------------------------------------
namespace {

bool needs_imatrix_input(GgmlType t) { return t == GgmlType::Q4_K || t == GgmlType::Q2_K || t == GgmlType::IQ2_XXS; }

// Runs f(i) for i in [0, n) on up to `threads` threads; rethrows the first exception.
template <class F>
void parallel_for(int64_t n, int threads, F&& f) {
    if (threads <= 1 || n <= 1) {
        for (int64_t i = 0; i < n; i++) f(i);
        return;
    }
    std::atomic<int64_t> next{0};
    std::exception_ptr err;
    std::mutex mu;
    std::vector<std::thread> ts;
    const int nt = (int)std::min<int64_t>(threads, n);
    for (int k = 0; k < nt; k++)
        ts.emplace_back([&] {
            for (;;) {
                const int64_t i = next.fetch_add(1);
                if (i >= n) return;
                try {
                    f(i);
                } catch (...) {
                    std::lock_guard<std::mutex> lk(mu);
                    if (!err) err = std::current_exception();
                    next.store(n);
                    return;
                }
            }
        });
    for (auto& t : ts) t.join();
    if (err) std::rethrow_exception(err);
}

// Quantizes rows x n0 floats into dst (rows * row_size bytes), splitting rows across threads.
void quantize_matrix(GgmlType type, const float* x, int64_t rows, int64_t n0, const float* imat, uint8_t* dst, int threads) {
    const size_t rs = (size_t)row_size(type, n0);
    if (type == GgmlType::F32) {
        memcpy(dst, x, (size_t)rows * n0 * 4);
        return;
    }
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(rows, (rows + threads * 4 - 1) / (threads * 4)));
    const int64_t nchunks = (rows + chunk - 1) / chunk;
    parallel_for(nchunks, threads, [&](int64_t c) {
        const int64_t r0 = c * chunk, nr = std::min(chunk, rows - r0);
        quantize_rows(type, x + r0 * n0, dst + (size_t)r0 * rs, nr, n0, imat);
    });
}

// Column sums of squares (ds4's importance for IQ2_XXS without an imatrix).
std::vector<float> colsum_sq(const float* x, int64_t rows, int64_t n0) {
    std::vector<double> acc((size_t)n0, 0.0);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < n0; c++) acc[c] += (double)x[r * n0 + c] * x[r * n0 + c];
    std::vector<float> v((size_t)n0);
    for (int64_t c = 0; c < n0; c++) v[c] = (float)acc[c];
    return v;
}

struct Progress {
    const WriteOptions& opt;
    uint64_t total = 0, done = 0;
    size_t n = 0;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now(), last = t0;
    bool tty = isatty(2);
    // Mid-tensor update (big expert stacks): at most every 1 s on a terminal, 10 s otherwise.
    void tick(size_t i, const PlannedTensor& t) {
        const auto now = std::chrono::steady_clock::now();
        if (std::chrono::duration<double>(now - last).count() >= (tty ? 1.0 : 10.0)) report(i, t, false);
    }
    void report(size_t i, const PlannedTensor& t, bool final_line) {
        if (!opt.progress) return;
        last = std::chrono::steady_clock::now();
        const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double rate = el > 0 ? done / el : 0;
        const double eta = rate > 0 ? (double)(total - done) / rate : 0;
        fprintf(stderr, "%s%s: [%zu/%zu] %-36s %-7s %s / %s  %s/s  ETA %.0fs%s", tty ? "\r" : "", opt.tool.c_str(), i + 1, n,
                t.name.c_str(), type_name((uint32_t)t.type), human_bytes((double)done).c_str(),
                human_bytes((double)total).c_str(), human_bytes(rate).c_str(), eta, tty ? "\033[K" : "\n");
        if (final_line && tty) fputc('\n', stderr);
        fflush(stderr);
    }
};

}  // namespace

void write_gguf(gguf::Writer& w, const std::string& out_path, const std::vector<PlannedTensor>& plan,
                const WeightSource& src, const WriteOptions& opt) {
    struct stat st;
    if (stat(out_path.c_str(), &st) == 0 && !opt.overwrite)
        fail("%s already exists (pass --overwrite to replace it)", out_path.c_str());
    for (const auto& t : plan) src.check(t);
    for (const auto& t : plan) {
        const size_t idx = w.add_tensor(t.name, t.type, t.ne);
        if (w.tensor_nbytes(idx) != t.nbytes())
            fail("internal: size mismatch for %s (%llu vs %llu)", t.name.c_str(), (unsigned long long)w.tensor_nbytes(idx),
                 (unsigned long long)t.nbytes());
    }
    const std::string tmp = out_path + ".tmp";
    const int threads = std::max(1, opt.threads);
    Progress prog{opt};
    prog.n = plan.size();
    for (const auto& t : plan) prog.total += t.nbytes();
    try {
        w.begin(tmp);
        for (size_t i = 0; i < plan.size(); i++) {
            const PlannedTensor& t = plan[i];
            const int64_t n0 = t.ne[0];
            if (t.cls == TensorClass::Tid2eid) {
                std::vector<int32_t> ids((size_t)t.nelements());
                src.fill_i32(t, ids.data());
                w.write_tensor_data(ids.data(), ids.size() * 4);
                prog.done += t.nbytes();
            } else if (!t.experts) {
                const int64_t rows = t.rows();
                std::vector<uint8_t> q((size_t)t.nbytes());
                if (src.fill_quantized(t, -1, q.data())) {
                    w.write_tensor_data(q.data(), q.size());
                    prog.done += t.nbytes();
                    prog.report(i, t, i + 1 == plan.size());
                    continue;
                }
                std::vector<float> x((size_t)t.nelements());
                src.fill(t, -1, x.data());
                const float* imat = nullptr;
                std::vector<float> cs;
                if (needs_imatrix_input(t.type)) {
                    if (opt.imatrix) imat = opt.imatrix->find(t, -1);
                    if (!imat && quant_requires_imatrix(t.type)) {
                        cs = colsum_sq(x.data(), rows, n0);
                        imat = cs.data();
                    }
                }
                quantize_matrix(t.type, x.data(), rows, n0, imat, q.data(), threads);
                w.write_tensor_data(q.data(), q.size());
                prog.done += t.nbytes();
            } else {
                const int64_t rows = t.ne[1], n_exp = t.ne[2];
                const size_t ebytes = (size_t)row_size(t.type, n0) * (size_t)rows;
                const int64_t batch = std::min<int64_t>(threads, n_exp);
                std::vector<std::vector<float>> xs((size_t)batch, std::vector<float>((size_t)(rows * n0)));
                std::vector<std::vector<uint8_t>> qs((size_t)batch, std::vector<uint8_t>(ebytes));
                for (int64_t e0 = 0; e0 < n_exp; e0 += batch) {
                    const int64_t nb = std::min(batch, n_exp - e0);
                    parallel_for(nb, threads, [&](int64_t k) {
                        const int64_t e = e0 + k;
                        if (src.fill_quantized(t, e, qs[k].data())) return;
                        float* x = xs[k].data();
                        src.fill(t, e, x);
                        const float* imat = nullptr;
                        std::vector<float> cs;
                        if (needs_imatrix_input(t.type)) {
                            if (opt.imatrix) imat = opt.imatrix->find(t, e);
                            if (!imat && quant_requires_imatrix(t.type)) {
                                cs = colsum_sq(x, rows, n0);
                                imat = cs.data();
                            }
                        }
                        quantize_matrix(t.type, x, rows, n0, imat, qs[k].data(), 1);
                    });
                    for (int64_t k = 0; k < nb; k++) w.write_tensor_data(qs[k].data(), ebytes);
                    prog.done += ebytes * nb;
                    if (e0 + nb < n_exp) prog.tick(i, t);
                }
            }
            prog.report(i, t, i + 1 == plan.size());
        }
        w.finish();
    } catch (...) {
        unlink(tmp.c_str());
        throw;
    }
    if (rename(tmp.c_str(), out_path.c_str()) != 0) {
        const int e = errno;
        unlink(tmp.c_str());
        fail("cannot rename %s to %s: %s", tmp.c_str(), out_path.c_str(), strerror(e));
    }
}

}  // namespace ds4::convert
