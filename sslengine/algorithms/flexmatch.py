"""FlexMatch (Zhang et al., 2021): FixMatch with class-wise thresholds that follow each class's learning.

sigma(c) = #{unlabeled n whose latest prediction passing tau was c},
beta(c)  = sigma(c) / max(max_c' sigma(c'), #{n never passing})          (with threshold warm-up),
T(c)     = tau * beta(c) / (2 - beta(c))                                   (the convex mapping),
loss = CE(y, f(weak(x_l))) + lambda_u * (1/muB) sum_u 1[max q_u >= T(argmax q_u)] CE(argmax q_u, f(strong(u)))
"""
import torch
import torch.nn.functional as F

from .base import Algorithm, StepResult, confidence_and_labels, masked_cross_entropy

UNSEEN = -1


def flexmatch_thresholds(latest_passing: torch.Tensor, num_classes: int, tau: float) -> torch.Tensor:
    """T(c) from the memory of each unlabeled sample's latest class above tau (UNSEEN if none yet)."""
    counts = torch.bincount(latest_passing + 1, minlength=num_classes + 1).float()  # [unseen, class 0, ...]
    sigma, unseen = counts[1:], counts[0]
    beta = sigma / torch.maximum(sigma.max(), unseen).clamp(min=1)
    return tau * beta / (2 - beta)


class FlexMatch(Algorithm):
    uses_ema = True

    def __init__(self, model, config, generator, num_unlabeled):
        super().__init__(model, config, generator, num_unlabeled)
        self.latest_passing = None  # per unlabeled sample, allocated on the data's device at the first step

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        c = self.config
        logits_x, logits_weak, logits_strong = self.forward_together(
            self.weak(x_labeled), self.weak(x_unlabeled), self.strong(x_unlabeled))
        if self.latest_passing is None:
            self.latest_passing = torch.full((self.num_unlabeled,), UNSEEN, device=x_unlabeled.device)
        confidence, labels = confidence_and_labels(logits_weak, c.temperature)
        thresholds = flexmatch_thresholds(self.latest_passing, logits_weak.shape[1], c.threshold)
        mask = (confidence >= thresholds[labels]).float()
        passing = confidence >= c.threshold
        self.latest_passing[unlabeled_index[passing]] = labels[passing]

        loss_x = F.cross_entropy(logits_x, y_labeled)
        loss_u = masked_cross_entropy(logits_strong, labels, mask)
        return StepResult(loss_x + c.lambda_u * loss_u, {"loss_x": loss_x, "loss_u": loss_u}, logits_weak,
                          monitors={f"threshold_{k}": t for k, t in enumerate(thresholds)})
