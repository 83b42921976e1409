#!/usr/bin/env python3
"""Trains the "digits" CNN on scikit-learn's bundled 8x8 digits and exports it to ONNX.

usage: train_digits.py [--out apps/digits] [--seed 0] [--epochs 40]

The data is scikit-learn's bundled copy of the UCI optdigits test set (1797 images, pixel
counts 0..16; nothing is downloaded). It is split 75/25, stratified, with --seed. The
input contract is what an 8-bit grayscale PNG gives back:

  pixel byte  p = floor(v * 255 / 16 + 0.5)   (v = 8 is the only tie: 127.5 -> 128)
  model input x = float32(p) / 255, NCHW (1, 1, 8, 8); output: 10 logits, (1, 10)

The graph is plain ONNX (opset 17): Conv+Relu, Conv+Relu, MaxPool, Flatten, Gemm+Relu,
Gemm; no BatchNorm or Dropout. Under --out this writes:

  digits_cnn.onnx   batch 1, input "image", output "logits"
  heldout.npz       the held-out split: x (N,1,8,8) float32, y (N,) int64, and index (N,),
                    each image's row in sklearn.datasets.load_digits()
  heldout_png/      100 held-out images as 8x8 grayscale PNGs, <label>_<index>.png with
                    index the position in the held-out split (10 per class)
  calib/            calib_000.npy ... calib_063.npy: the first 64 training inputs,
                    float32 (1,1,8,8), for int8 calibration
  metrics.json      seed, epochs, training seconds, PyTorch's fp32 held-out accuracy (on the
                    split, and on the PNGs as read back by Pillow), versions

Deterministic: seeds are printed, torch runs deterministic algorithms on 2 CPU threads.
Needs torch, onnx, scikit-learn and Pillow (scripts/bootstrap.sh --bench, then run it with .venv/bin/python).
"""
import argparse
import json
import pathlib
import struct
import sys
import time
import warnings
import zlib

import numpy as np

ARCH = "Conv(1->16,3x3,p1)+Relu, Conv(16->32,3x3,p1)+Relu, MaxPool2x2, Flatten, Gemm(512->64)+Relu, Gemm(64->10)"


def to_bytes(v):
    """Digit pixel counts 0..16 -> the 8-bit grayscale bytes a PNG stores."""
    return np.floor(np.asarray(v, np.float64) * 255.0 / 16.0 + 0.5).astype(np.uint8)


def to_input(p):
    """PNG bytes (..., 8, 8) -> model input, float32 (..., 1, 8, 8)."""
    return (np.asarray(p, np.uint8).astype(np.float32) / np.float32(255))[..., None, :, :]


def write_png_gray8(path, pixels):
    """A minimal PNG: 8-bit grayscale (colour type 0), no interlace, filter 0 on every row."""
    h, w = pixels.shape
    raw = b"".join(b"\x00" + pixels[r].tobytes() for r in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    pathlib.Path(path).write_bytes(png)


def build_model(torch):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),  # 8x8 -> 4x4
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="apps/digits")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=40)
    args = ap.parse_args()

    import onnx
    import PIL
    import sklearn
    import torch
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    print(f"seed {args.seed} (split, init, shuffling); torch {torch.__version__}, 2 threads, deterministic")

    digits = load_digits()
    pixels = to_bytes(digits.images)  # (1797, 8, 8) uint8
    labels = digits.target.astype(np.int64)
    rows = np.arange(len(labels))
    tr, ho = train_test_split(rows, test_size=0.25, stratify=labels, random_state=args.seed)
    x_tr, y_tr = to_input(pixels[tr]), labels[tr]
    x_ho, y_ho = to_input(pixels[ho]), labels[ho]
    print(f"train {len(tr)}, held out {len(ho)} (stratified 75/25)")

    model = build_model(torch)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    xh = torch.from_numpy(x_ho)
    shuffle = torch.Generator().manual_seed(args.seed)
    batch = 32

    def accuracy(x, y):
        model.eval()
        with torch.no_grad():
            pred = model(x).argmax(1).numpy()
        model.train()
        return int((pred == y).sum())

    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        perm = torch.randperm(len(xt), generator=shuffle)
        total = 0.0
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch:2d}/{args.epochs}: loss {total / len(xt):.4f}, "
              f"held-out {accuracy(xh, y_ho)}/{len(y_ho)}", flush=True)
    train_s = time.perf_counter() - t0
    model.eval()

    out = pathlib.Path(args.out)
    (out / "heldout_png").mkdir(parents=True, exist_ok=True)
    (out / "calib").mkdir(exist_ok=True)
    for stale in list((out / "heldout_png").glob("*.png")) + list((out / "calib").glob("*.npy")):
        stale.unlink()

    onnx_path = out / "digits_cnn.onnx"
    kwargs = {"dynamo": False}  # the TorchScript exporter: plain Conv/Gemm, no dynamo-specific ops
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(onnx_path), opset_version=17,
                          do_constant_folding=True, input_names=["image"], output_names=["logits"], **kwargs)
    graph = onnx.load(str(onnx_path)).graph
    ops = sorted({n.op_type for n in graph.node})
    print(f"{onnx_path}: {onnx_path.stat().st_size} bytes, ops {' '.join(ops)}")

    np.savez_compressed(out / "heldout.npz", x=x_ho, y=y_ho, index=ho.astype(np.int64))
    for k in range(64):
        np.save(out / "calib" / f"calib_{k:03d}.npy", x_tr[k:k + 1])

    # 10 per class: the first ten of each label in held-out order.
    picked = [i for c in range(10) for i in np.flatnonzero(y_ho == c)[:10]]
    for i in picked:
        write_png_gray8(out / "heldout_png" / f"{y_ho[i]}_{i:03d}.png", pixels[ho[i]])
    # The round trip: decode the files just written with Pillow (an independent PNG reader).
    files = sorted((out / "heldout_png").glob("*.png"))
    png_bytes = np.stack([np.asarray(Image.open(f).convert("L")) for f in files])
    png_labels = np.array([int(f.name.split("_")[0]) for f in files])
    png_pos = np.array([int(f.stem.split("_")[1]) for f in files])
    if not np.array_equal(to_input(png_bytes), x_ho[png_pos]):
        sys.exit("PNG round trip changed the pixels")
    png_correct = accuracy(torch.from_numpy(to_input(png_bytes)), png_labels)

    correct = accuracy(xh, y_ho)
    metrics = {
        "seed": args.seed,
        "epochs": args.epochs,
        "batch": batch,
        "optimizer": "Adam lr 2e-3",
        "architecture": ARCH,
        "train_images": len(tr),
        "train_seconds": round(train_s, 2),
        "train_accuracy": accuracy(xt, y_tr) / len(y_tr),
        "heldout_images": len(ho),
        "heldout_correct": correct,
        "heldout_accuracy": correct / len(ho),
        "png_images": len(files),
        "png_correct": png_correct,
        "png_accuracy": png_correct / len(files),
        "onnx_bytes": onnx_path.stat().st_size,
        "onnx_ops": ops,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "sklearn": sklearn.__version__,
        "pillow": PIL.__version__,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"trained in {train_s:.1f} s; held-out accuracy {correct}/{len(ho)} = {correct / len(ho):.4f}, "
          f"PNGs {png_correct}/{len(files)}; wrote {out}")


if __name__ == "__main__":
    main()
