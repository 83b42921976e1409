// megalide schedule (per_op) as Halide C++.
_Add_output_0.compute_root();
_Add_output_0
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d2);
_conv1_Conv_output_0.compute_root();
_conv1_Conv_output_0
    .split(d0, d0_o, d0_i, 32, TailStrategy::ShiftInwards)
    .split(d1, d1_o, d1_i, 8, TailStrategy::ShiftInwards)
    .reorder(d0_i, d1_i, d0_o, d1_o)
    .vectorize(d0_i)
    .unroll(d1_i)
    .parallel(d2);
_conv1_Conv_output_0_acc.compute_at(_conv1_Conv_output_0, d0_o);
_conv1_Conv_output_0_acc
    .vectorize(c)
    .unroll(x);
_conv1_Conv_output_0_acc.update(0)
    .reorder(c, x, _conv1_Conv_output_0_acc_r$x, _conv1_Conv_output_0_acc_r$y, _conv1_Conv_output_0_acc_r$z)
    .vectorize(c)
    .unroll(x);
_conv2_Conv_output_0.compute_root();
_conv2_Conv_output_0
    .split(d0, d0_o, d0_i, 32, TailStrategy::ShiftInwards)
    .split(d1, d1_o, d1_i, 8, TailStrategy::ShiftInwards)
    .reorder(d0_i, d1_i, d0_o, d1_o)
    .vectorize(d0_i)
    .unroll(d1_i)
    .parallel(d2);
_conv2_Conv_output_0_acc.compute_at(_conv2_Conv_output_0, d0_o);
_conv2_Conv_output_0_acc
    .vectorize(c)
    .unroll(x);
_conv2_Conv_output_0_acc.update(0)
    .reorder(c, x, _conv2_Conv_output_0_acc_r$x, _conv2_Conv_output_0_acc_r$y, _conv2_Conv_output_0_acc_r$z)
    .vectorize(c)
    .unroll(x);
out_output.compute_root();
out_output
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d2);
output.compute_root();
output
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d2);
_conv1_Conv_output_0_acc_pad.compute_root();
_conv2_Conv_output_0_acc_pad.compute_root();
