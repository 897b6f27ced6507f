"""Pi-Model (Laine and Aila, 2017): two stochastic passes of each unlabeled image should agree.

loss = CE(y, f(x_l)) + w(t) * lambda_u * 1/(C muB) sum_u ||softmax(f(A(u))) - softmax(f(A'(u)))||^2,
A and A' two independent draws of the augmentation, w(t) a sigmoid-shaped ramp-up from 0 to 1.
"""
import torch.nn.functional as F

from .base import Algorithm, Presentation, StepResult, sigmoid_rampup, softmax_mse

RAMP_UP = 0.4  # share of training over which w rises from 0 to 1


class PiModel(Algorithm):
    presentation = Presentation("Pi-Model", page="consistency", query="group")
    # Softmax MSE averaged over classes is small: it needs a weight near 10 (measured on digits).
    defaults = Algorithm.defaults | {"lambda_u": 10.0}

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        logits_x, logits_a, logits_b = self.forward_together(
            self.weak(x_labeled), self.weak(x_unlabeled), self.weak(x_unlabeled))
        loss_x = F.cross_entropy(logits_x, y_labeled)
        loss_u = softmax_mse(logits_a, logits_b.detach())
        weight = sigmoid_rampup(progress, RAMP_UP) * self.config.lambda_u
        return StepResult(loss_x + weight * loss_u, {"loss_x": loss_x, "loss_u": loss_u}, logits_a,
                          monitors={"consistency_weight": weight})
