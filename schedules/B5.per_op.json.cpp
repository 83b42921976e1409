// megalide schedule (per_op) as Halide C++.
_dw_Conv_output_0.compute_root();
_dw_Conv_output_0
    .split(d0, d0_o, d0_i, 32, TailStrategy::ShiftInwards)
    .split(d1, d1_o, d1_i, 8, TailStrategy::ShiftInwards)
    .reorder(d0_i, d1_i, d0_o, d1_o)
    .vectorize(d0_i)
    .unroll(d1_i)
    .parallel(d2);
_dw_Conv_output_0_acc.compute_at(_dw_Conv_output_0, d0_o);
_dw_Conv_output_0_acc
    .vectorize(c)
    .unroll(x);
_dw_Conv_output_0_acc.update(0)
    .reorder(c, x, _dw_Conv_output_0_acc_r$x, _dw_Conv_output_0_acc_r$y)
    .vectorize(c)
    .unroll(x);
_expand_Conv_output_0.compute_root();
_expand_Conv_output_0
    .split(d0, d0_o, d0_i, 32, TailStrategy::ShiftInwards)
    .split(d1, d1_o, d1_i, 8, TailStrategy::ShiftInwards)
    .reorder(d0_i, d1_i, d0_o, d1_o)
    .vectorize(d0_i)
    .unroll(d1_i)
    .parallel(d2);
_expand_Conv_output_0_acc.compute_at(_expand_Conv_output_0, d0_o);
_expand_Conv_output_0_acc
    .vectorize(c)
    .unroll(x);
_expand_Conv_output_0_acc.update(0)
    .reorder(c, x, _expand_Conv_output_0_acc_r$x)
    .vectorize(c)
    .unroll(x);
out_output.compute_root();
out_output
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d2);
output.compute_root();
output
    .split(d0, d0_o, d0_i, 24, TailStrategy::ShiftInwards)
    .split(d1, d1_o, d1_i, 8, TailStrategy::ShiftInwards)
    .reorder(d0_i, d1_i, d0_o, d1_o)
    .vectorize(d0_i)
    .unroll(d1_i)
    .parallel(d2);
output_acc.compute_at(output, d0_o);
output_acc
    .vectorize(c)
    .unroll(x);
output_acc.update(0)
    .reorder(c, x, output_acc_r$x)
    .vectorize(c)
    .unroll(x);
_dw_Conv_output_0_acc_pad.compute_root();
