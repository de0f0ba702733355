#include "realizar/core/thread_pool.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RZ_CPU_RELAX() _mm_pause()
#else
#define RZ_CPU_RELAX() ((void)0)
#endif

namespace rz {
namespace {

thread_local bool tl_in_pool_job = false;

// Roughly 50-100 us of spinning before sleeping: long enough to bridge the gap between the matmuls of
// one decode step, short enough not to burn a core while the server is idle.
constexpr int kSpinIterations = 20000;

}  // namespace

int physical_core_count() {
    // Count distinct (physical id, core id) pairs among the CPUs this process may run on.
    cpu_set_t set;
    CPU_ZERO(&set);
    int allowed = 0;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) allowed = CPU_COUNT(&set);
    std::set<std::pair<std::string, std::string>> cores;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (allowed > 0 && !CPU_ISSET(cpu, &set)) continue;
        const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
        std::ifstream pkg(base + "physical_package_id"), core(base + "core_id");
        if (!pkg || !core) continue;
        std::string p, c;
        pkg >> p;
        core >> c;
        cores.emplace(p, c);
    }
    int n = static_cast<int>(cores.size());
    if (n <= 0) n = allowed > 0 ? allowed : static_cast<int>(std::thread::hardware_concurrency());
    return std::max(1, n);
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads > 0 ? n_threads : physical_core_count()) {
    workers_.reserve(static_cast<size_t>(n_threads_ - 1));
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int ith) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen = generation_.load(std::memory_order_acquire);
        for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
            RZ_CPU_RELAX();
            gen = generation_.load(std::memory_order_acquire);
        }
        while (gen == seen) {
            generation_.wait(seen, std::memory_order_acquire);
            gen = generation_.load(std::memory_order_acquire);
        }
        seen = gen;
        if (stop_.load(std::memory_order_acquire)) return;
        tl_in_pool_job = true;
        (*job_)(ith, n_threads_);
        tl_in_pool_job = false;
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
    }
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
    if (n_threads_ == 1 || tl_in_pool_job) {
        // Nested use (a job that itself calls into the pool) runs single-threaded instead of deadlocking.
        fn(0, 1);
        return;
    }
    std::lock_guard<std::mutex> lock(run_mutex_);
    job_ = &fn;
    pending_.store(n_threads_ - 1, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    tl_in_pool_job = true;
    fn(0, n_threads_);
    tl_in_pool_job = false;
    // Spin briefly (the common case: workers finish within microseconds of us), then sleep on the counter.
    // Spinning without bound is disastrous when the machine is oversubscribed (a descheduled worker would
    // make us burn our whole time slice, step after step).
    int left = pending_.load(std::memory_order_acquire);
    for (int spin = 0; left != 0 && spin < kSpinIterations; ++spin) {
        RZ_CPU_RELAX();
        left = pending_.load(std::memory_order_acquire);
    }
    while (left != 0) {
        pending_.wait(left, std::memory_order_acquire);
        left = pending_.load(std::memory_order_acquire);
    }
    job_ = nullptr;
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t min_chunk) {
    if (n <= 0) return;
    min_chunk = std::max<int64_t>(1, min_chunk);
    const int64_t max_parts = (n + min_chunk - 1) / min_chunk;
    if (n_threads_ == 1 || max_parts <= 1 || tl_in_pool_job) {
        fn(0, n);
        return;
    }
    run([&](int ith, int nth) {
        const int64_t parts = std::min<int64_t>(nth, max_parts);
        if (ith >= parts) return;
        const int64_t begin = n * ith / parts;
        const int64_t end = n * (ith + 1) / parts;
        if (begin < end) fn(begin, end);
    });
}

}  // namespace rz
