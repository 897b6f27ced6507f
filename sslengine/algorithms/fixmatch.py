"""FixMatch (Sohn et al., 2020): pseudo-label the weak view, train the strong view on it.

loss = CE(y, f(weak(x_l))) + lambda_u * (1/muB) sum_u 1[max q_u >= tau] CE(argmax q_u, f(strong(x_u))),
q_u = softmax(f(weak(x_u)) / T)
Its family changes only `align` (the predictions' marginal before masking: SoftMatch, AdaMatch), `mask` (which
pseudo-labels count, or how much: FlexMatch, FreeMatch, SoftMatch, AdaMatch) and `labels_from_aligned` (SoftMatch
reads its labels from the predictions as they are, as USB does), and the state these keep. The hooks also get
the labeled batch's predictions p_l, for rules relative to them (AdaMatch).
"""
import torch
import torch.nn.functional as F

from .base import Algorithm, Presentation, StepResult, masked_cross_entropy, passes, pseudo_label_distribution


class FixMatch(Algorithm):
    presentation = Presentation("FixMatch", page="threshold",
                                formula=r"\ell_u = \frac{1}{\mu B}\sum_{b=1}^{\mu B} \mathbb{1}\!\left[\max q_b \ge "
                                        r"\tau\right]\,\mathrm{CE}\!\left(\arg\max q_b,\; f(\mathcal{A}(u_b))\right),"
                                        r"\quad q_b = \mathrm{softmax}\!\left(f(\alpha(u_b)) / T\right)")
    uses_ema = True
    labels_from_aligned = True  # argmax of the aligned predictions, else of q as it is

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        logits_x, logits_weak, logits_strong = self.forward_together(
            self.weak(x_labeled), self.weak(x_unlabeled), self.strong(x_unlabeled))
        loss_x = F.cross_entropy(logits_x, y_labeled)
        loss_u, labels, mask, monitors = self.unlabeled_loss(logits_weak, logits_strong, unlabeled_index, logits_x)
        return StepResult(loss_x + self.config.lambda_u * loss_u, {"loss_x": loss_x, "loss_u": loss_u},
                          logits_weak, monitors, labels, mask)

    def unlabeled_loss(self, logits_weak, logits_strong, unlabeled_index, logits_x
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """The strong view trained on the weak view's hard labels where `mask` lets them count; the labels, the
        mask and its monitors. `logits_x`: the labeled batch's, whose predictions the hooks may compare against."""
        p_l = pseudo_label_distribution(logits_x, self.config.temperature)
        q = pseudo_label_distribution(logits_weak, self.config.temperature)
        aligned = self.align(q, p_l)
        mask, monitors = self.mask(aligned, unlabeled_index, p_l)
        labels = (aligned if self.labels_from_aligned else q).argmax(dim=-1)
        return masked_cross_entropy(logits_strong, labels, mask), labels, mask, monitors

    def align(self, q: torch.Tensor, p_l: torch.Tensor) -> torch.Tensor:
        """The predictions the mask (and, unless `labels_from_aligned` is off, the labels) are read from, their
        marginal aligned where a method does so. FixMatch: q as it is."""
        return q

    def mask(self, q: torch.Tensor, unlabeled_index: torch.Tensor, p_l: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """1 where the pseudo-label counts, 0 where it does not (or a weight between), and what to log of the
        rule's state. `unlabeled_index` names the samples, for rules that remember each one. FixMatch:
        max q >= tau."""
        return passes(q.max(dim=-1).values, self.config.threshold), {}
