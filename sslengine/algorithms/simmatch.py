"""SimMatch (Zheng et al., 2022): pseudo-labels from the classifier and from the similarity to a memory of
labeled embeddings, each calibrating the other.

z = normalize(g(e(.))), (z_k, y_k) a memory of the EMA model's weak-view embeddings of labeled samples
s^w = softmax_k(z_w . z_k / t),  s^s = softmax_k(z_s . z_k / t),  t = 0.1      (similarity to each memory item)
p   = DA(softmax(f(weak(u))))       (towards uniform over the last 32 batches' mean prediction, as USB's)
q_k = s^w_k p_{y_k} / sum_j s^w_j p_{y_j}          (unfolding: the instance pseudo-label, scaled by the class's)
p^_c = alpha p_c + (1 - alpha) sum_{k: y_k = c} s^w_k,  alpha = 0.9     (aggregation: the class pseudo-label)
loss = CE(y, f(weak(x_l))) + lambda_u (1/muB) sum_u 1[max p^ >= tau] H(p^, f(strong(u)))
       + lambda_in (1/muB) sum_u H(q, s^s)
The memory is a queue of the labeled batches' embeddings, MEMORY long, filled before the step reads it (the
paper keeps one slot per labeled image, and a queue on ImageNet).
"""
import torch
import torch.nn.functional as F

from .base import AT_TAU, Algorithm, Presentation, StepResult, masked_cross_entropy, queue
from .comatch import CoMatch
from .simclr import SimCLR

SIMILARITY_TEMPERATURE = 0.1  # t
ALPHA = 0.9  # weight of the classifier's own prediction in p^
LAMBDA_IN = 1.0
MEMORY = 256


def similarity(z: torch.Tensor, memory_z: torch.Tensor) -> torch.Tensor:
    """z . z_k / t over the memory's embeddings: s = softmax_k of it."""
    return z @ memory_z.T / SIMILARITY_TEMPERATURE


def instance_loss(q: torch.Tensor, z_strong: torch.Tensor, memory_z: torch.Tensor) -> torch.Tensor:
    """H(q, s^s): the strong view's similarities to the memory trained towards the unfolded pseudo-labels."""
    return -(q * similarity(z_strong, memory_z).log_softmax(dim=-1)).sum(dim=-1).mean()


def unfold_and_aggregate(s_weak: torch.Tensor, p: torch.Tensor, memory_y: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """q (instance pseudo-labels over the memory) and p^ (class pseudo-labels), each calibrated by the other."""
    q = s_weak * p.gather(1, memory_y.expand(len(p), -1))
    q = q / q.sum(dim=-1, keepdim=True)
    aggregated = torch.zeros_like(p).scatter_add(1, memory_y.expand(len(p), -1), s_weak)
    return q, ALPHA * p + (1 - ALPHA) * aggregated


class SimMatch(Algorithm):
    presentation = Presentation("SimMatch", page="threshold",
                                formula=r"\ell_u = \frac{1}{\mu B}\sum_b \mathbb{1}\!\left[\max \hat p_b \ge "
                                        r"\tau\right] H(\hat p_b, f(\mathcal{A}(u_b))) + \lambda_{in} H(q_b, s^s_b),"
                                        r"\quad \hat p_c = \alpha p_c + (1 - \alpha)\!\sum_{k: y_k = c}\! s^w_k",
                                series=(AT_TAU,),
                                about="SimMatch blends the classifier's pseudo-label with the labels of the labeled "
                                      "embeddings most similar to the sample: its mask is read from the blend.")
    uses_ema = True
    heads = SimCLR.heads  # the projection g
    align = CoMatch.align  # the same distribution alignment, towards uniform

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.memory_z = self.memory_y = None
        self.recent_predictions = torch.empty(0, self.num_classes, device=self.device)

    def project(self, network, embedding: torch.Tensor) -> torch.Tensor:
        return F.normalize(network.projection(embedding), dim=-1)

    def remember(self, z: torch.Tensor, y: torch.Tensor):
        self.memory_z, self.memory_y = queue(self.memory_z, z, MEMORY), queue(self.memory_y, y, MEMORY)

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        c = self.config
        x, u_weak, u_strong = self.weak(x_labeled), self.weak(x_unlabeled), self.strong(x_unlabeled)
        embedding = self.model.embed(torch.cat([x, u_weak, u_strong]))  # one pass: BatchNorm sees every view
        logits_x, logits_weak, logits_strong = self.model.head(embedding).split([len(x), len(u_weak), len(u_strong)])
        _, z_weak, z_strong = self.project(self.model, embedding).split([len(x), len(u_weak), len(u_strong)])
        with torch.no_grad():
            self.remember(self.project(self.average, self.average.embed(x)), y_labeled)
            p = self.align(logits_weak.detach().softmax(dim=-1))
            s_weak = similarity(z_weak.detach(), self.memory_z).softmax(dim=-1)
            q, p_hat = unfold_and_aggregate(s_weak, p, self.memory_y)
            mask = (p_hat.max(dim=-1).values >= c.threshold).float()
        loss_x = F.cross_entropy(logits_x, y_labeled)
        loss_u = masked_cross_entropy(logits_strong, p_hat, mask)  # soft targets
        loss_in = instance_loss(q, z_strong, self.memory_z)
        return StepResult(loss_x + c.lambda_u * loss_u + LAMBDA_IN * loss_in,
                          {"loss_x": loss_x, "loss_u": loss_u, "loss_in": loss_in}, logits_weak.detach(),
                          loss_labels=p_hat.argmax(dim=-1), loss_mask=mask)
