// Elementwise arithmetic with NumPy broadcasting. NumPy aligns trailing axes; in Halide
// order (innermost first) that means aligning dimension 0 with dimension 0, and a shorter
// operand is padded with extents of 1 at its outer end. Extents must be equal or 1.
// Funcs only, no schedule.
#pragma once

#include <functional>
#include <string>

#include "megalide/tensor.h"

namespace megalide::layers {

/// The broadcast shape of two operands; throws Error naming `layer` and both shapes when
/// they do not broadcast.
Shape broadcast_shapes(const std::string &layer, const Shape &a, const Shape &b);

/// The value of `t` at `coords` of a broadcast result: extent-1 dimensions read index 0 and
/// dimensions the operand lacks are dropped.
Halide::Expr broadcast_access(const Tensor &t, const std::vector<Halide::Expr> &coords);

/// Applies `op` to every element of x: the building block of every pointwise layer.
/// `kind` names the layer in error messages ("relu", "sqrt", ...).
Tensor map_elements(const std::string &kind, const std::string &name, const Tensor &x,
                    const std::function<Halide::Expr(Halide::Expr)> &op);

Tensor add(const std::string &name, const Tensor &a, const Tensor &b);
Tensor sub(const std::string &name, const Tensor &a, const Tensor &b);
Tensor mul(const std::string &name, const Tensor &a, const Tensor &b);
Tensor div(const std::string &name, const Tensor &a, const Tensor &b);
/// a ** b elementwise (float pow; a negative base with an integral exponent is allowed).
Tensor pow(const std::string &name, const Tensor &a, const Tensor &b);

/// condition ? a : b elementwise, the three broadcast together; `condition` is any integer
/// type (a bool stored as uint8), nonzero selecting a. The result has a's type, which b must share.
Tensor where(const std::string &name, const Tensor &condition, const Tensor &a, const Tensor &b);

Tensor sqrt(const std::string &name, const Tensor &x);
Tensor exp(const std::string &name, const Tensor &x);
Tensor erf(const std::string &name, const Tensor &x);

/// y(c, ...) = x(c, ...) + bias(c): bias along the innermost (channel/feature) dimension.
Tensor bias_add(const std::string &name, const Tensor &x, const Tensor &bias);

}  // namespace megalide::layers
