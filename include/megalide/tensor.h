// Tensor: a Halide Func together with its static shape and element type.
//
// Layout convention (DESIGN.md): dimensions are listed innermost first, as Halide does.
//   activations            (c, x, y, n)  channels innermost, so vectors run over channels
//   sequences              (d, t, n)     features innermost
//   matrices               (col, row)    a row-major M x K matrix has shape {K, M}
// A dense buffer with Halide shape {d0, d1, ..., dk} has the memory of a C-order (NumPy)
// array of shape (dk, ..., d1, d0); reversing the shape converts between the two views.
//
// Func names: every layer takes a `name` and names its Funcs `name` and `name_<stage>`.
// Names must be unique within a pipeline, and an output Func must not be named like a C
// library symbol ("tanh", "exp", ...): JIT and AOT code refer to outputs as `<name>.buffer`
// and the linker resolves the bare name first. The graph lowering derives safe names.
#pragma once

#include <string>
#include <vector>

#include "Halide.h"

namespace megalide {

/// Extents, innermost first. Every extent is >= 1.
using Shape = std::vector<int>;

/// "[3, 5, 7]" (innermost first, as stored).
std::string to_string(const Shape &shape);

/// Number of elements of a shape (1 for rank 0).
long long element_count(const Shape &shape);

struct Tensor {
    Halide::Func func;
    Shape shape;
    Halide::Type type = Halide::Float(32);

    int rank() const { return static_cast<int>(shape.size()); }
    int dim(int i) const { return shape.at(static_cast<size_t>(i)); }
    const std::string &name() const { return func.name(); }

    /// The value at the given coordinates (one Expr per dimension, innermost first).
    Halide::Expr operator()(const std::vector<Halide::Expr> &coords) const;
};

/// Wraps a buffer (for example an input or a weight) as a Tensor named `name`.
/// The buffer's mins must be zero; its extents become the shape, or `shape` where given (a
/// constant_buffer() padded beyond it).
Tensor tensor_from_buffer(const std::string &name, const Halide::Buffer<> &buffer);
Tensor tensor_from_buffer(const std::string &name, const Halide::Buffer<> &buffer, const Shape &shape);

/// Storage for a constant the pipeline embeds: a dense, zeroed buffer of `type` with
/// `extents` (innermost first), at least 64 bytes. Halide 21 embeds a constant buffer that a
/// pipeline does not take as an argument into its code, aligned to 32 bytes when it holds 32
/// bytes or fewer (CodeGen_LLVM's binary blobs), while its vector loads may assume the native
/// vector alignment: AVX-512 `vmovaps` from a 28-byte constant faulted. A smaller constant's
/// outermost dimension is padded with zeros; readers index only within `extents`.
Halide::Buffer<> constant_buffer(Halide::Type type, const std::vector<int> &extents);

/// Wraps an ImageParam of the given static shape as a Tensor named after the parameter.
Tensor tensor_from_param(const Halide::ImageParam &param, const Shape &shape);

/// Fresh pure Vars named "<prefix>0", "<prefix>1", ...; layers use them for their outputs.
std::vector<Halide::Var> make_vars(int rank, const std::string &prefix = "d");

/// Converts Vars to Exprs for indexing.
std::vector<Halide::Expr> as_exprs(const std::vector<Halide::Var> &vars);

}  // namespace megalide
