"""MLP (plain, skip, BN), VGG-11 and ResNet-20 with a width multiplier, and a uniform layer readout.

Every model answers `readout(x)`: one `Layer(inp, pre, out)` per weight layer, in order, where
`pre = z_l = W_l inp + b_l` (before BatchNorm and ReLU) and `out = h_l` (after them; for the last
layer `pre == out ==` logits). `weight_layers()` lists the Linear/Conv2d modules in the same order,
so `weight_layers()[l](readout(x)[l].inp) == readout(x)[l].pre`. ResNet shortcut projections are
part of the residual add and are not listed.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from lmc_lib.core.utils import LmcError

ARCHS = ("mlp", "vgg11", "resnet20")
ARCH_NAMES = {"mlp": "MLP", "vgg11": "VGG-11", "resnet20": "ResNet-20"}  # as figures and tables print them
MLP_VARIANTS = ("plain", "skip", "bn")
MLP_HIDDEN, MLP_DEPTH = 512, 3
VGG11_CFG = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")
RESNET20_STAGES = (16, 32, 64)


class ModelError(LmcError):
    """A model was asked for with an impossible architecture, variant or width."""


class Layer(NamedTuple):
    """One weight layer's input h_{l-1}, pre-activation z_l and output h_l."""

    inp: torch.Tensor
    pre: torch.Tensor
    out: torch.Tensor


def scaled(base: int, width: float) -> int:
    """Units/channels of a layer with `base` units at width multiplier `width` (at least 1)."""
    return max(1, int(round(base * width)))


class _Readable(nn.Module):
    """Shared forward: the logits are the last layer's output of the readout."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(x)[-1].out


class MLP(_Readable):
    """Input -> 3 hidden layers of round(512 w) units with ReLU -> n_classes (variants: skip, bn)."""

    def __init__(self, width, in_features, n_classes, variant="plain", bias=True):
        super().__init__()
        h = scaled(MLP_HIDDEN, width)
        dims = [in_features] + [h] * MLP_DEPTH
        self.fcs = nn.ModuleList(nn.Linear(dims[i], dims[i + 1], bias=bias) for i in range(MLP_DEPTH))
        self.fcs.append(nn.Linear(h, n_classes, bias=bias))
        self.bns = nn.ModuleList(nn.BatchNorm1d(h) for _ in range(MLP_DEPTH)) if variant == "bn" else None
        self.variant = variant

    def readout(self, x):
        h, layers = x.flatten(1), []
        for i, fc in enumerate(self.fcs[:-1]):
            z = fc(h)
            out = F.relu(self.bns[i](z) if self.bns is not None else z)
            if self.variant == "skip" and i > 0:
                out = out + h
            layers.append(Layer(h, z, out))
            h = out
        z = self.fcs[-1](h)
        return layers + [Layer(h, z, z)]

    def weight_layers(self):
        return list(self.fcs)


class VGG11(_Readable):
    """VGG-11 with BatchNorm after every conv and one linear classifier (Git Re-Basin / REPAIR)."""

    def __init__(self, width, in_channels, n_classes, bias=True):
        super().__init__()
        self.convs, self.bns, self.pool_after = nn.ModuleList(), nn.ModuleList(), []
        c_in = in_channels
        for item in VGG11_CFG:
            if item == "M":
                self.pool_after.append(len(self.convs) - 1)
                continue
            c_out = scaled(item, width)
            self.convs.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False))
            self.bns.append(nn.BatchNorm2d(c_out))
            c_in = c_out
        self.fc = nn.Linear(c_in, n_classes, bias=bias)

    def readout(self, x):
        h, layers = x, []
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            z = conv(h)
            out = F.relu(bn(z))
            layers.append(Layer(h, z, out))
            h = F.max_pool2d(out, 2) if i in self.pool_after else out
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        z = self.fc(h)
        return layers + [Layer(h, z, z)]

    def weight_layers(self):
        return list(self.convs) + [self.fc]


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus shortcut (1x1 conv + BN where the shape changes), then ReLU."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def readout(self, x):
        z1 = self.conv1(x)
        h1 = F.relu(self.bn1(z1))
        z2 = self.conv2(h1)
        h2 = F.relu(self.bn2(z2) + self.shortcut(x))
        return [Layer(x, z1, h1), Layer(h1, z2, h2)]


class ResNet20(_Readable):
    """ResNet-20: stem conv, 3 stages x 3 basic blocks (base widths 16/32/64 times w), linear head."""

    def __init__(self, width, in_channels, n_classes, bias=True):
        super().__init__()
        c = [scaled(s, width) for s in RESNET20_STAGES]
        self.conv1 = nn.Conv2d(in_channels, c[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c[0])
        blocks, c_in = [], c[0]
        for stage, c_out in enumerate(c):
            for b in range(3):
                blocks.append(BasicBlock(c_in, c_out, 2 if stage > 0 and b == 0 else 1))
                c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(c_in, n_classes, bias=bias)

    def readout(self, x):
        z = self.conv1(x)
        h = F.relu(self.bn1(z))
        layers = [Layer(x, z, h)]
        for block in self.blocks:
            layers += block.readout(h)
            h = layers[-1].out
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        z = self.fc(h)
        return layers + [Layer(h, z, z)]

    def weight_layers(self):
        convs = [m for b in self.blocks for m in (b.conv1, b.conv2)]
        return [self.conv1] + convs + [self.fc]


def build_model(arch: str, width: float, *, in_channels: int = 1, image_size: int = 28,
                n_classes: int = 10, variant: str = "plain", bias: bool = True) -> nn.Module:
    """Build `arch` at width multiplier `width` (MLP hidden 512 w; conv channels times w)."""
    if arch not in ARCHS:
        raise ModelError(f"unknown arch {arch!r}; choose one of {ARCHS}")
    if not isinstance(width, (int, float)) or not width > 0:
        raise ModelError(f"width must be a number > 0 (e.g. 1/8, 1, 4); got {width!r}")
    if variant not in MLP_VARIANTS or (arch != "mlp" and variant != "plain"):
        raise ModelError(f"variant {variant!r} is not available for {arch}; "
                         f"MLP variants: {MLP_VARIANTS}, conv nets: 'plain'")
    if arch == "mlp":
        model = MLP(width, in_channels * image_size ** 2, n_classes, variant, bias)
    else:
        if image_size < 32 and arch == "vgg11":
            raise ModelError(f"VGG-11 pools 5 times and needs 32x32 inputs; got {image_size}: "
                             "load the data with pad_to=32")
        model = (VGG11 if arch == "vgg11" else ResNet20)(width, in_channels, n_classes, bias)
    model.arch, model.width, model.variant = arch, float(width), variant
    model.build_kwargs = dict(arch=arch, width=float(width), in_channels=in_channels,
                              image_size=image_size, n_classes=n_classes, variant=variant, bias=bias)
    return model


def clone_architecture(model: nn.Module) -> nn.Module:
    """A freshly initialised model with the same architecture as `model`, on its device."""
    device = next(model.parameters()).device
    return build_model(**model.build_kwargs).to(device)


def has_batchnorm(model: nn.Module) -> bool:
    """True when the model has BatchNorm layers (its merges need a BN reset)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
