// megalide schedule (per_op) as Halide C++.
_Mul_1_output_0_fused.compute_root();
_Mul_1_output_0_fused
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d1);
_fc1_MatMul_output_0.compute_root();
_fc1_MatMul_output_0
    .split(d0, d0_o, d0_i, 32, TailStrategy::ShiftInwards)
    .split(d1, d1_o, d1_i, 8, TailStrategy::ShiftInwards)
    .reorder(d0_i, d1_i, d0_o, d1_o)
    .vectorize(d0_i)
    .unroll(d1_i)
    .parallel(d1_o);
_fc1_MatMul_output_0_acc.compute_at(_fc1_MatMul_output_0, d0_o);
_fc1_MatMul_output_0_acc
    .vectorize(j)
    .unroll(i);
_fc1_MatMul_output_0_acc.update(0)
    .reorder(j, i, _fc1_MatMul_output_0_acc_r$x)
    .vectorize(j)
    .unroll(i);
_fc2_MatMul_output_0.compute_root();
_fc2_MatMul_output_0
    .split(d0, d0_o, d0_i, 32, TailStrategy::ShiftInwards)
    .split(d1, d1_o, d1_i, 8, TailStrategy::ShiftInwards)
    .reorder(d0_i, d1_i, d0_o, d1_o)
    .vectorize(d0_i)
    .unroll(d1_i)
    .parallel(d1_o);
_fc2_MatMul_output_0_acc.compute_at(_fc2_MatMul_output_0, d0_o);
_fc2_MatMul_output_0_acc
    .vectorize(j)
    .unroll(i);
_fc2_MatMul_output_0_acc.update(0)
    .reorder(j, i, _fc2_MatMul_output_0_acc_r$x)
    .vectorize(j)
    .unroll(i);
_norm_LayerNormalization_output_0.compute_root();
_norm_LayerNormalization_output_0
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d1);
out_output.compute_root();
out_output
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d1);
output.compute_root();
output
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d1);
_norm_LayerNormalization_output_0_mean.compute_at(_norm_LayerNormalization_output_0, d1);
_norm_LayerNormalization_output_0_sq_dev.compute_at(_norm_LayerNormalization_output_0, d1);
