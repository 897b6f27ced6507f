"""MoCo v3 (Chen, Xie and He, 2021): BYOL's online and momentum networks, with a contrastive loss over the
batch: each view's query must find the momentum key of its own image's other view among all the batch's keys.

loss = ctr(q_1, k_2) + ctr(q_2, k_1),  ctr(q, k) = 2 tau_c * 1/N sum_i -log( exp(q_i . k_i / tau_c) / sum_j exp(q_i . k_j / tau_c) ),
q = h(g(e(v))) the online query through the predictor h, k = g'(e'(v)) the momentum key, both unit vectors;
the momentum encoder (e', g') is the loop's EMA of the online network and gets no gradient. The 2 tau_c
factor is the paper's, keeping the gradient's scale apart from the temperature.
"""
import torch
import torch.nn.functional as F

from .base import Presentation
from .byol import BYOL


def moco_contrastive_loss(query: torch.Tensor, key: torch.Tensor, temperature: float) -> torch.Tensor:
    """2 tau CE(q k^T / tau, i): the positive of query i is key i, the other keys of the batch its negatives."""
    query, key = F.normalize(query, dim=1), F.normalize(key.detach(), dim=1)
    logits = query @ key.T / temperature
    return 2 * temperature * F.cross_entropy(logits, torch.arange(len(query), device=query.device))


class MoCoV3(BYOL):
    presentation = Presentation("MoCo v3", page="embeddings")

    def pair_loss(self, prediction, target):
        return moco_contrastive_loss(prediction, target, self.config.contrastive_temperature)
