"""What every method shares: the model, the run's generator, and pseudo-labels with temperature and threshold.

A method subclasses `Algorithm` and writes only `train_step` (and the heads it adds to the model); the loop,
optimiser, EMA and logging live in `sslengine.train`. What a method learns from besides the labels is its
`teacher`, whatever that network is: the EMA of its own weights (Mean Teacher), a second network it trains
(Meta Pseudo Labels), a frozen copy (Noisy Student) or a parent run (distillation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from .. import augment
from ..image_sets import mirrored

if TYPE_CHECKING:
    from ..config import RunConfig


@dataclass(frozen=True)
class Series:
    """A monitor a method logs (`StepResult.monitors`) and the chart the pages draw it in: "curves", a line
    beside test accuracy and the mask rate; "per class", one line a class (the key holds {c}); "weights", the
    weight the method gives a pseudo-label against its confidence, from its `weights(confidence, last)` over
    the monitors of the newest step."""
    key: str
    chart: str
    label: str = ""  # its name in a legend (empty: the chart's own), or a "weights" chart's, over the step's monitors


@dataclass(frozen=True)
class Presentation:
    """What the pages show of a method, so that they render from it and adding a method touches no page: its
    display name, the page that shows one run of it (`views/<page>.py`; None: Compare) and how that page picks
    the run (`query`: "run" by its id, "group" or "olu" by the group it was started with), its loss in LaTeX,
    the monitors it logs with their charts, and a caption on what those charts show."""
    name: str
    page: str | None = None
    query: str = "run"
    formula: str = ""
    series: tuple[Series, ...] = ()
    about: str = ""


AT_TAU = Series("mask_rate_at_tau", "curves")  # beside an adaptive rule's mask rate: what a fixed tau would pass


@dataclass
class StepResult:
    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)  # each loss term, for logging
    unlabeled_logits: torch.Tensor | None = None  # the logits pseudo-labels are read from (weak view)
    monitors: dict[str, float | torch.Tensor] = field(default_factory=dict)  # other state to log: thresholds
    # Where the unlabeled loss trains on pseudo-labels: the labels it used (the argmax of soft targets) and each
    # one's weight in it (1 or 0 for a mask, between for SoftMatch's), logged as the mask rate.
    loss_labels: torch.Tensor | None = None
    loss_mask: torch.Tensor | None = None


# The confidence rule, in one place: the losses, the logged mask rates, the probes and the threshold page's
# what-if all read pseudo-labels through these three, so the what-if at a run's own tau and T is its loss's mask.
def pseudo_label_distribution(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """q = softmax(logits / T), detached: what a pseudo-label and its confidence are read from."""
    return (logits.detach() / temperature).softmax(dim=-1)


def passes(confidence: torch.Tensor, threshold: float) -> torch.Tensor:
    """1 where max q >= tau, else 0: FixMatch's mask."""
    return (confidence >= threshold).float()


