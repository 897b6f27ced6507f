"""BYOL (Grill et al., 2020): an online network predicts a slowly moving target network's projection of
another view of the same image; no negatives.

loss = sum over (v, v') in {(v_1, v_2), (v_2, v_1)} of mean_i ||q(z(v))_i / |q(z(v))_i| - z'(v')_i / |z'(v')_i| ||^2,
z = g(e(.)) online, z' = g'(e'(.)) the target, q the predictor; each term is 2 - 2 cos. The target (e', g')
is the loop's EMA of the online network, xi <- tau xi + (1 - tau) theta, and gets no gradient: the predictor
and the slow target are what keep the two branches from collapsing to a constant. As in the paper (and MoCo
v3's), tau rises from tau_base = ema_decay to 1 as tau = 1 - (1 - tau_base)(cos(pi k / K) + 1) / 2 (ema_schedule
"cosine"; "constant" holds it at tau_base).
"""
import torch
import torch.nn.functional as F
from torch import nn

from .. import augment
from .base import Algorithm, Presentation, StepResult
from .simclr import PROJECTION_DIM, SimCLR, projection_head


def byol_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean ||p/|p| - z/|z| ||^2 = mean (2 - 2 cos(p, z)), the target detached."""
    return (2 - 2 * F.cosine_similarity(prediction, target.detach(), dim=-1)).mean()


def predictor_head(width: int) -> nn.Sequential:
    """q: Linear, BatchNorm, ReLU, Linear, from the projection back to it."""
    return nn.Sequential(nn.Linear(PROJECTION_DIM, width, bias=False), nn.BatchNorm1d(width), nn.ReLU(),
                         nn.Linear(width, PROJECTION_DIM))


class BYOL(Algorithm):
    presentation = Presentation("BYOL", page="embeddings")
    # SimCLR's batch and views; a target that follows the online network quickly enough for 1000 steps.
    defaults = SimCLR.defaults | {"ema_decay": 0.99, "ema_schedule": "cosine"}  # as BYOL's and MoCo v3's papers
    uses_ema = True  # the loop's average is the target network, and the representation scored and kept
    learns_representation = True
    has_classifier = False

    @classmethod
    def heads(cls, model, config):
        width = model.head.in_features
        return {"projection": projection_head(width, config.projection_layers), "predictor": predictor_head(width)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.target = self.average

    def pair_loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return byol_loss(prediction, target)

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        strength = self.config.augment_strength
        views = torch.cat([augment.simclr_view(x_unlabeled, strength, self.rng),
                           augment.simclr_view(x_unlabeled, strength, self.rng)])
        p_1, p_2 = self.model.predictor(self.model.projection(self.model.embed(views))).chunk(2)
        with torch.no_grad():
            z_1, z_2 = self.target.projection(self.target.embed(views)).chunk(2)
        loss = self.pair_loss(p_1, z_2) + self.pair_loss(p_2, z_1)  # each view predicts the other's target
        return StepResult(loss, {"loss_contrastive": loss})
