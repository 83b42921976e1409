#include "window.h"

#include "checks.h"

namespace megalide::layers::detail {

Halide::Func pad_spatial(const std::string &name, const Tensor &input,
                         const Halide::Expr &outside) {
    const int spatial = input.rank() - 2;
    require(spatial >= 1 && spatial <= 3, layer_label("pad_spatial", name),
            "input must be (c, x, n), (c, x, y, n) or (c, x, y, z, n), got shape " +
                to_string(input.shape));
    static const char *const kAxes[] = {"x", "y", "z"};
    std::vector<Halide::Var> vars{Halide::Var("c")};
    std::vector<Halide::Expr> at{vars[0]};
    // (x >= 0 && x < W) && (y >= 0) && (y < H)...: for rank 4 the same Expr as always.
    Halide::Expr inside;
    for (int i = 0; i < spatial; ++i) {
        const Halide::Var v(kAxes[i]);
        const int extent = input.dim(i + 1);
        inside = inside.defined() ? (inside && v >= 0) : (v >= 0);
        inside = inside && v < extent;
        vars.push_back(v);
        at.push_back(Halide::clamp(v, 0, extent - 1));
    }
    vars.emplace_back("n");
    at.push_back(vars.back());
    Halide::Expr value = input(at);
    Halide::Func padded(name);
    padded(vars) = Halide::select(inside, value, Halide::cast(value.type(), outside));
    record_stage(padded, StageRole::Padding);
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
