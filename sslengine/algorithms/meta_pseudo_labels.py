"""Meta Pseudo Labels (Pham et al., 2021): the teacher is taught by how much its pseudo-labels help the student.

student:  theta_S' = theta_S - eta * grad CE(y_hat, S(strong(u))),   y_hat = argmax T(strong(u))
feedback: h = CE(y, S(x_l; theta_S)) - CE(y, S(x_l; theta_S'))        (the paper's first-order approximation)
teacher:  loss_T = CE(y, T(x_l)) + lambda_u * UDA(T, u) + h * CE(y_hat, T(strong(u)))
UDA(T, u) = (1/muB) sum_u 1[max q_u >= tau] CE(q_u, T(strong(u))),    q_u = softmax(T(weak(u)) / T)
The teacher has its own optimizer here, with the student's settings and learning-rate schedule (as in the
paper, both decay the same way); the shared loop steps the student on CE(y_hat, S(strong(u))). The student's
labeled loss after its step is measured on a functional copy of its weights (one plain SGD step).
"""
import copy

import torch
import torch.nn.functional as F
from torch.func import functional_call

from .base import Algorithm, Presentation, StepResult, cosine_decay, masked_cross_entropy


class MetaPseudoLabels(Algorithm):
    presentation = Presentation("Meta Pseudo Labels")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        c = self.config
        self.teacher = copy.deepcopy(self.model)
        self.teacher_optimizer = torch.optim.SGD(self.teacher.parameters(), lr=c.lr, momentum=0.9, nesterov=True,
                                                 weight_decay=c.weight_decay)
        self.teacher_schedule = torch.optim.lr_scheduler.LambdaLR(self.teacher_optimizer,
                                                                  lambda k: cosine_decay(k, c.steps))

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        c = self.config
        x_l, u_weak, u_strong = (self.weak(x_labeled), self.weak(x_unlabeled), self.strong(x_unlabeled))
        t_logits_x, t_logits_weak, t_logits_strong = self.teacher(torch.cat([x_l, u_weak, u_strong])).split(
            [len(x_l), len(u_weak), len(u_strong)])
        pseudo = t_logits_strong.detach().argmax(dim=-1)

        s_logits_x, s_logits_strong = self.forward_together(x_l, u_strong)
        s_loss = F.cross_entropy(s_logits_strong, pseudo)
        h = self._labeled_loss_drop(s_loss, x_l, y_labeled)

        q = (t_logits_weak.detach() / c.temperature).softmax(dim=-1)
        mask = (q.max(dim=-1).values >= c.threshold).float()
        t_loss_uda = masked_cross_entropy(t_logits_strong, q, mask)  # soft targets q
        t_loss = (F.cross_entropy(t_logits_x, y_labeled) + c.lambda_u * t_loss_uda
                  + h * F.cross_entropy(t_logits_strong, pseudo))
        self.teacher_optimizer.zero_grad(set_to_none=True)
        t_loss.backward()
        self.teacher_optimizer.step()
        self.teacher_schedule.step()
        return StepResult(s_loss, {"loss_u": s_loss, "teacher_loss": t_loss.detach()}, t_logits_weak.detach(),
                          monitors={"mpl_feedback": h}, loss_labels=pseudo,
                          loss_mask=torch.ones_like(pseudo, dtype=torch.float))  # the student's: every label

    def _labeled_loss_drop(self, s_loss, x_l, y_labeled) -> float:
        """h: the student's loss on the labeled batch now, minus after one SGD step on the pseudo-labels
        (both measured by a forward pass over the labeled batch alone, so BatchNorm sees the same images)."""
        names, params = zip(*self.model.named_parameters())
        grads = torch.autograd.grad(s_loss, params, retain_graph=True)
        with torch.no_grad():
            stepped = {name: p - self.config.lr * g for name, p, g in zip(names, params, grads)}
            before = F.cross_entropy(self.model(x_l), y_labeled)
            after = F.cross_entropy(functional_call(self.model, stepped, (x_l,)), y_labeled)
            return (before - after).item()
