"""Fine-tuning a SimCLR, BYOL or MoCo v3 run on the labeled images (SimCLRv2, Chen et al., 2020).

loss = 1/B sum_b CE(y_b, h(g_1(e(weak(x_b))))),
e the pretrained backbone, g_1 the first layer of its projection head (with BatchNorm and ReLU: SimCLRv2
fine-tunes from there rather than from e), h a new linear classifier. `finetune_mode` "full" trains e, g_1
and h; "linear" freezes e and g_1, BatchNorm statistics included: a linear probe.
"""
import torch.nn.functional as F
from torch import nn

from .base import Algorithm, Presentation, StepResult


class Frozen(nn.Module):
    """A module that neither learns nor updates BatchNorm statistics, whatever mode its parent is in."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module.requires_grad_(False)

    def train(self, mode: bool = True):
        return super().train(False)

    def forward(self, x):
        return self.module(x)


class FineTune(Algorithm):
    presentation = Presentation("Fine-tune", page="pipeline", query="group")
    # Pretrained features need a gentle step: digits from a 300-step SimCLR run, full fine-tuning on 20
    # labels reached 0.828 at lr 0.1, 0.943 at 0.01, 0.937 at 0.003.
    defaults = Algorithm.defaults | {"lr": 0.01}
    parent_must = "learn a representation"

    def adopt(self, parent):
        trunk = nn.Sequential(parent.embed, *parent.projection[:3])  # Linear, BatchNorm, ReLU
        self.model.embed = Frozen(trunk) if self.config.finetune_mode == "linear" else trunk

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        loss_x = F.cross_entropy(self.model(self.weak(x_labeled)), y_labeled)
        return StepResult(loss_x, {"loss_x": loss_x})
