"""Networks: an MLP for 2-D points and a small CNN for 8x8 digits.

Each model is an `embed` backbone followed by a linear `head`, so that probes and later self-supervised
methods can read the embedding.
"""
from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, num_classes: int, in_features: int = 2, width: int = 64):
        super().__init__()
        self.embed = nn.Sequential(
            nn.Linear(in_features, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(),
        )
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class SmallCNN(nn.Module):
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def build_model(kind: str, num_classes: int, width_factor: float = 1.0) -> nn.Module:
    """The model for a data kind; `width_factor` scales its width (a distilled student is half as wide)."""
    if kind == "points":
        return MLP(num_classes, width=round(64 * width_factor))
    return SmallCNN(num_classes, width=round(32 * width_factor))
