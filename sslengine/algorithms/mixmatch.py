"""MixMatch (Berthelot et al., 2019): guess each unlabeled image's label from K augmentations of it, sharpen
the guess, MixUp labeled and unlabeled images with their targets, and fit the mixed batch.

q_b = Sharpen(1/K sum_k p(y | weak_k(u_b)); T),   Sharpen(p; T)_c = p_c^(1/T) / sum_c' p_c'^(1/T)
X = (weak(x_l), onehot(y)), U = ((weak_k(u_b), q_b) for every k), W = Shuffle(X ++ U)
X' = MixUp(X, W[:|X|]), U' = MixUp(U, W[|X|:]),  MixUp(a, b) = l' a + (1 - l') b, l' = max(l, 1 - l), l ~ Beta(alpha, alpha)
loss = 1/|X'| sum_{(x, p) in X'} H(p, f(x)) + lambda_u w(t) 1/(C |U'|) sum_{(u, q) in U'} ||q - softmax(f(u))||^2,
w(t) a linear ramp-up from 0 to 1. One l per batch, as USB draws it (the paper's code draws one per
sample).
"""
import torch
import torch.nn.functional as F
from scipy.special import betaincinv

from .base import Algorithm, Presentation, StepResult, linear_rampup

RAMP_UP = 0.4  # share of training over which w rises linearly from 0 to 1


def sharpen(p: torch.Tensor, temperature: float) -> torch.Tensor:
    """p^(1/T) renormalised: T < 1 pushes each row toward its argmax."""
    sharpened = p.pow(1 / temperature)
    return sharpened / sharpened.sum(dim=-1, keepdim=True)


def mixup(inputs: torch.Tensor, targets: torch.Tensor, lam: float, order: torch.Tensor):
    """Each sample mixed with sample order[i] of the same batch (W, a shuffle of it), the nearer to itself
    since lam = max(l, 1 - l) >= 1/2; targets likewise."""
    return lam * inputs + (1 - lam) * inputs[order], lam * targets + (1 - lam) * targets[order]


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1/N sum -sum_c p_c log softmax(logits)_c: the cross-entropy against probabilities."""
    return -(targets * logits.log_softmax(dim=-1)).sum(dim=-1).mean()


class MixMatch(Algorithm):
    presentation = Presentation("MixMatch")
    # The paper's lambda_u for CIFAR-10 (the squared error is averaged over classes, so it is small);
    # T 0.5 sharpens; the EMA is what the paper evaluates.
    defaults = Algorithm.defaults | {"lambda_u": 75.0, "sharpen_temperature": 0.5, "augmentations": 2}
    uses_ema = True

    def mixup_weight(self) -> float:
        """l' = max(l, 1 - l), l ~ Beta(alpha, alpha) drawn from the run's generator by its inverse CDF (which
        torch lacks and scipy has)."""
        uniform = torch.rand((), device=self.rng.device, generator=self.rng).item()
        l = float(betaincinv(self.config.mixup_alpha, self.config.mixup_alpha, uniform))
        return max(l, 1 - l)

    def mix(self, x: torch.Tensor, p_x: torch.Tensor, u: torch.Tensor, q_u: torch.Tensor):
        """MixUp of X ++ U with a shuffle of itself."""
        lam = self.mixup_weight()
        order = torch.randperm(len(x) + len(u), device=x.device, generator=self.rng)
        return mixup(torch.cat([x, u]), torch.cat([p_x, q_u]), lam, order)

    def guess(self, x_unlabeled: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """The unlabeled views U is made of, their shared target q, and the prediction q is sharpened from."""
        views = [self.weak(x_unlabeled) for _ in range(self.config.augmentations)]
        with torch.no_grad():
            mean = torch.stack([logits.softmax(dim=-1) for logits in self.forward_together(*views)]).mean(dim=0)
        return views, sharpen(mean, self.config.sharpen_temperature), mean

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        views, q, mean = self.guess(x_unlabeled)
        x = self.weak(x_labeled)
        p_x = F.one_hot(y_labeled, q.shape[1]).to(q.dtype)
        inputs, targets = self.mix(x, p_x, torch.cat(views), q.repeat(len(views), 1))
        logits_x, logits_u = self.model(inputs).split([len(x), len(inputs) - len(x)])
        loss_x = soft_cross_entropy(logits_x, targets[:len(x)])
        loss_u = (logits_u.softmax(dim=-1) - targets[len(x):]).pow(2).mean()
        weight = self.config.lambda_u * linear_rampup(progress, RAMP_UP)
        # log q as the logits: the probes' softmax of it (at the pseudo-label T = 1) is the sharpened guess itself
        return StepResult(loss_x + weight * loss_u, {"loss_x": loss_x, "loss_u": loss_u}, q.log(),
                          monitors={"consistency_weight": weight})
