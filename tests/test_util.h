// Helpers for integration tests that run the built tools as a user would.
#pragma once
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "test_paths.h"

namespace ds4::test {

struct RunResult {
    int code = -1;  // exit status; 128+N when killed by signal N
    std::string out, err;
};

inline std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Runs `cmd` through /bin/sh from the repo root, feeding `input` on stdin; captures both streams.
inline RunResult run(const std::string& cmd, const std::string& input = "") {
    static int counter = 0;
    std::string base = tmp_dir() + "/run" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    std::ofstream(base + ".in", std::ios::binary) << input;
    std::string full = "(" + cmd + ") <" + base + ".in >" + base + ".out 2>" + base + ".err";
    int st = system(full.c_str());
    RunResult r;
    if (WIFEXITED(st)) r.code = WEXITSTATUS(st);
    else if (WIFSIGNALED(st)) r.code = 128 + WTERMSIG(st);
    r.out = slurp(base + ".out");
    r.err = slurp(base + ".err");
    std::remove((base + ".in").c_str());
    std::remove((base + ".out").c_str());
    std::remove((base + ".err").c_str());
    return r;
}

// The real DeepSeek V4 tokenizer cut to the tiny vocab (oracle checkpoints).
inline std::string tiny_tokenizer_json() { return shared_dir() + "/vectors/oracle/public/hf_topk6/tokenizer.json"; }

// A tiny random-weight model made once per test run with make-synthetic.
inline std::string tiny_model() {
    static std::string path;
    if (!path.empty()) return path;
    std::string p = tmp_dir() + "/tiny-synthetic.gguf";
    std::string cmd = "gguf-tools/make-synthetic --preset tiny --overwrite --out " + p;
    if (path_exists(tiny_tokenizer_json())) cmd += " --tokenizer " + tiny_tokenizer_json();
    RunResult r = run(cmd);
    if (r.code != 0) return "";
    path = p;
    return path;
}

inline std::string oracle_dir(const std::string& set) { return shared_dir() + "/vectors/oracle/" + set; }

// deepseek4-quantize type policy that keeps every weight exact (f32).
inline const char* kF32Policy =
    "--experts f32 --attention-proj f32 --shared f32 --output f32 --embedding f32 --attention f32 --dense f32";

inline time_t mtime(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0 ? st.st_mtime : 0;
}

// Converts an oracle checkpoint (vectors/oracle/<set>/hf_<variant>) with the given policy into
// build/test-tmp/oracle_<set>_<variant>_<tag>.gguf, with the real tool. Skipped when that file is
// newer than the tool and the checkpoint (the q2 conversion alone takes seconds).
inline std::string convert_oracle(const std::string& set, const std::string& variant, const std::string& tag,
                                  const std::string& policy) {
    const std::string hf = oracle_dir(set) + "/hf_" + variant;
    const std::string out = tmp_dir() + "/oracle_" + set + "_" + variant + "_" + tag + ".gguf";
    const std::string tool = "gguf-tools/deepseek4-quantize";
    if (!path_exists(tool)) throw std::runtime_error("missing " + tool + " (make " + tool + ")");
    const time_t t = mtime(out);
    if (t && t >= mtime(tool) && t >= mtime(hf + "/model.safetensors") && t >= mtime(hf + "/config.json")) return out;
    const RunResult r = run(tool + " --hf " + hf + " --out " + out + " " + policy + " --overwrite --quiet");
    if (r.code != 0) throw std::runtime_error("conversion failed (" + tag + "): " + r.err);
    return out;
}

}  // namespace ds4::test