def confidence_and_labels(logits: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """max q and argmax q: a pseudo-label and its confidence."""
    return pseudo_label_distribution(logits, temperature).max(dim=-1)


def pseudo_labels(logits: torch.Tensor, threshold: float, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Hard labels argmax q and the mask max q >= threshold."""
    confidence, labels = confidence_and_labels(logits, temperature)
    return labels, passes(confidence, threshold)


def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the whole batch of mask * CE: samples below the threshold count as zero, as in FixMatch.
    `labels` are class indices, or probabilities (soft targets, as Meta Pseudo Labels' UDA term)."""
    return (F.cross_entropy(logits, labels, reduction="none") * mask).mean()


def softmax_mse(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """1/(C N) sum ||softmax(a) - softmax(b)||^2: the consistency of Pi-Model and Mean Teacher."""
    return (logits_a.softmax(dim=-1) - logits_b.softmax(dim=-1)).pow(2).mean()


def cosine_decay(step: int, total: int) -> float:
    """FixMatch's learning-rate schedule: lr * cos(7 pi k / 16 K), ending at about a fifth of the initial rate."""
    return math.cos(7 * math.pi * step / (16 * total))


def sigmoid_rampup(progress: float, length: float) -> float:
    """exp(-5 (1 - t)^2) with t = progress / length, then 1 (Laine and Aila's ramp-up)."""
    t = min(progress / length, 1.0) if length > 0 else 1.0
    return math.exp(-5.0 * (1.0 - t) ** 2)


def cosine_momentum(base: float, progress: float) -> float:
    """1 - (1 - base)(cos(pi t) + 1) / 2: from base at the start to 1 at the end (BYOL's target momentum)."""
    return 1 - (1 - base) * (math.cos(math.pi * progress) + 1) / 2


def queue(memory: torch.Tensor | None, new: torch.Tensor, size: int) -> torch.Tensor:
    """The last `size` rows of `memory` followed by `new` (CoMatch's and SimMatch's memories)."""
    return (new if memory is None else torch.cat([memory, new]))[-size:]


def linear_rampup(progress: float, length: float) -> float:
    """t = progress / length, then 1 (the ramp-up of Pseudo-Label's weight and of MixMatch's)."""
    return min(progress / length, 1.0) if length > 0 else 1.0


class Algorithm:
    # RunConfig fields left None take these.
    defaults = {"threshold": 0.95, "lambda_u": 1.0, "ema_decay": 0.99, "ema_schedule": "constant", "batch_size": 16,
                "mu": 7, "lr": 0.1}
    uses_ema = False  # keep an exponential moving average of the weights (`average`), which the loop evaluates
    has_classifier = True  # the model's head is trained: log test accuracy and probe logits
    learns_representation = False  # log kNN and linear-probe accuracy of the embedding, store embeddings
    parent_must = None  # "learn a representation" or "classify": the method starts from such a run's weights
    width_factor = 1.0  # of the model's width
    teacher: nn.Module | None = None  # the network whose predictions the model learns from; None: the model's own
    presentation: Presentation  # each method's own (tests/test_presentation.py)

    def __init__(self, model: nn.Module, config: RunConfig, generator: torch.Generator, num_classes: int,
                 num_unlabeled: int, labeled_marginal: torch.Tensor | None = None, average: nn.Module | None = None):
        self.model = model
        self.config = config
        self.rng = generator
        self.num_classes, self.num_unlabeled = num_classes, num_unlabeled
        self.device = next(model.parameters()).device  # where a method's own state lives
        # p(y) of the labeled set (uniform if not given), the target of ReMixMatch's alignment
        self.labeled_marginal = (torch.full((num_classes,), 1 / num_classes) if labeled_marginal is None
                                 else labeled_marginal).to(self.device)
        self.average = average  # the EMA of the model's weights, given by the loop when uses_ema
        self.mirror = mirrored(config.dataset)

    def uniform(self) -> torch.Tensor:
        """1/C for every class: where the running marginals of FreeMatch, SoftMatch and AdaMatch start."""
        return torch.full((self.num_classes,), 1 / self.num_classes, device=self.device)

    @classmethod
    def heads(cls, model: nn.Module, config: RunConfig) -> dict[str, nn.Module]:
        """Heads the method adds to the model's embedding (SimCLR's projection, S4L's rotation head), by the
        name the model carries them under. They are drawn with the model, before the optimizer and the average
        are built, so that both train and average them and checkpoints carry them."""
        return {}

    @classmethod
    def equip(cls, model: nn.Module, config: RunConfig) -> nn.Module:
        """The model with this method's heads on it, on the model's device."""
        device = next(model.parameters()).device
        for name, head in cls.heads(model, config).items():
            setattr(model, name, head.to(device))
        return model

    def ema_decay(self, step: int, steps: int) -> float:
        """The decay of the weights' average after `step` of `steps`: ema_decay raised to 1 on the cosine (BYOL's
        target), or ema_decay once past the warm-up, before which the average follows the trained weights
        closely: held at 0.99 from the first step, a 200-step run was scored on weights 13 % its initial ones."""
        c = self.config
        return cosine_momentum(c.ema_decay, step / steps) if c.ema_schedule == "cosine" else min(
            c.ema_decay, self.ema_warmup(step))

    @staticmethod
    def ema_warmup(step: int) -> float:
        """(1 + n) / (10 + n), TensorFlow's ExponentialMovingAverage with num_updates."""
        return (1 + step) / (10 + step)

    def weak(self, x: torch.Tensor) -> torch.Tensor:
        return augment.weak(x, self.rng, self.mirror) if self.config.weak_augment else x

    def strong(self, x: torch.Tensor) -> torch.Tensor:
        return augment.strong(x, self.rng, self.mirror)

    def train_step(self, x_labeled: torch.Tensor, y_labeled: torch.Tensor, x_unlabeled: torch.Tensor,
                   progress: float, unlabeled_index: torch.Tensor) -> StepResult:
        """One step's loss. `progress` in [0, 1) is the share of training done, for ramp-ups;
        `unlabeled_index` says which unlabeled samples `x_unlabeled` holds, for per-sample memories."""
        raise NotImplementedError

    def pseudo_labeler(self) -> nn.Module:
        """The network whose predictions on unlabeled data are the pseudo-labels (`StepResult.unlabeled_logits`):
        the teacher, or the model itself. The probe snapshots read the same one, so the what-if and the
        pseudo-label curves score one network's logits; a method that transforms them before labelling (SoftMatch's
        and AdaMatch's alignment, CoMatch's smoothing) labels from other numbers than both show."""
        return self.model if self.teacher is None else self.teacher

    def adopt(self, parent: nn.Module):
        """Take over the parent run's trained model, before the loop builds the optimizer (fine-tune, distill)."""
        raise NotImplementedError(f"{type(self).__name__} does not start from a parent run")

    def forward_together(self, *batches: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One forward pass over all views, so BatchNorm sees labeled and unlabeled data alike."""
        logits = self.model(torch.cat(batches))
        return logits.split([len(b) for b in batches])
