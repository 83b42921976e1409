// megalide schedule (per_op) as Halide C++.
_Div_output_0.compute_root();
_Div_output_0
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d2);
_MatMul_1_output_0.compute_root();
_MatMul_1_output_0
    .split(d0, d0_o, d0_i, 32, TailStrategy::ShiftInwards)
    .split(d1, d1_o, d1_i, 8, TailStrategy::ShiftInwards)
    .reorder(d0_i, d1_i, d0_o, d1_o)
    .vectorize(d0_i)
    .unroll(d1_i)
    .parallel(d2);
_MatMul_1_output_0_acc.compute_at(_MatMul_1_output_0, d0_o);
_MatMul_1_output_0_acc
    .vectorize(j)
    .unroll(i);
_MatMul_1_output_0_acc.update(0)
    .reorder(j, i, _MatMul_1_output_0_acc_r$x)
    .vectorize(j)
    .unroll(i);
_MatMul_output_0.compute_root();
_MatMul_output_0
    .split(d0, d0_o, d0_i, 32, TailStrategy::ShiftInwards)
    .split(d1, d1_o, d1_i, 8, TailStrategy::ShiftInwards)
    .reorder(d0_i, d1_i, d0_o, d1_o)
    .vectorize(d0_i)
    .unroll(d1_i)
    .parallel(d2);
_MatMul_output_0_acc.compute_at(_MatMul_output_0, d0_o);
_MatMul_output_0_acc
    .vectorize(j)
    .unroll(i);
_MatMul_output_0_acc.update(0)
    .reorder(j, i, _MatMul_output_0_acc_r$x)
    .vectorize(j)
    .unroll(i);
_Reshape_1_output_0.compute_root();
_Reshape_1_output_0
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d2);
_Reshape_2_output_0.compute_root();
_Reshape_2_output_0
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d2);
_Reshape_3_output_0.compute_root();
_Reshape_3_output_0
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d1);
_Reshape_output_0.compute_root();
_Reshape_output_0
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d2);
_Slice_1_output_0.compute_root();
_Slice_1_output_0
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d1);
_Slice_2_output_0.compute_root();
_Slice_2_output_0
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d1);
_Slice_output_0.compute_root();
_Slice_output_0
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d1);
_Softmax_output_0.compute_root();
_Softmax_output_0
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d2);
_norm_LayerNormalization_output_0.compute_root();
_norm_LayerNormalization_output_0
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d1);
_out_MatMul_output_0.compute_root();
_out_MatMul_output_0
    .split(d0, d0_o, d0_i, 32, TailStrategy::ShiftInwards)
    .split(d1, d1_o, d1_i, 8, TailStrategy::ShiftInwards)
    .reorder(d0_i, d1_i, d0_o, d1_o)
    .vectorize(d0_i)
    .unroll(d1_i)
    .parallel(d1_o);
_out_MatMul_output_0_acc.compute_at(_out_MatMul_output_0, d0_o);
_out_MatMul_output_0_acc
    .vectorize(j)
    .unroll(i);
_out_MatMul_output_0_acc.update(0)
    .reorder(j, i, _out_MatMul_output_0_acc_r$x)
    .vectorize(j)
    .unroll(i);
_qkv_MatMul_output_0.compute_root();
_qkv_MatMul_output_0
    .split(d0, d0_o, d0_i, 32, TailStrategy::ShiftInwards)
    .split(d1, d1_o, d1_i, 8, TailStrategy::ShiftInwards)
    .reorder(d0_i, d1_i, d0_o, d1_o)
    .vectorize(d0_i)
    .unroll(d1_i)
    .parallel(d1_o);
_qkv_MatMul_output_0_acc.compute_at(_qkv_MatMul_output_0, d0_o);
_qkv_MatMul_output_0_acc
    .vectorize(j)
    .unroll(i);
_qkv_MatMul_output_0_acc.update(0)
    .reorder(j, i, _qkv_MatMul_output_0_acc_r$x)
    .vectorize(j)
    .unroll(i);
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
_Reshape_2_output_0_relayout.compute_root();
_Reshape_2_output_0_relayout
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d1);
_Reshape_1_output_0_relayout.compute_root();
_Reshape_1_output_0_relayout
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d1);
_Reshape_output_0_relayout.compute_root();
_Reshape_output_0_relayout
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi)
    .parallel(d1);
_Softmax_output_0_exp.compute_at(_Softmax_output_0, d1);
_Softmax_output_0_exp
    .split(d0, d0_vo, d0_vi, 16, TailStrategy::GuardWithIf)
    .vectorize(d0_vi);
_Softmax_output_0_max.compute_at(_Softmax_output_0, d1);
_Softmax_output_0_sum.compute_at(_Softmax_output_0, d1);
_norm_LayerNormalization_output_0_mean.compute_at(_norm_LayerNormalization_output_0, d1);
_norm_LayerNormalization_output_0_sq_dev.compute_at(_norm_LayerNormalization_output_0, d1);
