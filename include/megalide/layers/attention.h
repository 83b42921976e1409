// Scaled dot-product attention. Funcs only, no schedule.
#pragma once

#include <optional>
#include <string>

#include "megalide/tensor.h"

namespace megalide::layers {

/// out(e, i, b...) = sum_j softmax_j(scale * sum_d q(d, i, b...) k(d, j, b...)) v(e, j, b...)
/// q (D, Tq, batch...), k (D, Tk, batch...), v (E, Tk, batch...); batch dimensions equal.
/// scale defaults to 1/sqrt(D). With `causal`, query i sees keys j <= i (PyTorch's
/// is_causal: the lower triangle anchored at the top left).
Tensor scaled_dot_product_attention(const std::string &name, const Tensor &q, const Tensor &k,
                                    const Tensor &v, bool causal = false,
                                    std::optional<float> scale = std::nullopt);

}  // namespace megalide::layers
