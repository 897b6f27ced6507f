"""S4L-Rotation (Zhai et al., 2019): the supervised loss plus predicting each image's rotation, on all images.

loss = CE(y, f(weak(x_l))) + lambda_u * 1/|L + U| sum_{x in L + U} CE(r_x, g(rot_{r_x}(weak(x)))),
r_x uniform in {0, 90, 180, 270} degrees, g a 4-way head on the shared embedding. Each image gets one random
rotation per step rather than all four: the same expectation at a quarter of the cost.
"""
import torch
import torch.nn.functional as F
from torch import nn

from .. import augment
from .base import Algorithm, StepResult


class S4LRotation(Algorithm):
    def __init__(self, model, config, generator, num_unlabeled):
        super().__init__(model, config, generator, num_unlabeled)
        # On the model, so that the optimizer trains it and checkpoints carry it.
        model.rotation_head = nn.Linear(model.head.in_features, 4).to(next(model.parameters()).device)

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        everything = augment.weak(torch.cat([x_labeled, x_unlabeled]), self.rng)
        turns = torch.randint(4, (len(everything),), device=everything.device, generator=self.rng)
        rotated = augment.rotate_quarters(everything, turns)
        upright = everything[:len(x_labeled)]
        embedding = self.model.embed(torch.cat([upright, rotated]))  # one pass: BatchNorm sees both
        logits_x = self.model.head(embedding[:len(upright)])
        logits_rotation = self.model.rotation_head(embedding[len(upright):])
        loss_x = F.cross_entropy(logits_x, y_labeled)
        loss_u = F.cross_entropy(logits_rotation, turns)
        rotation_acc = (logits_rotation.argmax(dim=-1) == turns).float().mean()
        return StepResult(loss_x + self.config.lambda_u * loss_u, {"loss_x": loss_x, "loss_u": loss_u},
                          monitors={"rotation_acc": rotation_acc})
