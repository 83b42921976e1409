#include "megalide/runtime/worker_pool.h"

#include <algorithm>
#include <string>

#include "megalide/error.h"

namespace megalide {

// One parallel loop. It lives on its caller's stack: the caller returns only once the loop is
// off the queue and no worker is inside it (`active` is 0), so no worker touches it after.
struct WorkerPool::Loop {
    Halide::JITUserContext *context;
    Task task;
    uint8_t *closure;
    int end;
    std::atomic<int> next;
    std::atomic<int> status{0};
    std::atomic<int> active{0};  // workers inside the loop; changed with the pool's mutex held
};

namespace {

// How long an idle worker polls for the next loop before it sleeps. A model's parallel loops
// follow each other within microseconds; waking a sleeping thread costs tens of them on a VM.
constexpr int kSpinPolls = 4000;

}  // namespace

WorkerPool::WorkerPool(int threads) {
    if (threads < 1) throw Error("a worker pool needs at least 1 thread, got " + std::to_string(threads));
    workers_.reserve(static_cast<size_t>(threads - 1));
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
}

WorkerPool::~WorkerPool() {
    {
        const std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread &t : workers_) t.join();
}

void WorkerPool::run_indices(Loop &loop) {
    for (int i = loop.next.fetch_add(1, std::memory_order_relaxed); i < loop.end;
         i = loop.next.fetch_add(1, std::memory_order_relaxed)) {
        const int status = loop.task(loop.context, i, loop.closure);
        if (status != 0) {
            int none = 0;
            loop.status.compare_exchange_strong(none, status);
        }
    }
}

void WorkerPool::dequeue(Loop &loop) {
    if (const auto it = std::find(queue_.begin(), queue_.end(), &loop); it != queue_.end()) {
        queue_.erase(it);
        queued_.store(static_cast<int>(queue_.size()), std::memory_order_release);
    }
}

int WorkerPool::parallel_for(Halide::JITUserContext *context, Task task, int min, int extent, uint8_t *closure) {
    if (workers_.empty() || extent <= 1) {
        for (int i = min; i < min + extent; ++i) {
            if (const int status = task(context, i, closure)) return status;
        }
        return 0;
    }
    Loop loop{context, task, closure, min + extent, {min}};
    {
        const std::lock_guard<std::mutex> lock(mutex_);
        queue_.push_back(&loop);
        queued_.store(static_cast<int>(queue_.size()), std::memory_order_release);
    }
    wake_.notify_all();
    run_indices(loop);
    std::unique_lock<std::mutex> lock(mutex_);
    dequeue(loop);
    lock.unlock();
    // The workers still inside finish their last index soon: poll before sleeping.
    for (int poll = 0; poll < kSpinPolls && loop.active.load(std::memory_order_acquire) != 0; ++poll) {
        std::this_thread::yield();
    }
    lock.lock();
    finished_.wait(lock, [&] { return loop.active.load() == 0; });
    return loop.status.load();
}

void WorkerPool::work() {
    for (;;) {
        for (int poll = 0; poll < kSpinPolls && queued_.load(std::memory_order_acquire) == 0; ++poll) {
            std::this_thread::yield();
        }
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        Loop &loop = *queue_.front();
        ++loop.active;
        lock.unlock();
        run_indices(loop);
        lock.lock();
        // Every index is claimed now: nobody else should enter the loop.
        dequeue(loop);
        const bool last = loop.active.fetch_sub(1, std::memory_order_acq_rel) == 1;
        lock.unlock();
        if (last) finished_.notify_all();
    }
}

}  // namespace megalide
