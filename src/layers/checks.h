// Shape checks shared by the layer implementations; every failure throws megalide::Error
// with a message that starts with the layer kind and name.
#pragma once

#include <string>

#include "megalide/error.h"
#include "megalide/stage_role.h"
#include "megalide/tensor.h"

namespace megalide::layers::detail {

/// "conv2d 'block1_expand'": how messages name a layer.
inline std::string layer_label(const std::string &kind, const std::string &name) {
    return kind + " '" + name + "'";
}

[[noreturn]] inline void fail(const std::string &label, const std::string &what) {
    throw Error(label + ": " + what);
}

inline std::string describe(const std::string &role, const Tensor &t) {
    return role + " " + to_string(t.shape);
}

inline void require(bool condition, const std::string &label, const std::string &what) {
    if (!condition) fail(label, what);
}

inline void require_rank(const std::string &label, const std::string &role, const Tensor &t,
                         int rank) {
    if (t.rank() != rank) {
        fail(label, role + " must have rank " + std::to_string(rank) + ", got shape " +
                        to_string(t.shape));
    }
}

inline void require_shape(const std::string &label, const std::string &role, const Tensor &t,
                          const Shape &expected) {
    if (t.shape != expected) {
        fail(label, role + " must have shape " + to_string(expected) + ", got " +
                        to_string(t.shape));
    }
}

inline void require_valid_shape(const std::string &label, const std::string &role,
                                const Tensor &t) {
    for (int extent : t.shape) {
        if (extent < 1) fail(label, role + " has a non-positive extent: " + to_string(t.shape));
    }
    if (!t.func.defined()) fail(label, role + " has no definition");
}

/// Normalizes a possibly negative dimension index against `rank`.
inline int normalize_dim(const std::string &label, int dim, int rank) {
    int d = dim < 0 ? dim + rank : dim;
    if (d < 0 || d >= rank) {
        fail(label, "dimension " + std::to_string(dim) + " is out of range for rank " +
                        std::to_string(rank));
    }
    return d;
}

}  // namespace megalide::layers::detail
