// A thread pool of its own for the parallel loops of JIT-compiled pipelines. Halide's JIT has
// one worker pool per process, sized by HL_NUM_THREADS or halide_set_num_threads(): two models
// compiled for 1 and 4 threads and run at the same time from two threads of one process would
// share (and resize) it. A WorkerPool belongs to whoever runs a model (a Python `Compiled`, a
// graph executor), so each runs its parallel loops on exactly its own thread count.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace Halide {
struct JITUserContext;
}

namespace megalide {

class WorkerPool {
public:
    /// A parallel loop body as Halide's generated code passes it to halide_do_par_for.
    using Task = int (*)(Halide::JITUserContext *, int, uint8_t *);

    /// `threads` >= 1 runs each loop on at most that many threads: the caller and
    /// threads - 1 workers (started here, stopped by the destructor). Throws Error if < 1.
    explicit WorkerPool(int threads);
    ~WorkerPool();
    WorkerPool(const WorkerPool &) = delete;
    WorkerPool &operator=(const WorkerPool &) = delete;

    int threads() const { return static_cast<int>(workers_.size()) + 1; }

    /// Runs task(context, i, closure) for i in [min, min + extent), the calling thread
    /// included, and returns when all have returned: 0, or the non-zero status of one that
    /// failed. Safe to call from several threads at once and from inside a task (a nested loop
    /// is queued beside the outer one; its caller works on it, so it never waits on itself).
    int parallel_for(Halide::JITUserContext *context, Task task, int min, int extent, uint8_t *closure);

private:
    struct Loop;
    void work();
    static void run_indices(Loop &loop);
    void dequeue(Loop &loop);  // with mutex_ held: off the queue if still on it

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_;      // a loop was queued, or the pool stops
    std::condition_variable finished_;  // a worker left a loop
    std::deque<Loop *> queue_;          // loops with indices nobody has claimed yet
    std::atomic<int> queued_{0};        // queue_.size(), read without the lock by spinning workers
    bool stopping_ = false;
};

}  // namespace megalide
