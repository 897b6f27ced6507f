"""Entropy Minimization (Grandvalet and Bengio, 2005): push decision boundaries away from unlabeled data.

loss = CE(y, f(x_l)) + lambda * (1/muB) sum_u H(p_u),  H(p) = -sum_k p_k log p_k,  p_u = softmax(f(x_u))
"""
import torch
import torch.nn.functional as F

from .base import Algorithm, Presentation, StepResult


def entropy_loss(logits: torch.Tensor) -> torch.Tensor:
    """Mean Shannon entropy (nats) of the predicted class distributions."""
    return -(logits.softmax(dim=-1) * logits.log_softmax(dim=-1)).sum(dim=-1).mean()


class EntMin(Algorithm):
    presentation = Presentation("EntMin", page="entropy", query="group")

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        logits_x, logits_u = self.forward_together(self.weak(x_labeled), self.weak(x_unlabeled))
        loss_x = F.cross_entropy(logits_x, y_labeled)
        loss_u = entropy_loss(logits_u)
        return StepResult(loss_x + self.config.lambda_u * loss_u, {"loss_x": loss_x, "loss_u": loss_u},
                          logits_u)
