"""Pseudo-Label (Lee, 2013): train on the model's own confident argmax predictions for unlabeled data.

loss = CE(y, f(x_l)) + alpha(t) * (1/muB) sum_u 1[max p_u >= tau] CE(argmax p_u, f(x_u)),
p_u = softmax(f(x_u) / T), with alpha(t) ramped up linearly over the first part of training.
"""
import torch.nn.functional as F

from .base import Algorithm, Presentation, StepResult, linear_rampup, masked_cross_entropy, pseudo_labels

RAMP_UP = 0.2  # share of training over which alpha rises from 0 to lambda_u


class PseudoLabel(Algorithm):
    presentation = Presentation("Pseudo-Label", page="threshold",
                                formula=r"\ell_u = \alpha(t)\,\frac{1}{\mu B}\sum_b \mathbb{1}\!\left[\max p_b \ge "
                                        r"\tau\right]\,\mathrm{CE}\!\left(\arg\max p_b,\; f(u_b)\right),\quad p_b = "
                                        r"\mathrm{softmax}\!\left(f(u_b) / T\right),\ \alpha(t)\text{ ramped up}")
    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        c = self.config
        logits_x, logits_u = self.forward_together(self.weak(x_labeled), self.weak(x_unlabeled))
        loss_x = F.cross_entropy(logits_x, y_labeled)
        labels, mask = pseudo_labels(logits_u, c.threshold, c.temperature)  # its own hard labels, same view
        loss_u = masked_cross_entropy(logits_u, labels, mask)
        alpha = c.lambda_u * linear_rampup(progress, RAMP_UP)
        return StepResult(loss_x + alpha * loss_u, {"loss_x": loss_x, "loss_u": loss_u}, logits_u,
                          loss_labels=labels, loss_mask=mask)
