// The worker pool that runs a compiled model's parallel loops on the model's own thread count.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "megalide/error.h"
#include "megalide/runtime/worker_pool.h"

namespace megalide {
namespace {

// What a loop body sees: counts per index, the threads that ran it, an optional rendezvous.
struct Closure {
    std::vector<std::atomic<int>> runs;
    std::mutex mutex;
    std::set<std::thread::id> threads;
    std::atomic<int> started{0};
    int rendezvous = 0;  // > 0: each task waits (up to 10 s) until this many have started
    int fail_at = -1;    // this index returns status 7
    WorkerPool *nested_pool = nullptr;
    explicit Closure(int n) : runs(static_cast<size_t>(n)) {}
};

int body(Halide::JITUserContext *, int i, uint8_t *c) {
    Closure &closure = *reinterpret_cast<Closure *>(c);
    closure.runs[static_cast<size_t>(i)]++;
    {
        const std::lock_guard<std::mutex> lock(closure.mutex);
        closure.threads.insert(std::this_thread::get_id());
    }
    closure.started++;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (closure.started < closure.rendezvous && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    return i == closure.fail_at ? 7 : 0;
}

TEST(WorkerPool, RunsEveryIndexOnceOnAtMostItsThreads) {
    WorkerPool pool(3);
    EXPECT_EQ(pool.threads(), 3);
    Closure c(1000);
    ASSERT_EQ(pool.parallel_for(nullptr, body, 0, 1000, reinterpret_cast<uint8_t *>(&c)), 0);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(c.runs[static_cast<size_t>(i)], 1) << "index " << i;
    EXPECT_LE(c.threads.size(), 3u);
    // An offset range: indices [min, min + extent) only.
    Closure d(20);
    ASSERT_EQ(pool.parallel_for(nullptr, body, 5, 10, reinterpret_cast<uint8_t *>(&d)), 0);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(d.runs[static_cast<size_t>(i)], i >= 5 && i < 15 ? 1 : 0) << "index " << i;
}

TEST(WorkerPool, RunsTasksConcurrentlyOnItsThreads) {
    // Three tasks that each wait for all three to start can only finish on three threads at
    // once: the caller and both workers.
    WorkerPool pool(3);
    Closure c(3);
    c.rendezvous = 3;
    ASSERT_EQ(pool.parallel_for(nullptr, body, 0, 3, reinterpret_cast<uint8_t *>(&c)), 0);
    EXPECT_EQ(c.started, 3);
    EXPECT_EQ(c.threads.size(), 3u);
}

TEST(WorkerPool, OneThreadRunsOnTheCaller) {
    WorkerPool pool(1);
    Closure c(50);
    ASSERT_EQ(pool.parallel_for(nullptr, body, 0, 50, reinterpret_cast<uint8_t *>(&c)), 0);
    ASSERT_EQ(c.threads.size(), 1u);
    EXPECT_EQ(*c.threads.begin(), std::this_thread::get_id());
}

TEST(WorkerPool, ReturnsAFailingTasksStatus) {
    WorkerPool pool(2);
    Closure c(40);
    c.fail_at = 17;
    EXPECT_EQ(pool.parallel_for(nullptr, body, 0, 40, reinterpret_cast<uint8_t *>(&c)), 7);
}

int outer(Halide::JITUserContext *, int i, uint8_t *c) {
    Closure &closure = *reinterpret_cast<Closure *>(c);
    Closure inner(8);
    const int status = closure.nested_pool->parallel_for(nullptr, body, 0, 8, reinterpret_cast<uint8_t *>(&inner));
    for (int j = 0; j < 8; ++j) {
        if (inner.runs[static_cast<size_t>(j)] != 1) return 100 + j;
    }
    closure.runs[static_cast<size_t>(i)]++;
    return status;
}

TEST(WorkerPool, NestedLoopsAndConcurrentCallersFinish) {
    WorkerPool pool(2);
    std::vector<std::thread> callers;
    std::atomic<int> failures{0};
    for (int t = 0; t < 3; ++t) {
        callers.emplace_back([&] {
            for (int round = 0; round < 20; ++round) {
                Closure c(16);
                c.nested_pool = &pool;
                if (pool.parallel_for(nullptr, outer, 0, 16, reinterpret_cast<uint8_t *>(&c)) != 0) failures++;
                for (int i = 0; i < 16; ++i) failures += c.runs[static_cast<size_t>(i)] != 1;
            }
        });
    }
    for (std::thread &t : callers) t.join();
    EXPECT_EQ(failures, 0);
}

TEST(WorkerPool, RefusesFewerThanOneThread) {
    try {
        WorkerPool pool(0);
        FAIL() << "a pool of 0 threads was made";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("at least 1 thread, got 0"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace megalide
