"""Shared fixtures: small ONNX models written with onnx.helper (seeded weights), and ONNX
Runtime as the reference that computes their outputs independently of megalide."""
import pathlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


def _conv(name, x, w, b, y, **attrs):
    return helper.make_node("Conv", [x, w, b], [y], name=name, **attrs)


def inverted_residual(path, c=8, hidden=32, size=12, seed=0):
    """1x1 expand + ReLU6, 3x3 depthwise + ReLU6, 1x1 project, + input (B1's shape, small)."""
    rng = np.random.default_rng(seed)
    init = []

    def weight(name, shape):
        init.append(numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name))

    weight("w_expand", (hidden, c, 1, 1)); weight("b_expand", (hidden,))
    weight("w_dw", (hidden, 1, 3, 3)); weight("b_dw", (hidden,))
    weight("w_project", (c, hidden, 1, 1)); weight("b_project", (c,))
    init += [numpy_helper.from_array(np.array(0, np.float32), "lo"), numpy_helper.from_array(np.array(6, np.float32), "hi")]
    nodes = [
        _conv("expand", "x", "w_expand", "b_expand", "e"),
        helper.make_node("Clip", ["e", "lo", "hi"], ["e6"], name="expand_clip"),
        _conv("dw", "e6", "w_dw", "b_dw", "d", group=hidden, pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Clip", ["d", "lo", "hi"], ["d6"], name="dw_clip"),
        _conv("project", "d6", "w_project", "b_project", "p"),
        helper.make_node("Add", ["x", "p"], ["y"], name="residual"),
    ]
    graph = helper.make_graph(nodes, "inverted_residual",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, size, size])], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def ort_run(path, inputs):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: a for i, a in zip(session.get_inputs(), inputs)})


@pytest.fixture(scope="session")
def block_path(tmp_path_factory):
    return inverted_residual(tmp_path_factory.mktemp("models") / "block.onnx")


@pytest.fixture(scope="session")
def other_block_path(tmp_path_factory):
    return inverted_residual(tmp_path_factory.mktemp("models") / "other.onnx", c=8, hidden=16, size=10, seed=1)


@pytest.fixture(scope="session")
def x():
    return np.random.default_rng(7).uniform(-1, 1, (1, 8, 12, 12)).astype(np.float32)


@pytest.fixture(scope="session")
def pipeline(block_path):
    import megalide

    return megalide.load(block_path)


@pytest.fixture
def tmp(tmp_path):
    return pathlib.Path(tmp_path)
