#!/usr/bin/env python3
"""Export reference PyTorch models to ONNX, with reference inputs and outputs.

The models are built with random weights (seeded; nothing is downloaded), so
the C++ compiler can later be checked against PyTorch:

  mobilenet_v2               torchvision.models.mobilenet_v2(weights=None), input 1x3x224x224
  resnet18                   torchvision.models.resnet18(weights=None),     input 1x3x224x224
  transformer_encoder_layer  torch.nn.TransformerEncoderLayer(d_model=512, nhead=8,
                             dim_feedforward=2048, dropout=0.0, batch_first=True,
                             norm_first=True),                              input 1x256x512

For each model NAME this writes, under --out:

  NAME.onnx         static shapes, constant folding on, input "input", output "output",
                    exported with the classic TorchScript-based exporter (dynamo=False)
  NAME.input.npy    seeded standard-normal float32 input (C order)
  NAME.output.npy   PyTorch's float32 output for that input (C order)

and prints one line per model with the file sizes and the set of ONNX op types
in the exported graph (ops outside the compiler's supported list are flagged).

Requirements: torch, torchvision, numpy, onnx. onnxruntime is optional and
only used with --check-ort. A lean install for CPU use (735 MB of wheels instead
of ~2.9 GB) works on this project's machine image, which ships the CUDA 13.0
libraries torch 2.11.0 was built against in /usr/local/cuda-13.0; only three
nvidia-* wheels (~230 MB) are added for the libraries the image lacks:

  pip install --no-deps torch==2.11.0 torchvision==0.26.0 nvidia-cufile==1.15.1.6 \
      nvidia-cusparselt-cu13==0.8.0 nvidia-nvshmem-cu13==3.4.5
  pip install filelock typing-extensions sympy networkx jinja2 fsspec numpy pillow onnx

(Without those system CUDA libraries `import torch` fails with a missing
lib*.so error; use a plain `pip install torch==2.11.0 torchvision==0.26.0 onnx`
there, which pulls ~2.5 GB of nvidia-* wheels.)

Usage:
  python3 scripts/export_torch_models.py [--out build/models] [--seed 0] [--opset 17]
                                         [--calibrate-bn] [--fold-constants] [--check-ort]

Note: with torchvision's default init, mobilenet_v2's outputs are ~1e-9 (the
activations shrink through its depthwise convs), so compare it with a relative
tolerance, or pass --calibrate-bn to get O(1) outputs.
"""

import argparse
import inspect
import os
import sys
import warnings

# ONNX ops the compiler is expected to handle; anything else is reported.
SUPPORTED_OPS = frozenset(
    """Conv Gemm MatMul Add Sub Mul Div Pow Sqrt Exp Erf Tanh Sigmoid Relu Clip
    LeakyRelu HardSwish HardSigmoid BatchNormalization MaxPool AveragePool
    GlobalAveragePool GlobalMaxPool Softmax LogSoftmax LayerNormalization
    ReduceMean ReduceSum ReduceMax Transpose Reshape Flatten Concat Pad Identity
    Constant Shape Gather Slice Unsqueeze Squeeze Cast Mod""".split()
)


def _require_modules():
    """Import the hard requirements, or exit(2) with an install hint."""
    missing = []
    mods = {}
    for name in ("numpy", "torch", "torchvision", "onnx"):
        try:
            mods[name] = __import__(name)
        except Exception as exc:  # ImportError, or OSError from missing shared libs
            missing.append("%s (%s: %s)" % (name, type(exc).__name__, exc))
    if missing:
        sys.stderr.write(
            "error: export_torch_models.py needs torch, torchvision, numpy and onnx; "
            "could not import:\n  " + "\n  ".join(missing) + "\n"
            "See the install notes in this script's docstring / the project docs.\n"
        )
        sys.exit(2)
    return mods["numpy"], mods["torch"], mods["torchvision"], mods["onnx"]


