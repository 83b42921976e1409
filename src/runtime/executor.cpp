#include "megalide/runtime/executor.h"

#include <memory>

#include "megalide/lower/lower.h"
#include "megalide/runtime/run.h"
#include "megalide/runtime/worker_pool.h"
#include "megalide/schedule/strategy.h"
#include "megalide/target/target.h"

namespace megalide {

GraphExecutor::Run HostExecutor::prepare(const Graph &g) const {
    auto lowered = std::make_shared<LoweredGraph>(lower(g));
    const TargetSpec target = host_target_spec(threads_);
    apply(make_schedule("per_op", g, *lowered, target), g, *lowered, target);
    compile_jit(*lowered);
    auto pool = std::make_shared<WorkerPool>(threads_);
    return [lowered, pool](const std::vector<HostArray> &inputs) { return megalide::run(*lowered, inputs, pool.get()); };
}

}  // namespace megalide
