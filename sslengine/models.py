"""Networks: an MLP for 2-D points, a small CNN for 8x8 digits, and for 32x32 images FixMatch's WRN-28-2 and
the CIFAR variant of ResNet-18 that SimCLR's CIFAR experiments use.

Each model is an `embed` backbone followed by a linear `head`, so that probes and self-supervised methods can
read the embedding.
"""
from __future__ import annotations

import torch
from torch import nn


class Classifier(nn.Module):
    """An `embed` backbone, then a linear `head`: every model here, set up by its subclass."""

    embed: nn.Module
    head: nn.Linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


class MLP(Classifier):
    def __init__(self, num_classes: int, in_features: int = 2, width: int = 64):
        super().__init__()
        self.embed = nn.Sequential(
            nn.Linear(in_features, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(),
        )
        self.head = nn.Linear(width, num_classes)


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class SmallCNN(Classifier):
    """Three conv blocks with pooling after the first two, global average: about 94 k weights.

    Sized for 8x8 digits on a CPU: one FixMatch step of 240 images takes about 25 ms on one core.
    """

    def __init__(self, num_classes: int, in_channels: int = 1, width: int = 32):
        super().__init__()
        self.embed = nn.Sequential(
            _conv_bn(in_channels, width),
            nn.MaxPool2d(2),
            _conv_bn(width, 2 * width),
            nn.MaxPool2d(2),
            _conv_bn(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(4 * width, num_classes)


class WideBlock(nn.Module):
    """Pre-activation residual block of a wide ResNet: BN, leaky ReLU, 3x3 conv, twice."""

    def __init__(self, c_in: int, c_out: int, stride: int, activate_shortcut: bool = False):
        super().__init__()
        self.bn1, self.bn2 = _wrn_bn(c_in), _wrn_bn(c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.act = nn.LeakyReLU(0.1)
        self.shortcut = None if c_in == c_out else nn.Conv2d(c_in, c_out, 1, stride, bias=False)
        self.activate_shortcut = activate_shortcut  # the first block sees the stem's raw output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.act(self.bn1(x))
        out = self.conv2(self.act(self.bn2(self.conv1(activated))))
        if self.shortcut is None:
            return x + out
        return self.shortcut(activated if self.activate_shortcut else x) + out


# The running statistics average the last ~100 steps. FixMatch's 0.001 suits its million steps: in a run of a
# few hundred they still held the first steps' statistics, and WRN-28-2 scored at chance (10-14 %) after 1 200
# FixMatch steps on Fashion-MNIST; on digits it reached 0.90 in 400 steps at 0.01 against 0.84 at 0.001.
WRN_BN_MOMENTUM = 0.01


def _wrn_bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=WRN_BN_MOMENTUM)


class WideResNet(Classifier):
    """WRN-depth-k as FixMatch uses it: (depth - 4) / 6 blocks per stage, widths 16k, 32k, 64k, leaky ReLU
    (slope 0.1); BN momentum 0.01 (see WRN_BN_MOMENTUM). WRN-28-2 has 1.47 M weights."""

    def __init__(self, num_classes: int, in_channels: int = 3, depth: int = 28, widen: int = 2):
        super().__init__()
        blocks = (depth - 4) // 6
        widths = [16, 16 * widen, 32 * widen, 64 * widen]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)]
        for stage, stride in enumerate((1, 2, 2)):
            for i in range(blocks):
                layers.append(WideBlock(widths[stage] if i == 0 else widths[stage + 1], widths[stage + 1],
                                        stride if i == 0 else 1, activate_shortcut=stage == 0 and i == 0))
        layers += [_wrn_bn(widths[3]), nn.LeakyReLU(0.1), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.embed = nn.Sequential(*layers)
        self.head = nn.Linear(widths[3], num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="leaky_relu")
            elif isinstance(module, nn.Linear):
                nn.init.xavier_normal_(module.weight)
                nn.init.zeros_(module.bias)


class BasicBlock(nn.Module):
    """ResNet's two 3x3 convolutions with BN, added to the input (projected by a 1x1 conv when shapes change)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                                  nn.ReLU(), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.shortcut = (nn.Identity() if stride == 1 and c_in == c_out else
                         nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class CifarResNet18(Classifier):
    """ResNet-18 for 32x32 images: a 3x3 stem with stride 1 and no max-pool, then 2 blocks in each of four
    stages of width 64, 128, 256, 512 (11.2 M weights)."""

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 64):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                                   nn.ReLU()]
        c_in = width
        for stage in range(4):
            c_out = width * 2 ** stage
            layers += [BasicBlock(c_in, c_out, 1 if stage == 0 else 2), BasicBlock(c_out, c_out, 1)]
            c_in = c_out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.embed = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, num_classes)


MODELS = ("auto", "mlp", "small-cnn", "wrn-28-2", "resnet-18")


def small_cnn_width(side: int) -> int:
    """32 for 8x8 digits; 16 at 28x28, where a FixMatch step on 2 CPU cores takes 0.09 s against 0.24 s at 32
    and 1 200 steps end 2 points lower (0.655 against 0.678 on Fashion-MNIST, seeds 0-2): in the same minutes
    the narrower network trains further."""
    return 32 if side <= 8 else 16


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, width_factor: float = 1.0) -> nn.Module:
    """The model `name` for inputs of `input_shape` (one sample's). "auto" picks the MLP for points, the small
    CNN for images up to 28 pixels (digits, MNIST), WRN-28-2 for larger ones. `width_factor` scales the width
    (a distilled student is half as wide)."""
    if name == "auto":
        name = "mlp" if len(input_shape) == 1 else "small-cnn" if input_shape[-1] <= 28 else "wrn-28-2"
    if name == "mlp":
        return MLP(num_classes, input_shape[0], width=round(64 * width_factor))
    if name == "small-cnn":
        return SmallCNN(num_classes, input_shape[0], width=round(small_cnn_width(input_shape[-1]) * width_factor))
    if name == "wrn-28-2":
        return WideResNet(num_classes, input_shape[0], widen=max(1, round(2 * width_factor)))
    return CifarResNet18(num_classes, input_shape[0], width=round(64 * width_factor))
