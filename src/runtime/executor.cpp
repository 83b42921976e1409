#include "megalide/runtime/executor.h"

#include <memory>

#include "megalide/lower/lower.h"
#include "megalide/runtime/run.h"
#include "megalide/schedule/strategy.h"
#include "megalide/target/target.h"

namespace megalide {

GraphExecutor::Run HostExecutor::prepare(const Graph &g) const {
    auto lowered = std::make_shared<LoweredGraph>(lower(g));
    const TargetSpec target = host_target_spec(threads_);
    apply(make_schedule("per_op", g, *lowered, target), g, *lowered, target);
    compile_jit(*lowered);
    return [lowered](const std::vector<HostArray> &inputs) { return megalide::run(*lowered, inputs); };
}

}  // namespace megalide
