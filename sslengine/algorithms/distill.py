"""Distillation into a smaller student (SimCLRv2, Chen et al., 2020): the fine-tuned teacher labels the
unlabeled images with its softened predictions.

loss = -1/muB sum_u sum_y p_T(y | u; tau) log p_S(y | u; tau),  p(y | u; tau) = softmax(f(weak(u)) / tau),
the teacher frozen, the student half its width. No labels enter the loss.
"""
import torch

from .base import Algorithm, Presentation, StepResult


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float):
    """Cross-entropy of the student's tempered softmax against the teacher's, averaged over the batch."""
    target = (teacher_logits.detach() / temperature).softmax(dim=-1)
    return -(target * (student_logits / temperature).log_softmax(dim=-1)).sum(dim=-1).mean()


class Distill(Algorithm):
    presentation = Presentation("Distillation", page="pipeline", query="group")
    parent_must = "classify"
    width_factor = 0.5

    def adopt(self, parent):
        self.teacher = parent.eval().requires_grad_(False)

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        views = self.weak(x_unlabeled)
        with torch.no_grad():
            teacher_logits = self.teacher(views)
        loss_u = distillation_loss(self.model(views), teacher_logits, self.config.distill_temperature)
        return StepResult(loss_u, {"loss_u": loss_u}, teacher_logits)
