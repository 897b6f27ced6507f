"""FreeMatch (Wang et al., 2023): self-adaptive thresholds, global and per class, from the model's confidence.

tau_t    = m tau_{t-1} + (1 - m) mean_b max q_b                 (global: the mean confidence, as an EMA)
p_t(c)   = m p_{t-1}(c) + (1 - m) mean_b q_b(c)                  (local: the mean predicted distribution)
T_t(c)   = tau_t * p_t(c) / max_c' p_t(c')                       (both start from 1 / C),
loss = CE(y, f(weak(x_l))) + lambda_u * (1/muB) sum_u 1[max q_u >= T_t(argmax q_u)] CE(argmax q_u, f(strong(u)))
(The paper's fairness term is left out: this file studies the thresholds.)
"""
import torch
import torch.nn.functional as F

from .base import Algorithm, StepResult, masked_cross_entropy

# The paper's 0.999 suits a million steps; over our thousand, 0.99 averages a comparable share of training.
MOMENTUM = 0.99


def freematch_update(global_tau, class_p, probs, momentum=MOMENTUM):
    """One step of both EMAs; returns the new (tau, p) and the class thresholds T(c)."""
    global_tau = momentum * global_tau + (1 - momentum) * probs.max(dim=-1).values.mean()
    class_p = momentum * class_p + (1 - momentum) * probs.mean(dim=0)
    return global_tau, class_p, global_tau * class_p / class_p.max()


class FreeMatch(Algorithm):
    uses_ema = True

    def __init__(self, model, config, generator, num_unlabeled):
        super().__init__(model, config, generator, num_unlabeled)
        self.global_tau = self.class_p = None  # both 1/C, set at the first step when C is known

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        c = self.config
        logits_x, logits_weak, logits_strong = self.forward_together(
            self.weak(x_labeled), self.weak(x_unlabeled), self.strong(x_unlabeled))
        probs = (logits_weak.detach() / c.temperature).softmax(dim=-1)
        if self.global_tau is None:
            num_classes = probs.shape[1]
            self.global_tau = torch.tensor(1 / num_classes, device=probs.device)
            self.class_p = torch.full((num_classes,), 1 / num_classes, device=probs.device)
        self.global_tau, self.class_p, thresholds = freematch_update(self.global_tau, self.class_p, probs)
        confidence, labels = probs.max(dim=-1)
        mask = (confidence >= thresholds[labels]).float()

        loss_x = F.cross_entropy(logits_x, y_labeled)
        loss_u = masked_cross_entropy(logits_strong, labels, mask)
        return StepResult(loss_x + c.lambda_u * loss_u, {"loss_x": loss_x, "loss_u": loss_u}, logits_weak,
                          monitors={f"threshold_{k}": t for k, t in enumerate(thresholds)})
