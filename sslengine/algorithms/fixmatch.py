"""FixMatch (Sohn et al., 2020): pseudo-label the weak view, train the strong view on it.

loss = CE(y, f(weak(x_l))) + lambda_u * (1/muB) sum_u 1[max q_u >= tau] CE(argmax q_u, f(strong(x_u))),
q_u = softmax(f(weak(x_u)) / T)
"""
import torch.nn.functional as F

from .base import Algorithm, StepResult, masked_cross_entropy, pseudo_labels


def fixmatch_loss(logits_weak, logits_strong, threshold, temperature):
    """The unlabeled term: labels from the weak view, loss on the strong view, below-threshold samples zeroed."""
    labels, mask = pseudo_labels(logits_weak, threshold, temperature)
    return masked_cross_entropy(logits_strong, labels, mask)


class FixMatch(Algorithm):
    uses_ema = True

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        c = self.config
        logits_x, logits_weak, logits_strong = self.forward_together(
            self.weak(x_labeled), self.weak(x_unlabeled), self.strong(x_unlabeled))
        loss_x = F.cross_entropy(logits_x, y_labeled)
        loss_u = fixmatch_loss(logits_weak, logits_strong, c.threshold, c.temperature)
        return StepResult(loss_x + c.lambda_u * loss_u, {"loss_x": loss_x, "loss_u": loss_u}, logits_weak)
