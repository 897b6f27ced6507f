"""CoMatch (Li, Xiong and Hoi, 2021): class probabilities and embeddings regularise each other.

p_b    = normalize(softmax(f(weak(u_b))) u / p_bar),  p_bar the mean prediction of the last 32 batches,
         u = 1 / C                                                        (distribution alignment, as the paper)
q_b    = alpha p_b + (1 - alpha) sum_k softmax_k(z_b . z_k / t) p_k    memory-smoothed pseudo-labels: (z_k, p_k) a
         memory of recent weak-view embeddings with their labels (one-hot for labeled samples, the aligned p_b
         before smoothing for unlabeled ones, as the references store them: smoothing does not compound)
W^q_bj = q_b . q_j, 1 on the diagonal, below tau_c set to 0, rows normalised       the pseudo-label graph
W^z_bj = softmax_j(z'_b . z''_j / t), z', z'' two strong views' projections         the embedding graph
loss   = CE(y, f(weak(x_l))) + lambda_u 1/muB sum_b 1[max q_b >= tau] H(q_b, f(strong(u_b)))
         + lambda_c 1/muB sum_b H(W^q_b, W^z_b)
Samples whose pseudo-labels agree are pulled together in the embedding, and neighbours in the embedding
smooth each other's pseudo-labels. The memory smooths once it is full.
"""
import torch
import torch.nn.functional as F

from .base import AT_TAU, Algorithm, Presentation, StepResult, queue
from .simclr import SimCLR

ALPHA = 0.9  # weight of the model's own prediction in the smoothed pseudo-label
GRAPH_THRESHOLD = 0.8  # tau_c: pseudo-label similarities below it are no edge
EMBEDDING_TEMPERATURE = 0.2  # t
LAMBDA_CONTRASTIVE = 1.0
MEMORY = 2560  # samples, as the paper's CIFAR-10 queue: 20 of our default steps
ALIGN_BATCHES = 32  # batches whose mean prediction p_bar averages (USB's da_len)


def smoothed_pseudo_labels(p: torch.Tensor, z: torch.Tensor, memory_z: torch.Tensor,
                           memory_q: torch.Tensor) -> torch.Tensor:
    """alpha p + (1 - alpha) A q_mem with A the softmax over the memory of embedding similarities."""
    affinity = (z @ memory_z.T / EMBEDDING_TEMPERATURE).softmax(dim=-1)
    return ALPHA * p + (1 - ALPHA) * affinity @ memory_q


def graph_contrastive_loss(q: torch.Tensor, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """The cross-entropy between each row of the pseudo-label graph W^q and of the embedding graph W^z."""
    graph = q @ q.T
    graph.fill_diagonal_(1)
    graph = graph * (graph >= GRAPH_THRESHOLD)
    graph = graph / graph.sum(dim=-1, keepdim=True)
    log_embedding_graph = (z_a @ z_b.T / EMBEDDING_TEMPERATURE).log_softmax(dim=-1)
    return -(graph * log_embedding_graph).sum(dim=-1).mean()


class CoMatch(Algorithm):
    presentation = Presentation("CoMatch", page="threshold",
                                formula=r"\ell_u = \frac{1}{\mu B}\sum_b \mathbb{1}\!\left[\max q_b \ge \tau\right] "
                                        r"H(q_b, f(\mathcal{A}(u_b))) + \lambda_c H(W^q_b, W^z_b),\quad q_b = \alpha "
                                        r"p_b + (1 - \alpha)\sum_k \mathrm{softmax}_k(z_b \cdot z_k / t)\, p_k",
                                series=(AT_TAU,),
                                about="CoMatch smooths each pseudo-label with those of its neighbours in the "
                                      "embedding: its mask is read from the smoothed label.")
    uses_ema = True
    heads = SimCLR.heads  # the projection g that gives the embeddings z

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.memory_z = self.memory_q = None
        self.recent_predictions = torch.empty(0, self.num_classes, device=self.device)

    def align(self, p: torch.Tensor) -> torch.Tensor:
        """p towards a uniform marginal: divided by the recent batches' mean prediction, renormalised."""
        self.recent_predictions = torch.cat([self.recent_predictions, p.mean(dim=0, keepdim=True)])[-ALIGN_BATCHES:]
        aligned = p / self.recent_predictions.mean(dim=0) / self.num_classes
        return aligned / aligned.sum(dim=-1, keepdim=True)

    def project(self, embedding: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.projection(embedding), dim=-1)

    def remember(self, z: torch.Tensor, q: torch.Tensor):
        self.memory_z, self.memory_q = queue(self.memory_z, z, MEMORY), queue(self.memory_q, q, MEMORY)

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        c = self.config
        views = [self.weak(x_labeled), self.weak(x_unlabeled), self.strong(x_unlabeled), self.strong(x_unlabeled)]
        embedding = self.model.embed(torch.cat(views))  # one pass: BatchNorm sees every view
        e_x, e_weak, e_strong, e_strong_2 = embedding.split([len(v) for v in views])
        logits_x, logits_weak, logits_strong = self.model.head(torch.cat([e_x, e_weak, e_strong])).split(
            [len(e_x), len(e_weak), len(e_strong)])
        z_x, z_weak, z_strong, z_strong_2 = self.project(embedding).split([len(v) for v in views])
        with torch.no_grad():
            p = self.align((logits_weak.detach() / c.temperature).softmax(dim=-1))
            z_x, z_weak = z_x.detach(), z_weak.detach()
            memory_full = self.memory_z is not None and len(self.memory_z) == MEMORY
            q = smoothed_pseudo_labels(p, z_weak, self.memory_z, self.memory_q) if memory_full else p
            self.remember(torch.cat([z_x, z_weak]), torch.cat([F.one_hot(y_labeled, self.num_classes).to(p.dtype), p]))
            mask = (q.max(dim=-1).values >= c.threshold).float()
        loss_x = F.cross_entropy(logits_x, y_labeled)
        loss_u = (-(q * logits_strong.log_softmax(dim=-1)).sum(dim=-1) * mask).mean()
        loss_c = graph_contrastive_loss(q, z_strong, z_strong_2)
        return StepResult(loss_x + c.lambda_u * loss_u + LAMBDA_CONTRASTIVE * loss_c,
                          {"loss_x": loss_x, "loss_u": loss_u, "loss_contrastive": loss_c}, logits_weak.detach(),
                          loss_labels=q.argmax(dim=-1), loss_mask=mask)
