#include "megalide/ops/registry.h"

#include <algorithm>
#include <map>

#include "megalide/error.h"

namespace megalide {

namespace ops {

// One register function per family file (src/ops/<family>.cpp); a new family joins here.
void register_activation_ops(std::vector<OpDef> &ops);
void register_conv_ops(std::vector<OpDef> &ops);
void register_elementwise_ops(std::vector<OpDef> &ops);
void register_fused_ops(std::vector<OpDef> &ops);  // after the ops it fuses
void register_linear_ops(std::vector<OpDef> &ops);
void register_norm_ops(std::vector<OpDef> &ops);
void register_pool_ops(std::vector<OpDef> &ops);
void register_quantized_ops(std::vector<OpDef> &ops);
void register_reduce_ops(std::vector<OpDef> &ops);
void register_resize_ops(std::vector<OpDef> &ops);
void register_shape_ops(std::vector<OpDef> &ops);

}  // namespace ops

namespace {

struct Registry {
    std::vector<OpDef> defs;
    std::vector<const OpDef *> sorted;
    std::map<std::pair<std::string, std::string>, const OpDef *> by_name;

    Registry() {
        for (auto family : {ops::register_activation_ops, ops::register_conv_ops, ops::register_elementwise_ops,
                            ops::register_linear_ops, ops::register_norm_ops, ops::register_pool_ops,
                            ops::register_quantized_ops, ops::register_reduce_ops, ops::register_resize_ops,
                            ops::register_shape_ops, ops::register_fused_ops}) {
            family(defs);
        }
        for (const OpDef &d : defs) {
            if (!by_name.emplace(std::make_pair(d.domain, d.name), &d).second) {
                throw InternalError("op registry: " + d.qualified_name() + " is registered twice");
            }
            sorted.push_back(&d);
        }
        std::sort(sorted.begin(), sorted.end(), [](const OpDef *a, const OpDef *b) {
            return std::make_pair(a->domain, a->name) < std::make_pair(b->domain, b->name);
        });
    }
};

const Registry &registry() {
    static const Registry r;
    return r;
}

}  // namespace

const OpDef *find_op(const std::string &domain, const std::string &name) {
    const std::string d = domain == "ai.onnx" ? kOnnxDomain : domain;
    const auto &m = registry().by_name;
    auto it = m.find({d, name});
    return it == m.end() ? nullptr : it->second;
}

const std::vector<const OpDef *> &all_ops() { return registry().sorted; }

}  // namespace megalide
