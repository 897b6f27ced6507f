"""FixMatch with SimCLR's contrastive loss added, on the unlabeled views (variant U) or on the labeled
images (variant L); plain FixMatch is the baseline O.

loss = FixMatch's loss + NT-Xent(g(e(weak(v))), g(e(strong(v))); T_c),  v = x_u (U) or x_l (L),
g a projection head on the shared embedding e, T_c the contrastive temperature (0.2, as SimCLR). The weak and
strong views FixMatch already draws are the pair, so variant U costs no extra forward pass.
"""
import torch
import torch.nn.functional as F

from .base import Presentation, StepResult
from .fixmatch import FixMatch
from .simclr import SimCLR, nt_xent


class FixMatchSimCLR(FixMatch):
    presentation = Presentation("FixMatch + SimCLR", page="pipeline", query="olu")
    learns_representation = True

    heads = SimCLR.heads  # its projection head on the shared embedding

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        c = self.config
        views = [self.weak(x_labeled), self.weak(x_unlabeled), self.strong(x_unlabeled)]
        if c.variant == "L":
            views.append(self.strong(x_labeled))
        embedding = self.model.embed(torch.cat(views))  # one pass: BatchNorm sees every view
        e_x, e_weak, e_strong, *e_x_strong = embedding.split([len(v) for v in views])
        logits_x, logits_weak, logits_strong = self.model.head(torch.cat([e_x, e_weak, e_strong])).split(
            [len(e_x), len(e_weak), len(e_strong)])
        loss_x = F.cross_entropy(logits_x, y_labeled)
        loss_u, labels, mask, monitors = self.unlabeled_loss(logits_weak, logits_strong, unlabeled_index, logits_x)
        pair = torch.cat([e_weak, e_strong] if c.variant == "U" else [e_x, e_x_strong[0]])
        loss_c = nt_xent(*self.model.projection(pair).chunk(2), c.contrastive_temperature)
        return StepResult(loss_x + c.lambda_u * loss_u + loss_c,
                          {"loss_x": loss_x, "loss_u": loss_u, "loss_contrastive": loss_c}, logits_weak, monitors,
                          labels, mask)
