#!/usr/bin/env python3
"""The Python module's two kinds of error, and its resource limit.

usage: check_python_errors.py MEGALIDE_PYTHON_DIR WORK_DIR

1. A model with a dimension of 2^40 raises megalide.Error (a ValueError) naming the input.
2. A model over max_memory raises megalide.Error naming the limit; a malformed max_memory too.
3. An internal error (the fault point MEGALIDE_TEST_INTERNAL_ERROR=<step>) raises
   megalide.InternalError (a RuntimeError, not a megalide.Error) saying what was being done.
Exit status 0 when all hold, 1 otherwise.
"""
import os
import pathlib
import sys

import onnx
from onnx import TensorProto, helper


def fail(message):
    print("FAILED:", message)
    sys.exit(1)


def relu_model(path, dims):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "python_errors", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return str(path)


def expect(exception_type, text, call):
    try:
        call()
    except exception_type as e:
        if text not in str(e):
            fail(f"{exception_type.__name__} without '{text}': {e}")
        print(f"{type(e).__module__}.{type(e).__name__}: {str(e).splitlines()[0]}")
        return e
    except Exception as e:  # noqa: BLE001 - any other type is the failure being tested for
        fail(f"expected {exception_type.__name__}, got {type(e).__name__}: {e}")
    fail(f"expected {exception_type.__name__} ('{text}'), nothing was raised")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.path.insert(0, sys.argv[1])
    import megalide
    work = pathlib.Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    if not issubclass(megalide.Error, ValueError) or not issubclass(megalide.InternalError, RuntimeError):
        fail("megalide.Error must be a ValueError and megalide.InternalError a RuntimeError")
    if issubclass(megalide.InternalError, megalide.Error):
        fail("an internal error must not be catchable as a user error")

    expect(megalide.Error, "input 'x': dimension 0 is 1099511627776", lambda: megalide.Model(relu_model(work / "huge.onnx", [1 << 40])))
    medium = relu_model(work / "medium.onnx", [1024, 1024])  # 4 MiB in, 4 MiB out
    expect(megalide.Error, "over the memory limit of 1 MiB", lambda: megalide.Model(medium, max_memory="1M"))
    expect(megalide.Error, "memory size 'plenty'", lambda: megalide.Model(medium, max_memory="plenty"))
    model = megalide.Model(medium)

    os.environ["MEGALIDE_TEST_INTERNAL_ERROR"] = "compiling"
    try:
        expect(megalide.InternalError, "internal error while compiling", lambda: model.compile("per_op"))
    finally:
        del os.environ["MEGALIDE_TEST_INTERNAL_ERROR"]
    model.compile("per_op")  # without the fault point the same call succeeds
    print("OK")


if __name__ == "__main__":
    main()
