"""Supervised baseline: cross-entropy on the labeled data alone.

loss = (1/B) sum_b CE(y_b, f(weak(x_b)))
"""
import torch.nn.functional as F

from .base import Algorithm, Presentation, StepResult


class Supervised(Algorithm):
    presentation = Presentation("Supervised", page="entropy", query="group")

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        loss_x = F.cross_entropy(self.model(self.weak(x_labeled)), y_labeled)
        return StepResult(loss_x, {"loss_x": loss_x})
