#pragma once
// The project's own thread pool: persistent workers that spin briefly between jobs, because decode runs
// hundreds of short parallel sections per token and a futex wake-up per section would cost more than the
// work. One job at a time (callers are serialised); nested run() from inside a job runs inline.
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rz {

// Physical cores (not SMT siblings) available to this process; at least 1.
int physical_core_count();

class ThreadPool {
public:
    // n_threads counts the calling thread: ThreadPool(1) runs everything inline. 0 = physical_core_count().
    explicit ThreadPool(int n_threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int n_threads() const { return n_threads_; }

    // Calls fn(ith, nth) once on each of nth threads (the caller is ith 0) and returns when all are done.
    void run(const std::function<void(int ith, int nth)>& fn);

    // Splits [0, n) into contiguous chunks of at least min_chunk and calls fn(begin, end) on them in parallel.
    void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn, int64_t min_chunk = 1);

private:
    void worker_loop(int ith);

    int n_threads_;
    std::vector<std::thread> workers_;
    std::mutex run_mutex_;
    const std::function<void(int, int)>* job_ = nullptr;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
};

}  // namespace rz
