"""FreeMatch (Wang et al., 2023): self-adaptive thresholds, global and per class, from the model's confidence.

tau_t    = m tau_{t-1} + (1 - m) mean_b max q_b                 (global: the mean confidence, as an EMA)
p_t(c)   = m p_{t-1}(c) + (1 - m) mean_b q_b(c)                  (local: the mean predicted distribution)
T_t(c)   = tau_t * p_t(c) / max_c' p_t(c')                       (both start from 1 / C),
mask     = 1[max q_u >= T_t(argmax q_u)]                         (FixMatch's loss otherwise)
(The paper's fairness term is left out: this file studies the thresholds.)
"""
import torch

from .base import AT_TAU, Presentation, Series
from .fixmatch import FixMatch

# The paper's 0.999 suits a million steps; over our thousand, 0.99 averages a comparable share of training.
MOMENTUM = 0.99


def freematch_update(global_tau, class_p, probs, momentum=MOMENTUM):
    """One step of both EMAs; returns the new (tau, p) and the class thresholds T(c)."""
    global_tau = momentum * global_tau + (1 - momentum) * probs.max(dim=-1).values.mean()
    class_p = momentum * class_p + (1 - momentum) * probs.mean(dim=0)
    return global_tau, class_p, global_tau * class_p / class_p.max()


class FreeMatch(FixMatch):
    presentation = Presentation("FreeMatch", page="threshold",
                                formula=r"\mathbb{1}\!\left[\max q_b \ge \tau_t(\hat y_b)\right],\quad \tau_t(c) = "
                                        r"\tau_t\,\frac{\tilde p_t(c)}{\max_{c'} \tilde p_t(c')},\quad \tau_t = m\,"
                                        r"\tau_{t-1} + (1 - m)\,\frac{1}{\mu B}\sum_b \max q_b",
                                series=(AT_TAU, Series("threshold_{c}", "per class")),
                                about="The global threshold is the model's running mean confidence, so it starts near "
                                      "1/C and climbs as the model grows sure; each class scales it by how often that "
                                      "class is predicted.")
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.global_tau, self.class_p = torch.tensor(1 / self.num_classes, device=self.device), self.uniform()

    def mask(self, q, unlabeled_index, p_l):
        self.global_tau, self.class_p, thresholds = freematch_update(self.global_tau, self.class_p, q)
        confidence, labels = q.max(dim=-1)
        return (confidence >= thresholds[labels]).float(), {f"threshold_{k}": t for k, t in enumerate(thresholds)}
