#include "backend/thread_pool.h"

#include <chrono>

namespace ds4 {

namespace {
std::atomic<bool> g_stats{false};
std::atomic<uint64_t> g_jobs{0}, g_wait_ns{0};
}  // namespace

void ThreadPool::enable_stats(bool on) { g_stats.store(on, std::memory_order_relaxed); }
ThreadPool::Stats ThreadPool::stats() {
    return {g_jobs.load(std::memory_order_relaxed), double(g_wait_ns.load(std::memory_order_relaxed)) * 1e-9};
}

int ThreadPool::default_threads() {
    unsigned n = std::thread::hardware_concurrency();
    return n ? int(n) : 1;
}

ThreadPool::ThreadPool(int n_threads) {
    n_threads_ = n_threads > 0 ? n_threads : default_threads();
    for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stop_.store(true);
        generation_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
}

void ThreadPool::work(int thread_index) {
    for (;;) {
        const int64_t b = next_.fetch_add(grain_, std::memory_order_relaxed);
        if (b >= n_) break;
        const int64_t e = b + grain_ < n_ ? b + grain_ : n_;
        tramp_(ctx_, b, e, thread_index);
    }
}

void ThreadPool::run(int64_t n, int64_t grain, Tramp tramp, void* ctx) {
    tramp_ = tramp;
    ctx_ = ctx;
    n_ = n;
    grain_ = grain;
    next_.store(0, std::memory_order_relaxed);
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    {
        // The lock orders the job fields before the generation bump for sleeping workers;
        // spinning workers see them through the release/acquire pair on generation_.
        std::lock_guard<std::mutex> lk(mu_);
        generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleepers_.load(std::memory_order_relaxed) > 0) cv_.notify_all();
    work(0);
    if (!g_stats.load(std::memory_order_relaxed)) {
        while (pending_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
        return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    while (pending_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    g_jobs.fetch_add(1, std::memory_order_relaxed);
    g_wait_ns.fetch_add(uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now() - t0).count()),
                        std::memory_order_relaxed);
}

void ThreadPool::worker(int index) {
    uint64_t seen = 0;
    for (;;) {
        // Spin for a short while: back-to-back jobs are the common case during a forward pass.
        auto t0 = std::chrono::steady_clock::now();
        uint64_t g;
        int spins = 0;
        while ((g = generation_.load(std::memory_order_acquire)) == seen) {
            if (++spins % 256 == 0) {
                if (std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(2000)) break;
                std::this_thread::yield();
            }
        }
        if (g == seen) {
            std::unique_lock<std::mutex> lk(mu_);
            sleepers_.fetch_add(1);
            cv_.wait(lk, [&] { return generation_.load() != seen; });
            sleepers_.fetch_sub(1);
            g = generation_.load(std::memory_order_acquire);
        }
        seen = g;
        if (stop_.load()) return;
        work(index);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

}  // namespace ds4
