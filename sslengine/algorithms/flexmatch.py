"""FlexMatch (Zhang et al., 2021): FixMatch with class-wise thresholds that follow each class's learning.

sigma(c) = #{unlabeled n whose latest prediction passing tau was c},
beta(c)  = sigma(c) / max(max_c' sigma(c'), #{n never passing})          (with threshold warm-up),
T(c)     = tau * beta(c) / (2 - beta(c))                                   (the convex mapping),
mask     = 1[max q_u >= T(argmax q_u)]                                     (FixMatch's loss otherwise)
"""
import torch

from .base import AT_TAU, Presentation, Series
from .fixmatch import FixMatch

UNSEEN = -1


def flexmatch_thresholds(latest_passing: torch.Tensor, num_classes: int, tau: float) -> torch.Tensor:
    """T(c) from the memory of each unlabeled sample's latest class above tau (UNSEEN if none yet)."""
    counts = torch.bincount(latest_passing + 1, minlength=num_classes + 1).float()  # [unseen, class 0, ...]
    sigma, unseen = counts[1:], counts[0]
    beta = sigma / torch.maximum(sigma.max(), unseen).clamp(min=1)
    return tau * beta / (2 - beta)


class FlexMatch(FixMatch):
    presentation = Presentation("FlexMatch", page="threshold",
                                formula=r"\mathbb{1}\!\left[\max q_b \ge \mathcal{T}(\hat y_b)\right],\quad "
                                        r"\mathcal{T}(c) = \tau\,\frac{\beta(c)}{2 - \beta(c)},\quad \beta(c) = "
                                        r"\frac{\sigma(c)}{\max\left(\max_{c'} \sigma(c'),\; N_{\text{unused}}\right)}",
                                series=(AT_TAU, Series("threshold_{c}", "per class")),
                                about="Each class's threshold rises as more unlabeled samples are confidently "
                                      "predicted as that class (sigma(c)): a class the model has not learned yet gets "
                                      "a lower bar, so it is not starved of labels.")
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.latest_passing = torch.full((self.num_unlabeled,), UNSEEN, device=self.device)  # per unlabeled sample

    def mask(self, q, unlabeled_index, p_l):
        confidence, labels = q.max(dim=-1)
        thresholds = flexmatch_thresholds(self.latest_passing, self.num_classes, self.config.threshold)
        passing = confidence >= self.config.threshold
        self.latest_passing[unlabeled_index[passing]] = labels[passing]
        return (confidence >= thresholds[labels]).float(), {f"threshold_{k}": t for k, t in enumerate(thresholds)}