def _fmt_size(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def _single_input(torch, module):
    """Wrap module so forward() takes exactly one tensor.

    The classic exporter fills in a forward()'s unspecified default arguments
    (TransformerEncoderLayer's is_causal=False) and the tracer turns the bool
    into a 0-d tensor, which then fails inside scaled_dot_product_attention.
    """

    class SingleInput(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x)

    return SingleInput(module)


def _calibrate_batchnorm(torch, model, shape, seed):
    """Set every BatchNorm's running stats to the batch statistics of random data.

    With torchvision's default init, mobilenet_v2's activations shrink through the
    depthwise convs (its logits are ~1e-9), which makes absolute-tolerance checks
    meaningless. Calibrating the running stats keeps activations near unit scale.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
    gen = torch.Generator().manual_seed(seed + 1000)
    model.train()
    with torch.no_grad():
        model(torch.randn((4,) + tuple(shape[1:]), generator=gen))
    model.eval()


def fold_constants(onnx, np, model, max_elements=4096):
    """Fold small constant subgraphs (shape arithmetic) into initializers.

    The classic exporter leaves shape computations such as
    Shape -> Slice -> Cast -> Sqrt and Constant -> Mod -> Reshape in the graph even
    when every shape is static. This evaluates, with onnx's reference evaluator,
    every node whose inputs are all constants (and Shape of a tensor whose shape
    inference found static), as long as its outputs are small, then drops what
    became unused. Returns a new ModelProto.
    """
    from onnx import helper, numpy_helper, shape_inference
    from onnx.reference import ReferenceEvaluator

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    inferred = shape_inference.infer_shapes(model)
    static_shapes = {}
    for vi in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        tt = vi.type.tensor_type
        if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            static_shapes[vi.name] = [d.dim_value for d in tt.shape.dim]

    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    graph_outputs = {o.name for o in graph.output}
    kept, new_inits = [], []
    for node in graph.node:
        values = None
        has_subgraph = any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)
        if node.op_type == "Constant":
            values = ReferenceEvaluator(node).run(None, {})
            consts[node.output[0]] = values[0]
            kept.append(node)  # dropped below if nothing uses it any more
            continue
        if has_subgraph or any(o in graph_outputs for o in node.output):
            kept.append(node)
            continue
        if node.op_type == "Shape" and node.input[0] in static_shapes:
            shape = np.array(static_shapes[node.input[0]], dtype=np.int64)
            attrs = {a.name: a.i for a in node.attribute}
            values = [shape[attrs.get("start", 0) : attrs.get("end", len(shape))]]
        elif node.input and all((not i) or i in consts for i in node.input):
            feeds = {i: consts[i] for i in node.input if i}
            try:
                values = ReferenceEvaluator(node).run(None, feeds)
            except Exception:
                values = None
        if values is None or any(np.asarray(v).size > max_elements for v in values):
            kept.append(node)
            continue
        for name, value in zip(node.output, values):
            value = np.asarray(value)
            consts[name] = value
            new_inits.append(numpy_helper.from_array(value, name))

    graph.initializer.extend(new_inits)
    # Drop nodes and initializers nothing uses any more (iterate to a fixed point).
    while True:
        used = {i for n in kept for i in n.input} | graph_outputs
        still = [n for n in kept if any(o in used for o in n.output)]
        if len(still) == len(kept):
            break
        kept = still
    del graph.node[:]
    graph.node.extend(kept)
    used = {i for n in kept for i in n.input} | graph_outputs
    inits = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    return model


def build_models(torch, torchvision):
    """Return [(name, constructor, input_shape)]; the caller seeds before each constructor."""
    return [
        ("mobilenet_v2", lambda: torchvision.models.mobilenet_v2(weights=None), (1, 3, 224, 224)),
        ("resnet18", lambda: torchvision.models.resnet18(weights=None), (1, 3, 224, 224)),
        (
            "transformer_encoder_layer",
            lambda: _single_input(
                torch,
                torch.nn.TransformerEncoderLayer(
                    d_model=512,
                    nhead=8,
                    dim_feedforward=2048,
                    dropout=0.0,
                    batch_first=True,
                    norm_first=True,
                ),
            ),
            (1, 256, 512),
        ),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="build/models", help="output directory (default: build/models)")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and inputs (default: 0)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version (default: 17)")
    parser.add_argument(
        "--check-ort",
        action="store_true",
        help="also run each exported model in onnxruntime (if installed) and print max |ort - torch|",
    )
    parser.add_argument(
        "--calibrate-bn",
        action="store_true",
        help="set BatchNorm running stats from a random batch (keeps mobilenet_v2 outputs O(1))",
    )
    parser.add_argument(
        "--fold-constants",
        action="store_true",
        help="fold the exporter's leftover static shape arithmetic (Shape/Mod/Slice/Cast/Sqrt...) "
        "into initializers before saving",
    )
    args = parser.parse_args(argv)

    np, torch, torchvision, onnx = _require_modules()

    # The fused fast path (torch._transformer_encoder_layer_fwd / nested tensors) has no
    # ONNX symbolic; force the plain composite implementation for export and reference.
    if hasattr(torch.backends, "mha") and hasattr(torch.backends.mha, "set_fastpath_enabled"):
        torch.backends.mha.set_fastpath_enabled(False)

    export_kwargs = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        export_kwargs["dynamo"] = False  # classic TorchScript-based exporter

    os.makedirs(args.out, exist_ok=True)
    print(
        "torch %s, torchvision %s, onnx %s, opset %d, seed %d -> %s"
        % (torch.__version__, torchvision.__version__, onnx.__version__, args.opset, args.seed, args.out)
    )

    ort = None
    if args.check_ort:
        try:
            import onnxruntime as ort  # optional
        except ImportError:
            print("note: onnxruntime not installed; skipping --check-ort")

    outside_any = False
    for index, (name, ctor, shape) in enumerate(build_models(torch, torchvision)):
        torch.manual_seed(args.seed)
        model = ctor().eval()
        if args.calibrate_bn:
            _calibrate_batchnorm(torch, model, shape, args.seed)

        gen = torch.Generator().manual_seed(args.seed + index)
        x = torch.randn(*shape, generator=gen, dtype=torch.float32)

        with torch.no_grad():
            y = model(x)
        x_np = np.ascontiguousarray(x.numpy(), dtype=np.float32)
        y_np = np.ascontiguousarray(y.detach().numpy(), dtype=np.float32)

        onnx_path = os.path.join(args.out, name + ".onnx")
        in_path = os.path.join(args.out, name + ".input.npy")
        out_path = os.path.join(args.out, name + ".output.npy")

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            with torch.no_grad():
                torch.onnx.export(
                    model,
                    (x,),
                    onnx_path,
                    export_params=True,
                    opset_version=args.opset,
                    do_constant_folding=True,
                    input_names=["input"],
                    output_names=["output"],
                    **export_kwargs,
                )
        np.save(in_path, x_np)
        np.save(out_path, y_np)

        proto = onnx.load(onnx_path)
        if args.fold_constants:
            proto = fold_constants(onnx, np, proto)
            onnx.save(proto, onnx_path)
        onnx.checker.check_model(proto)
        ops = sorted({node.op_type for node in proto.graph.node})
        outside = [op for op in ops if op not in SUPPORTED_OPS]
        outside_any = outside_any or bool(outside)

        line = "%s: onnx %s, input %s %s, output %s %s (max|y| %.3g), ops [%s]" % (
            name,
            _fmt_size(os.path.getsize(onnx_path)),
            "x".join(map(str, x_np.shape)),
            _fmt_size(os.path.getsize(in_path)),
            "x".join(map(str, y_np.shape)),
            _fmt_size(os.path.getsize(out_path)),
            float(np.max(np.abs(y_np))),
            ", ".join(ops),
        )
        if outside:
            line += ", NOT IN SUPPORTED LIST: [%s]" % ", ".join(outside)
        print(line, flush=True)

        if ort is not None:
            sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            (y_ort,) = sess.run(["output"], {"input": x_np})
            diff = float(np.max(np.abs(y_ort.astype(np.float32) - y_np)))
            print("  onnxruntime %s: max |ort - torch| = %.3g" % (ort.__version__, diff), flush=True)

    if outside_any:
        print("warning: some exported ops are outside the supported list (see above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
