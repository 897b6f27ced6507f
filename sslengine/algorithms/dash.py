"""Dash (Xu et al., 2021): FixMatch whose pseudo-labels are selected by their own loss, under a threshold that
falls as training goes: loose while the model is poor, tightening towards FixMatch's.

rho_k  = max(C gamma^(-k) rho_hat, rho_min),  k = 0, 1, ... the tenth of training,  rho_hat the labeled
         batch's mean loss at the first step (the paper: over the labeled set after a warm-up)
q_u    = softmax(f(weak(u)) / T) while rho_k > rho_min, then one-hot argmax    (soft labels first, as USB's)
l_u    = CE(q_u, f(weak(u)))                    (the weak view's loss against its own pseudo-label)
loss   = CE(y, f(weak(x_l))) + lambda_u * (1/muB) sum_u 1[l_u <= rho_k] CE(q_u, f(strong(u)))
C = 1.0001 and gamma = 1.27 as the paper; rho_min = 0.05 as USB, -log 0.951: FixMatch's tau; T = 0.5 as USB.
From a first loss of ln 10 (ten classes, untrained), the tenth stage's rho is 0.27, not yet rho_min: a short
run trains on soft labels throughout. A pseudo-label that passes has max q >= exp(-rho_k), since its loss
averages -log q over classes; with hard labels that is the whole rule.
"""
import math

import torch.nn.functional as F

from .base import AT_TAU, Presentation, Series, masked_cross_entropy, pseudo_label_distribution
from .fixmatch import FixMatch

C, GAMMA, RHO_MIN = 1.0001, 1.27, 0.05
STAGES = 10  # rho falls once a tenth of training, as USB lowers it every few evaluations


def dash_threshold(rho_hat: float, stage: int) -> float:
    return max(C * GAMMA ** -stage * rho_hat, RHO_MIN)


class Dash(FixMatch):
    presentation = Presentation("Dash", page="threshold",
                                formula=r"\mathbb{1}\!\left[\mathrm{CE}\!\left(q_b, f(\alpha(u_b))\right) \le "
                                        r"\rho_k\right],\quad \rho_k = \max\!\left(C\,\gamma^{-k}\hat\rho,\ "
                                        r"\rho_{\min}\right),\ k\text{ the tenth of training}",
                                series=(AT_TAU, Series("dash_confidence", "curves",
                                                       "Dash's threshold, as a confidence exp(-rho)")),
                                about="Dash keeps a pseudo-label while the weak view's loss against it is below rho, "
                                      "which starts at the labeled loss and is divided by 1.27 each tenth of training "
                                      "(never below 0.05, FixMatch's 0.95). Its labels are soft, softmax(logits / "
                                      "0.5), until rho reaches 0.05, hard after. Drawn as the confidence exp(-rho) a "
                                      "passing label reaches at least: loose at first, tighter later.")
    defaults = FixMatch.defaults | {"sharpen_temperature": 0.5}  # T of the soft labels

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rho_hat, self.stage, self.y_labeled = None, 0, None

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        self.stage, self.y_labeled = min(int(progress * STAGES), STAGES - 1), y_labeled  # what the rule reads
        return super().train_step(x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index)

    def unlabeled_loss(self, logits_weak, logits_strong, unlabeled_index, logits_x):
        if self.rho_hat is None:
            self.rho_hat = float(F.cross_entropy(logits_x.detach(), self.y_labeled))
        rho = dash_threshold(self.rho_hat, self.stage)
        weak = logits_weak.detach()
        labels = weak.argmax(dim=-1)
        targets = labels if rho == RHO_MIN else pseudo_label_distribution(weak, self.config.sharpen_temperature)
        mask = (F.cross_entropy(weak, targets, reduction="none") <= rho).float()
        monitors = {"dash_rho": rho, "dash_confidence": math.exp(-rho)}
        return masked_cross_entropy(logits_strong, targets, mask), labels, mask, monitors
