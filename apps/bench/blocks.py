"""The benchmark suite of DESIGN.md as PyTorch modules, exported to ONNX.

Each block is built with seeded random weights; its ONNX file is what megalide and ONNX
Runtime run, and the same module (same weights) is what PyTorch eager and torch.compile run.
Batch norms are omitted (exporters fold them into the convolutions anyway).

  B1  MobileNetV2 inverted residual 56x56x24 -> 144 -> 24, stride 1, + input
  B2  ResNet basic block 56x56x64: conv3x3 + ReLU, conv3x3, + input, ReLU
  B3  transformer MLP, pre-norm: LayerNorm, Linear 512->2048, GELU, Linear 2048->512, + input
  B4  self-attention, pre-norm: LayerNorm, QKV Linear, softmax(QK^T/8)V (8 heads x 64), out
      Linear, + input; 256 tokens x 512
  B5  MobileNetV2 stride-2 block 112x112x16 -> 96 -> 24 (no residual)
Single layers, for per-layer efficiency:
  L1  1x1 conv 24 -> 144 at 56x56 (B1's expand)     L2  1x1 conv 144 -> 24 at 56x56 (B1's project)
  L3  Linear 512 -> 2048 over 256 tokens (B3's first) L4  Linear 2048 -> 512 over 256 tokens
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class InvertedResidual(nn.Module):
    def __init__(self, cin, hidden, cout, stride):
        super().__init__()
        self.expand = nn.Conv2d(cin, hidden, 1)
        self.dw = nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden)
        self.project = nn.Conv2d(hidden, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = F.relu6(self.expand(x))
        y = F.relu6(self.dw(y))
        y = self.project(y)
        return x + y if self.residual else y


class BasicBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, 1, 1)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


class Mlp(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(self.norm(x))))


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.d, self.heads = d, heads
        self.norm = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        h, hd = self.heads, d // self.heads
        qkv = self.qkv(self.norm(x))
        q = qkv[:, :, 0:d].reshape(b, t, h, hd).transpose(1, 2)
        k = qkv[:, :, d:2 * d].reshape(b, t, h, hd).transpose(1, 2)
        v = qkv[:, :, 2 * d:3 * d].reshape(b, t, h, hd).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) / float(hd) ** 0.5
        y = torch.matmul(torch.softmax(scores, dim=-1), v)
        return x + self.out(y.transpose(1, 2).reshape(b, t, d))


class EncoderLayer(nn.Module):
    """A BERT-base encoder layer (post-norm, GELU), written out as nn.TransformerEncoderLayer
    computes it: that module's own forward does not export with torch 2.11's TorchScript
    exporter (its attention fast path passes is_causal as a traced tensor)."""

    def __init__(self, d, heads, hidden):
        super().__init__()
        self.attention = Attention(d, heads)
        self.attention.norm = nn.Identity()  # post-norm: the norms come after the residuals
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x):
        x = self.norm1(self.attention(x))
        return self.norm2(x + self.fc2(F.gelu(self.fc1(x))))


class Single(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)


def _torchvision(name):
    import torchvision
    return getattr(torchvision.models, name)(weights=None)


BLOCKS = {
    "B1": (lambda: InvertedResidual(24, 144, 24, 1), (1, 24, 56, 56)),
    "B2": (lambda: BasicBlock(64), (1, 64, 56, 56)),
    "B3": (lambda: Mlp(512, 2048), (1, 256, 512)),
    "B4": (lambda: Attention(512, 8), (1, 256, 512)),
    "B5": (lambda: InvertedResidual(16, 96, 24, 2), (1, 16, 112, 112)),
    # Whole models (DESIGN.md's M1-M3), random seeded weights: torchvision's MobileNetV2 and
    # ResNet-18 at 224x224, and a BERT-base encoder layer (post-norm, GELU, sequence 128).
    "M1": (lambda: _torchvision("mobilenet_v2"), (1, 3, 224, 224)),
    "M2": (lambda: _torchvision("resnet18"), (1, 3, 224, 224)),
    "M3": (lambda: EncoderLayer(768, 12, 3072), (1, 128, 768)),
    "L1": (lambda: Single(nn.Conv2d(24, 144, 1)), (1, 24, 56, 56)),
    "L2": (lambda: Single(nn.Conv2d(144, 24, 1)), (1, 144, 56, 56)),
    "L3": (lambda: Single(nn.Linear(512, 2048)), (1, 256, 512)),
    "L4": (lambda: Single(nn.Linear(2048, 512)), (1, 256, 2048)),
}


def build(block_id, seed=0):
    """(module in eval mode, example input) with seeded weights and input."""
    make, shape = BLOCKS[block_id]
    torch.manual_seed(seed)
    module = make().eval()
    x = torch.randn(*shape)
    return module, x


def export(module, x, path, opset=17):
    torch.onnx.export(module, (x,), path, input_names=["input"], output_names=["output"],
                      opset_version=opset, do_constant_folding=True, dynamo=False)


def onnx_flops(path):
    """2 x multiply-accumulates of every Conv, Gemm and MatMul, from the ONNX file's shapes."""
    import onnx
    from onnx import shape_inference

    model = shape_inference.infer_shapes(onnx.load(path))
    shapes = {}
    for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    flops = 0
    for n in model.graph.node:
        if n.op_type == "Conv":
            out, w = shapes[n.output[0]], shapes[n.input[1]]
            flops += 2 * out[0] * out[1] * out[2] * out[3] * w[1] * w[2] * w[3]
        elif n.op_type == "Gemm":
            a, out = shapes[n.input[0]], shapes[n.output[0]]
            trans_a = any(at.name == "transA" and at.i for at in n.attribute)
            flops += 2 * out[0] * out[1] * (a[0] if trans_a else a[1])
        elif n.op_type == "MatMul":
            a, out = shapes[n.input[0]], shapes[n.output[0]]
            batch = 1
            for e in out[:-2]:
                batch *= e
            flops += 2 * batch * out[-2] * out[-1] * a[-1]
    return flops
