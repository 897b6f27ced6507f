"""FixMatch (Sohn et al., 2020): pseudo-label the weak view, train the strong view on it.

loss = CE(y, f(weak(x_l))) + lambda_u * (1/muB) sum_u 1[max q_u >= tau] CE(argmax q_u, f(strong(x_u))),
q_u = softmax(f(weak(x_u)) / T)
Its family changes only `mask` (which pseudo-labels count, or how much: FlexMatch, FreeMatch, SoftMatch,
AdaMatch) and `align` (the predictions' marginal before labelling: SoftMatch, AdaMatch), and the state these
keep. Both hooks also get the labeled batch's predictions p_l, for rules relative to them (AdaMatch).
"""
import torch
import torch.nn.functional as F

from .base import Algorithm, StepResult, masked_cross_entropy, pseudo_labels


def fixmatch_loss(logits_weak, logits_strong, threshold, temperature):
    """The unlabeled term: labels from the weak view, loss on the strong view, below-threshold samples zeroed."""
    labels, mask = pseudo_labels(logits_weak, threshold, temperature)
    return masked_cross_entropy(logits_strong, labels, mask)


class FixMatch(Algorithm):
    uses_ema = True

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        logits_x, logits_weak, logits_strong = self.forward_together(
            self.weak(x_labeled), self.weak(x_unlabeled), self.strong(x_unlabeled))
        loss_x = F.cross_entropy(logits_x, y_labeled)
        loss_u, monitors = self.unlabeled_loss(logits_weak, logits_strong, unlabeled_index, logits_x)
        return StepResult(loss_x + self.config.lambda_u * loss_u, {"loss_x": loss_x, "loss_u": loss_u},
                          logits_weak, monitors)

    def unlabeled_loss(self, logits_weak, logits_strong, unlabeled_index, logits_x) -> tuple[torch.Tensor, dict]:
        """The strong view trained on the weak view's hard labels where `mask` lets them count; the mask's
        monitors. `logits_x`: the labeled batch's, whose predictions the hooks may compare against."""
        p_l = (logits_x.detach() / self.config.temperature).softmax(dim=-1)
        q = self.align((logits_weak.detach() / self.config.temperature).softmax(dim=-1), p_l)
        mask, monitors = self.mask(q, unlabeled_index, p_l)
        return masked_cross_entropy(logits_strong, q.max(dim=-1).indices, mask), monitors

    def align(self, q: torch.Tensor, p_l: torch.Tensor) -> torch.Tensor:
        """The predictions the pseudo-labels are read from, their marginal aligned where a method does so.
        FixMatch: q as it is."""
        return q

    def mask(self, q: torch.Tensor, unlabeled_index: torch.Tensor, p_l: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """1 where the pseudo-label argmax q counts, 0 where it does not (or a weight between), and what to log
        of the rule's state.
        `unlabeled_index` names the samples, for rules that remember each one. FixMatch: max q >= tau."""
        return (q.max(dim=-1).values >= self.config.threshold).float(), {}
