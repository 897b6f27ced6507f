"""AdaMatch (Berthelot et al., 2022) as a semi-supervised method: FixMatch whose threshold is relative to the
model's confidence on the labeled batch, after aligning the unlabeled predictions to the labeled marginal.

q_u    = normalize(p_u * p_bar_l / p_bar_u),  p_bar <- m p_bar + (1 - m) mean_b p_b  (distribution alignment)
c_tau  = tau * mean_{b in labeled batch} max p_l,b                              (the relative threshold)
loss   = CE(y, f(weak(x_l))) + lambda_u * (1/muB) sum_u 1[max q_u >= c_tau] CE(argmax q_u, f(strong(u)))
As in USB's AdaMatch for SSL: no random logit interpolation and no loss warm-up (the paper's, for domain
adaptation); the averages use FreeMatch's momentum.
"""
import torch

from .base import AT_TAU, Presentation
from .fixmatch import FixMatch
from .freematch import MOMENTUM


class AdaMatch(FixMatch):
    presentation = Presentation("AdaMatch", page="threshold",
                                formula=r"\mathbb{1}\!\left[\max \tilde q_b \ge \tau\,\frac{1}{B}\sum_{l} \max "
                                        r"p_l\right],\quad \tilde q_b = \mathrm{normalize}\!\left(q_b\,\bar "
                                        r"p_{\text{labeled}} / \bar p_{\text{unlabeled}}\right)",
                                series=(AT_TAU,),
                                about="The threshold is relative: tau times the model's mean confidence on the labeled "
                                      "batch, so it is low while the model is unsure even of what it was taught.")
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.p_bar_l = self.p_bar_u = self.uniform()

    def align(self, q, p_l):
        self.p_bar_l = MOMENTUM * self.p_bar_l + (1 - MOMENTUM) * p_l.mean(dim=0)
        self.p_bar_u = MOMENTUM * self.p_bar_u + (1 - MOMENTUM) * q.mean(dim=0)
        aligned = q * self.p_bar_l / self.p_bar_u
        return aligned / aligned.sum(dim=-1, keepdim=True)

    def mask(self, q, unlabeled_index, p_l):
        cutoff = self.config.threshold * p_l.max(dim=-1).values.mean()
        return (q.max(dim=-1).values >= cutoff).float(), {"relative_threshold": cutoff}
