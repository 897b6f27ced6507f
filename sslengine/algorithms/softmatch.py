"""SoftMatch (Chen et al., 2023): no pseudo-label is dropped; each is weighed by a truncated Gaussian of its
confidence, whose mean and variance follow the batches, after aligning the predictions to a uniform marginal.

q_u      = normalize(p_u * u / p_bar),  p_bar <- m p_bar + (1 - m) mean_b p_b,  u = 1 / C  (uniform alignment)
mu_t     <- m mu_t + (1 - m) mean_b max q_b,  sigma_t^2 <- m sigma_t^2 + (1 - m) var_b max q_b
w(q_u)   = exp(-(max q_u - mu_t)^2 / (2 sigma_t^2 / 4))  if max q_u < mu_t,  else 1      (USB's n_sigma = 2)
loss     = CE(y, f(weak(x_l))) + lambda_u * (1/muB) sum_u w(q_u) CE(argmax p_u, f(strong(u)))
The aligned q only weighs; the label is the raw prediction's argmax, as in USB. The threshold tau plays no part
in the loss: the mask rate logged is the mean weight, and the fixed-tau what-if is logged as mask_rate_at_tau.
"""
import math

import torch

from .base import AT_TAU, Presentation, Series
from .fixmatch import FixMatch
from .freematch import MOMENTUM  # the paper's 0.999 suits a million steps, as FreeMatch's does

N_SIGMA = 2  # the weight's width: sigma_t / N_SIGMA


def softmatch_weights(confidence: torch.Tensor, mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """w: 1 at or above the mean confidence mu, a Gaussian fall-off of variance var / N_SIGMA^2 below it."""
    return torch.exp(-(confidence - mu).clamp(max=0) ** 2 / (2 * var / N_SIGMA ** 2))


class SoftMatch(FixMatch):
    presentation = Presentation("SoftMatch", page="threshold",
                                formula=r"\ell_u = \frac{1}{\mu B}\sum_b w(q_b)\,\mathrm{CE}\!\left(\arg\max p_b,\; "
                                        r"f(\mathcal{A}(u_b))\right),\quad w(q) = \begin{cases} e^{-(\max q - "
                                        r"\mu_t)^2 / (2\sigma_t^2 / 4)} & \max q < \mu_t \\ 1 & \text{else}\end{cases}",
                                series=(AT_TAU, Series("softmatch_mu", "weights",
                                                       "mean {softmatch_mu:.2f}, sigma {softmatch_sigma:.2f}")),
                                about="SoftMatch trains on every pseudo-label, weighed by w = exp(-(max q - mu)^2 / (2 "
                                      "sigma^2 / 4)) below the running mean confidence mu and 1 above it, after "
                                      "aligning the predictions to a uniform class marginal (the label is the raw "
                                      "prediction's argmax): none is dropped, the doubtful ones count less. Its mask "
                                      "rate is the mean weight.")
    labels_from_aligned = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.p_bar = self.uniform()
        self.mu = torch.tensor(1 / self.num_classes, device=self.device)
        self.var = torch.tensor(1.0, device=self.device)

    @staticmethod
    def weights(confidence: torch.Tensor, last: dict[str, float]) -> torch.Tensor:
        """The weight of a pseudo-label of each confidence under the monitors of one step (the page's chart)."""
        mu, sigma = torch.tensor(last["softmatch_mu"]), torch.tensor(last["softmatch_sigma"])
        return softmatch_weights(confidence, mu, sigma ** 2)

    def align(self, q, p_l):
        self.p_bar = MOMENTUM * self.p_bar + (1 - MOMENTUM) * q.mean(dim=0)
        aligned = q / self.p_bar / q.shape[1]
        return aligned / aligned.sum(dim=-1, keepdim=True)

    def mask(self, q, unlabeled_index, p_l):
        confidence = q.max(dim=-1).values
        self.mu = MOMENTUM * self.mu + (1 - MOMENTUM) * confidence.mean()
        self.var = MOMENTUM * self.var + (1 - MOMENTUM) * confidence.var(unbiased=True)
        weights = softmatch_weights(confidence, self.mu, self.var)
        return weights, {"softmatch_mu": self.mu, "softmatch_sigma": math.sqrt(float(self.var)),
                         "mean_weight": weights.mean()}
