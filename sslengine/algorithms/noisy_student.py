"""Noisy Student (Xie et al., 2020): a teacher labels clean unlabeled images; a noised student learns from
those labels and the true ones; the student becomes the next teacher.

round 0:   theta_t = argmin CE(y, f(x_l))                                        (the first teacher)
round r:   q_u = argmax f(u; theta_t)                                            (clean input, hard labels)
           loss = CE(y, f(noise(x_l))) + lambda_u * (1/muB) sum_u CE(q_u, f(noise(u)))
           then theta_t <- theta                                                 (the student teaches next)
Noise is the strong augmentation. The student continues from the teacher's weights rather than starting
over, so all rounds fit in one run's schedule (the paper retrains, and also adds dropout and stochastic depth).
Hard labels: with soft ones (T = 1) the 20-label teacher's flat outputs made each student flatter (0.58 on
digits against 0.86); five rounds instead of three also did worse (0.81).
"""
import copy

import torch
import torch.nn.functional as F

from .base import Algorithm, Presentation, StepResult

ROUNDS = 3  # teacher-to-student hand-overs after the first, labels-only teacher


class NoisyStudent(Algorithm):
    presentation = Presentation("Noisy Student")
    round = 0  # round 0: the labels alone, no teacher yet

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        round_now = min(int(progress * (ROUNDS + 1)), ROUNDS)
        if round_now != self.round:  # the student so far becomes the teacher
            self.round, self.teacher = round_now, copy.deepcopy(self.model).eval().requires_grad_(False)
        if self.teacher is None:
            loss_x = F.cross_entropy(self.model(self.weak(x_labeled)), y_labeled)
            return StepResult(loss_x, {"loss_x": loss_x}, monitors={"round": 0})

        with torch.no_grad():
            logits_teacher = self.teacher(self.weak(x_unlabeled))
        hard_labels = logits_teacher.argmax(dim=-1)
        logits_x, logits_u = self.forward_together(self.strong(x_labeled), self.strong(x_unlabeled))
        loss_x = F.cross_entropy(logits_x, y_labeled)
        loss_u = F.cross_entropy(logits_u, hard_labels)
        return StepResult(loss_x + self.config.lambda_u * loss_u, {"loss_x": loss_x, "loss_u": loss_u},
                          logits_teacher, monitors={"round": self.round}, loss_labels=hard_labels,
                          loss_mask=torch.ones_like(hard_labels, dtype=torch.float))  # every label counts
