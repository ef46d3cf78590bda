// A small fork-join thread pool for the CPU backend.
//
// One job at a time: parallel_for(n, fn) splits [0, n) into chunks that the caller and the
// workers claim through an atomic counter, then returns when all are done. Workers spin
// briefly between jobs (decode issues thousands of small jobs per token, and waking a
// sleeping thread costs more than most of those jobs) and then sleep on a condition
// variable so an idle engine burns no CPU. No allocation per job: the callable is passed
// by address through a type-erased trampoline.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace ds4 {

class ThreadPool {
public:
    explicit ThreadPool(int n_threads);  // n_threads <= 0: hardware concurrency
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }

    // Calls fn(begin, end, thread_index) over disjoint ranges covering [0, n), ranges of at
    // most `grain` items. thread_index < size() identifies per-thread scratch.
    template <class F>
    void parallel_for(int64_t n, int64_t grain, F&& fn) {
        if (n <= 0) return;
        if (grain < 1) grain = 1;
        if (n_threads_ == 1 || n <= grain) {
            fn(int64_t(0), n, 0);
            return;
        }
        run(n, grain, [](void* ctx, int64_t b, int64_t e, int t) { (*static_cast<F*>(ctx))(b, e, t); },
            static_cast<void*>(&fn));
    }

    static int default_threads();

    // Profiling (DS4_PROFILE): process-wide counts of dispatched jobs and the time the calling
    // thread spent waiting at the join for workers (imbalance + wake-up + sync). Off by default;
    // when off, run() reads one relaxed flag.
    struct Stats {
        uint64_t jobs = 0;
        double join_wait_s = 0;
    };
    static void enable_stats(bool on);
    static Stats stats();

private:
    using Tramp = void (*)(void*, int64_t, int64_t, int);
    void run(int64_t n, int64_t grain, Tramp tramp, void* ctx);
    void worker(int index);
    void work(int thread_index);

    int n_threads_ = 1;
    std::vector<std::thread> threads_;
    // current job
    Tramp tramp_ = nullptr;
    void* ctx_ = nullptr;
    int64_t n_ = 0, grain_ = 1;
    std::atomic<int64_t> next_{0};
    std::atomic<int> pending_{0};        // workers still inside the current job
    std::atomic<uint64_t> generation_{0};
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::condition_variable cv_;
    std::atomic<int> sleepers_{0};
};

}  // namespace ds4
