"""VAT (Miyato et al., 2018), virtual adversarial training: the prediction must not change under the small
input perturbation that changes it most, found by one power iteration; with the paper's entropy term.

d      ~ N(0, I);  d <- normalize(grad_d KL(p(u) || p(u + xi d)))               (power iteration, xi = 1e-3)
r_adv  = eps d,  eps = EPS_PER_DIM sqrt(dim u)   (the paper's eps = 6 on CIFAR-10's 3 072 dimensions, per one)
loss   = CE(y, f(weak(x_l))) + w(t) lambda_u (1/muB) sum_u KL(p(u) || p(u + r_adv)) + 0.06 (1/muB) sum_u H(p(u))
p(u) = softmax(f(weak(u))) is a constant in the KL; w(t) a linear ramp over the first 40 % (USB's warm-up).
The unlabeled passes leave BatchNorm's running statistics as they were, as USB's do, and p comes from a pass of
the unlabeled batch alone, as the perturbed ones (USB's too): VAT's power iteration assumes the KL is 0 at r = 0.
The power iteration runs in float32 (float64 stays float64) without autocast or CUDA's TF32 convolutions, with
xi = 1e-3 rather than the paper's 1e-6: for inputs in [0, 1], u + 1e-6 d is mostly float32 round-off, and the
direction found had a mean cosine of 0.54 to the float64 one on digits after 30 steps (under bf16, about 0).
At 1e-3 it is 1.000 in float32, and 0.995 to float64's direction at 1e-6.
"""
from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from .base import Algorithm, Presentation, StepResult, linear_rampup
from .entmin import entropy_loss

XI = 1e-3
EPS_PER_DIM = 6 / 3072 ** 0.5
ENTROPY_WEIGHT = 0.06  # USB's weight of VAT+EntMin's entropy term
RAMP_UP = 0.4


def unit(d: torch.Tensor) -> torch.Tensor:
    """Each sample's perturbation scaled to L2 norm 1 over all its dimensions."""
    return d / d.flatten(1).norm(dim=1).clamp(min=1e-12).view(-1, *[1] * (d.dim() - 1))


def kl_to(p: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """mean_b KL(p_b || softmax(logits_b)), p a constant."""
    return F.kl_div(logits.log_softmax(dim=-1), p, reduction="batchmean")


@contextmanager
def running_stats_kept(model: nn.Module):
    """Train-mode passes that normalise with their batch but do not move the running statistics."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0  # running <- (1 - 0) running + 0 batch
    try:
        yield
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum


def full_precision(device: torch.device):
    """No autocast, and on CUDA no TF32 convolutions (10-bit mantissas), for a finite difference. cudnn's flag is
    process-wide: a run on another thread meanwhile computes its convolutions in full float32 too."""
    tf32_off = (torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False,
                                           benchmark=torch.backends.cudnn.benchmark,
                                           deterministic=torch.backends.cudnn.deterministic)
                if device.type == "cuda" else nullcontext())
    return torch.autocast(device.type, enabled=False), tf32_off


def adversarial_perturbation(model: nn.Module, u: torch.Tensor, p: torch.Tensor, eps: float,
                             generator: torch.Generator) -> torch.Tensor:
    """r_adv: eps times the direction one power iteration finds from a random start, in float32 or wider."""
    dtype = torch.promote_types(u.dtype, torch.float32)
    u, p = u.to(dtype), p.to(dtype)
    start = torch.randn(u.shape, generator=generator, device=u.device)  # float32 draws: one start in any dtype
    d = (XI * unit(start.to(dtype))).requires_grad_()
    no_autocast, tf32_off = full_precision(u.device)
    with no_autocast, tf32_off:
        (grad,) = torch.autograd.grad(kl_to(p, model(u + d)), d)
    return eps * unit(grad)


class VAT(Algorithm):
    presentation = Presentation("VAT", page="consistency", query="group")

    defaults = Algorithm.defaults | {"lambda_u": 0.3}

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        x, u = self.weak(x_labeled), self.weak(x_unlabeled)
        # u in a pass of its own, as the perturbed passes: with BatchNorm's batch statistics, p from a pass shared
        # with x made KL(p || p(u + r)) > 0 at r = 0, and the power iteration found that gap, not the curvature
        logits_x = self.model(x)
        loss_x = F.cross_entropy(logits_x, y_labeled)
        eps = EPS_PER_DIM * u[0].numel() ** 0.5
        with running_stats_kept(self.model):
            logits_u = self.model(u)
            p = logits_u.detach().float().softmax(dim=-1)
            r_adv = adversarial_perturbation(self.model, u, p, eps, self.rng)
            loss_u = kl_to(p, self.model(u + r_adv))
        loss_entropy = entropy_loss(logits_u)
        weight = self.config.lambda_u * linear_rampup(progress, RAMP_UP)
        return StepResult(loss_x + weight * loss_u + ENTROPY_WEIGHT * loss_entropy,
                          {"loss_x": loss_x, "loss_u": loss_u, "loss_entropy": loss_entropy}, logits_u,
                          monitors={"consistency_weight": weight})
