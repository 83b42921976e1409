#include "megalide/layers/elementwise.h"

#include <algorithm>
#include <functional>

#include "checks.h"

namespace megalide::layers {

using namespace detail;
using Halide::Expr;
using Halide::Func;
using Halide::Var;

Shape broadcast_shapes(const std::string &label, const Shape &a, const Shape &b) {
    Shape out(std::max(a.size(), b.size()), 1);
    for (size_t d = 0; d < out.size(); ++d) {
        const int ea = d < a.size() ? a[d] : 1;
        const int eb = d < b.size() ? b[d] : 1;
        if (ea != eb && ea != 1 && eb != 1) {
            fail(label, "shapes " + to_string(a) + " and " + to_string(b) +
                            " do not broadcast (dimension " + std::to_string(d) + ": " +
                            std::to_string(ea) + " vs " + std::to_string(eb) +
                            "; shapes are innermost first)");
        }
        out[d] = std::max(ea, eb);
    }
    return out;
}

Expr broadcast_access(const Tensor &t, const std::vector<Expr> &coords) {
    std::vector<Expr> own;
    for (int d = 0; d < t.rank(); ++d) own.push_back(t.dim(d) == 1 ? Expr(0) : coords[static_cast<size_t>(d)]);
    return t.func(own);
}

namespace {

Tensor binary(const std::string &kind, const std::string &name, const Tensor &a,
              const Tensor &b, const std::function<Expr(Expr, Expr)> &op) {
    const std::string label = layer_label(kind, name);
    require_valid_shape(label, "A", a);
    require_valid_shape(label, "B", b);
    const Shape shape = broadcast_shapes(label, a.shape, b.shape);
    std::vector<Var> vars = make_vars(static_cast<int>(shape.size()));
    const std::vector<Expr> coords = as_exprs(vars);
    Func out(name);
    out(vars) = op(broadcast_access(a, coords), broadcast_access(b, coords));
    return {out, shape};
}

}  // namespace

Tensor map_elements(const std::string &kind, const std::string &name, const Tensor &x,
                    const std::function<Expr(Expr)> &op) {
    require_valid_shape(layer_label(kind, name), "input", x);
    std::vector<Var> vars = make_vars(x.rank());
    Func out(name);
    out(vars) = op(x(as_exprs(vars)));
    return {out, x.shape};
}

Tensor add(const std::string &name, const Tensor &a, const Tensor &b) {
    return binary("add", name, a, b, [](Expr p, Expr q) { return p + q; });
}
Tensor sub(const std::string &name, const Tensor &a, const Tensor &b) {
    return binary("sub", name, a, b, [](Expr p, Expr q) { return p - q; });
}
Tensor mul(const std::string &name, const Tensor &a, const Tensor &b) {
    return binary("mul", name, a, b, [](Expr p, Expr q) { return p * q; });
}
Tensor div(const std::string &name, const Tensor &a, const Tensor &b) {
    return binary("div", name, a, b, [](Expr p, Expr q) { return p / q; });
}
Tensor pow(const std::string &name, const Tensor &a, const Tensor &b) {
    return binary("pow", name, a, b, [](Expr p, Expr q) { return Halide::pow(p, q); });
}

Tensor where(const std::string &name, const Tensor &condition, const Tensor &a, const Tensor &b) {
    const std::string label = layer_label("where", name);
    require_valid_shape(label, "condition", condition);
    require_valid_shape(label, "A", a);
    require_valid_shape(label, "B", b);
    require(a.type == b.type, label, "A and B must have the same element type");
    const Shape shape = broadcast_shapes(label, broadcast_shapes(label, condition.shape, a.shape), b.shape);
    std::vector<Var> vars = make_vars(static_cast<int>(shape.size()));
    const std::vector<Expr> coords = as_exprs(vars);
    Expr c = broadcast_access(condition, coords);
    Func out(name);
    out(vars) = Halide::select(c != Halide::cast(c.type(), 0), broadcast_access(a, coords), broadcast_access(b, coords));
    return {out, shape, a.type};
}

Tensor sqrt(const std::string &name, const Tensor &x) {
    return map_elements("sqrt", name, x, [](Expr v) { return Halide::sqrt(v); });
}
Tensor exp(const std::string &name, const Tensor &x) {
    return map_elements("exp", name, x, [](Expr v) { return Halide::exp(v); });
}
Tensor erf(const std::string &name, const Tensor &x) {
    return map_elements("erf", name, x, [](Expr v) { return Halide::erf(v); });
}

Tensor bias_add(const std::string &name, const Tensor &x, const Tensor &bias) {
    const std::string label = layer_label("bias_add", name);
    require(x.rank() >= 1, label, "input must have rank >= 1");
    require_shape(label, "bias", bias, {x.dim(0)});
    std::vector<Var> vars = make_vars(x.rank());
    Func out(name);
    out(vars) = x(as_exprs(vars)) + bias({vars[0]});
    return {out, x.shape};
}

}  // namespace megalide::layers
