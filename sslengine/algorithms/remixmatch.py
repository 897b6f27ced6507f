"""ReMixMatch (Berthelot et al., 2020): MixMatch with distribution alignment and augmentation anchoring, plus
predicting rotations.

q_b = Sharpen(Normalize(p(y | weak(u_b)) p(y) / p~(y)); T),  p(y) the labeled set's class marginal (as the
      paper and USB: no class has p(y) = 0 at the first steps, as a count of the batches seen gave), p~(y) the
      model's mean prediction on unlabeled batches over the last 128 steps
U   = (strong_k(u_b), q_b) for k = 1..K and (weak(u_b), q_b): K strong views anchored on the weak view's guess
X', U' mixed as MixMatch's; the unlabeled term is a cross-entropy, not a squared error:
loss = H(X') + w(t) (lambda_u H(U') + lambda_u1 H(q, f(strong_1(u)))) + lambda_r CE(r, g(rot_r(strong_1(u)))),
r a random quarter turn, g a rotation head on the embedding (S4L's). K = 2 by default, as USB runs it; the
paper's 8 strong views cost four times the forward passes. The labeled view is weak, as in USB.
"""
import torch
import torch.nn.functional as F

from .. import augment
from .base import Presentation, StepResult, linear_rampup
from .mixmatch import RAMP_UP, MixMatch, sharpen, soft_cross_entropy
from .s4l_rotation import S4LRotation

HISTORY = 128  # steps over which p~(y) averages the unlabeled predictions
LAMBDA_U1, LAMBDA_ROTATION = 0.5, 0.5  # the paper's weights of the un-mixed strong view and of rotation


class ReMixMatch(MixMatch):
    presentation = Presentation("ReMixMatch")

    defaults = MixMatch.defaults | {"lambda_u": 1.5}
    heads = S4LRotation.heads  # the rotation head on the shared embedding

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.recent_predictions = torch.empty(0, self.num_classes, device=self.device)

    def align(self, p: torch.Tensor) -> torch.Tensor:
        """Distribution alignment: p scaled by the labeled set's marginal over the recent mean prediction."""
        self.recent_predictions = torch.cat([self.recent_predictions, p.mean(dim=0, keepdim=True)])[-HISTORY:]
        aligned = p * self.labeled_marginal / self.recent_predictions.mean(dim=0)
        return aligned / aligned.sum(dim=-1, keepdim=True)

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        c = self.config
        weak_u = self.weak(x_unlabeled)
        strong_u = [self.strong(x_unlabeled) for _ in range(c.augmentations)]
        with torch.no_grad():
            aligned = self.align(self.model(weak_u).softmax(dim=-1))
        q = sharpen(aligned, c.sharpen_temperature)
        x = self.weak(x_labeled)
        p_x = F.one_hot(y_labeled, q.shape[1]).to(q.dtype)
        inputs, targets = self.mix(x, p_x, torch.cat([*strong_u, weak_u]), q.repeat(len(strong_u) + 1, 1))
        turns = torch.randint(4, (len(weak_u),), device=weak_u.device, generator=self.rng)
        rotated = augment.rotate_quarters(strong_u[0], turns)
        embedding = self.model.embed(torch.cat([inputs, strong_u[0], rotated]))  # one pass: BatchNorm sees all
        e_mixed, e_anchored, e_rotated = embedding.split([len(inputs), len(weak_u), len(weak_u)])
        logits_mixed, logits_anchored = self.model.head(torch.cat([e_mixed, e_anchored])).split(
            [len(inputs), len(weak_u)])
        loss_x = soft_cross_entropy(logits_mixed[:len(x)], targets[:len(x)])
        loss_u = soft_cross_entropy(logits_mixed[len(x):], targets[len(x):])
        loss_u1 = soft_cross_entropy(logits_anchored, q)
        loss_rotation = F.cross_entropy(self.model.rotation_head(e_rotated), turns)
        weight = linear_rampup(progress, RAMP_UP)
        loss = loss_x + weight * (c.lambda_u * loss_u + LAMBDA_U1 * loss_u1) + LAMBDA_ROTATION * loss_rotation
        # log(aligned) as the logits: the probes' softmax(logits / T) of it is the sharpened target q
        return StepResult(loss, {"loss_x": loss_x, "loss_u": loss_u, "loss_u1": loss_u1,
                                 "loss_rotation": loss_rotation}, q.log(),  # the sharpened guess, as MixMatch
                          monitors={"consistency_weight": weight * c.lambda_u})
