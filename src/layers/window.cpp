#include "window.h"

#include "checks.h"

namespace megalide::layers::detail {

Halide::Func pad_spatial(const std::string &name, const Tensor &input,
                         const Halide::Expr &outside) {
    Halide::Var c("c"), x("x"), y("y"), n("n");
    const int width = input.dim(1), height = input.dim(2);
    Halide::Expr inside = x >= 0 && x < width && y >= 0 && y < height;
    Halide::Expr value = input({c, Halide::clamp(x, 0, width - 1), Halide::clamp(y, 0, height - 1), n});
    Halide::Func padded(name);
    padded(c, x, y, n) = Halide::select(inside, value, Halide::cast(value.type(), outside));
    return padded;
}

int window_output_extent(const std::string &label, const WindowAxis &w, bool ceil_mode) {
    const std::string axis = w.axis;
    require(w.kernel >= 1, label, "kernel extent along " + axis + " must be >= 1, got " +
                                      std::to_string(w.kernel));
    require(w.stride >= 1, label, "stride along " + axis + " must be >= 1, got " +
                                      std::to_string(w.stride));
    require(w.dilation >= 1, label, "dilation along " + axis + " must be >= 1, got " +
                                        std::to_string(w.dilation));
    require(w.pad_before >= 0 && w.pad_after >= 0, label,
            "padding along " + axis + " must be non-negative, got (" +
                std::to_string(w.pad_before) + ", " + std::to_string(w.pad_after) + ")");
    const int padded = w.in_extent + w.pad_before + w.pad_after;
    const int span = w.dilation * (w.kernel - 1) + 1;
    if (span > padded) {
        fail(label, "window of " + std::to_string(span) + " along " + axis +
                        " is larger than the padded input (" + std::to_string(w.in_extent) +
                        " + pads " + std::to_string(w.pad_before) + "+" +
                        std::to_string(w.pad_after) + " = " + std::to_string(padded) + ")");
    }
    int out = (padded - span) / w.stride + 1;
    if (ceil_mode) {
        out = (padded - span + w.stride - 1) / w.stride + 1;
        if ((out - 1) * w.stride >= w.in_extent + w.pad_before) --out;
    }
    return out;
}

}  // namespace megalide::layers::detail
