#include "eval/code_exec.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "util/error.h"

extern char** environ;

namespace ds4::eval {

namespace {

struct Block {
    std::string lang, code;
};

std::vector<Block> fenced_blocks(std::string_view s) {
    std::vector<Block> out;
    size_t i = 0;
    while ((i = s.find("```", i)) != std::string_view::npos) {
        size_t nl = s.find('\n', i + 3);
        if (nl == std::string_view::npos) break;
        Block b;
        b.lang = std::string(s.substr(i + 3, nl - i - 3));
        while (!b.lang.empty() && isspace((unsigned char)b.lang.back())) b.lang.pop_back();
        size_t end = s.find("```", nl + 1);
        // An unterminated block (truncated reply) still counts up to the end of the text.
        b.code = std::string(s.substr(nl + 1, end == std::string_view::npos ? std::string_view::npos : end - nl - 1));
        out.push_back(std::move(b));
        if (end == std::string_view::npos) break;
        i = end + 3;
    }
    return out;
}

bool defines(std::string_view code, std::string_view entry_point) {
    return code.find("def " + std::string(entry_point) + "(") != std::string_view::npos;
}

std::string find_python() {
    const char* path = getenv("PATH");
    std::stringstream ss(path ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(ss, dir, ':')) {
        std::string p = (dir.empty() ? "." : dir) + "/python3";
        if (access(p.c_str(), X_OK) == 0) return p;
    }
    fail("python3 not found in PATH (needed by the code grader)");
}

bool is_proxy_var(const char* kv) {
    static const char* names[] = {"http_proxy=", "https_proxy=", "ftp_proxy=", "all_proxy=", "no_proxy="};
    for (const char* n : names)
        if (strncasecmp(kv, n, strlen(n)) == 0) return true;
    return false;
}

std::string tail(const std::string& path, size_t max_bytes) {
    std::ifstream f(path, std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

}  // namespace

std::string extract_code(std::string_view vis, std::string_view entry_point) {
    std::vector<Block> blocks = fenced_blocks(vis);
    const Block* pick = nullptr;
    for (const Block& b : blocks) {
        bool py = b.lang.empty() || b.lang == "python" || b.lang == "py" || b.lang == "python3";
        if (py && (!pick || defines(b.code, entry_point) || !defines(pick->code, entry_point))) pick = &b;
    }
    if (pick) return pick->code;
    if (!blocks.empty()) return blocks.back().code;
    size_t a = vis.find_first_not_of(" \t\r\n");
    return a == std::string_view::npos ? std::string() : std::string(vis);
}

std::string build_program(std::string_view prompt, std::string_view completion, std::string_view test,
                          std::string_view entry_point) {
    std::string p(prompt);
    if (defines(completion, entry_point) && !p.empty() && p.back() != '\n') p += '\n';
    p += completion;
    p += "\n\n";
    p += test;
    p += "\n\ncheck(" + std::string(entry_point) + ")\n";
    return p;
}

CodeResult run_python(const std::string& program, double timeout_s) {
    namespace fs = std::filesystem;
    const std::string python = find_python();
    std::string tmpl = (fs::temp_directory_path() / "ds4-eval-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) fail("code grader: cannot create a temp dir: %s", strerror(errno));
    const std::string dir = tmpl, prog = dir + "/prog.py", out_path = dir + "/out.txt";
    {
        std::ofstream f(prog, std::ios::binary);
        f << program;
    }
    // Everything the child needs is prepared before fork: after fork only syscalls run.
    std::vector<std::string> env_s;
    for (char** e = environ; *e; e++)
        if (!is_proxy_var(*e)) env_s.emplace_back(*e);
    env_s.emplace_back("PYTHONDONTWRITEBYTECODE=1");
    std::vector<char*> envp;
    for (std::string& s : env_s) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string a0 = python, a1 = "prog.py";
    char* argv[] = {a0.data(), a1.data(), nullptr};
    int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int null_fd = open("/dev/null", O_RDONLY);
    int pipefd[2];
    if (out_fd < 0 || null_fd < 0 || pipe2(pipefd, O_CLOEXEC) != 0) fail("code grader: %s", strerror(errno));

    pid_t pid = fork();
    if (pid < 0) fail("code grader: fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        // Root can take a network namespace directly; others need a user namespace too.
        char net = unshare(CLONE_NEWNET) == 0 || unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0;
        if (write(pipefd[1], &net, 1) < 0) _exit(126);
        dup2(null_fd, 0);
        dup2(out_fd, 1);
        dup2(out_fd, 2);
        if (chdir(dir.c_str()) != 0) _exit(126);
        const rlim_t gib = 1ull << 30;
        struct rlimit as = {4 * gib, 4 * gib}, fsz = {64u << 20, 64u << 20};
        setrlimit(RLIMIT_AS, &as);
        setrlimit(RLIMIT_FSIZE, &fsz);
        execve(argv[0], argv, envp.data());
        _exit(127);
    }
    setpgid(pid, pid);  // also from the parent: no race with the kill below
    close(pipefd[1]);
    close(out_fd);
    close(null_fd);
    CodeResult r;
    char net = 0;
    if (read(pipefd[0], &net, 1) == 1) r.no_network = net != 0;
    close(pipefd[0]);

    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) break;
        if (std::chrono::steady_clock::now() >= deadline) {
            r.timed_out = true;
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill(-pid, SIGKILL);  // stray grandchildren of the test program
    if (!r.timed_out) {
        r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? -WTERMSIG(status) : -1;
        r.passed = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    r.output_tail = tail(out_path, 1500);
    std::error_code ec;
    fs::remove_all(dir, ec);
    return r;
}

}  // namespace ds4::eval
