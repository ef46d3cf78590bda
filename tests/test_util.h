// Helpers for integration tests that run the built tools as a user would.
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
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

}  // namespace ds4::test
