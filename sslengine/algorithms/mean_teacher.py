"""Mean Teacher (Tarvainen and Valpola, 2017): the teacher is an exponential moving average of the student,
and the student's prediction on one view should match the teacher's on another.

loss = CE(y, f_s(x_l)) + w(t) * lambda_u * 1/(C muB) sum_u ||softmax(f_s(A(u))) - softmax(f_t(A'(u)))||^2,
theta_t <- alpha theta_t + (1 - alpha) theta_s after every step n (alpha = min(ema_decay, 1 - 1 / (n + 1))): the
teacher is the loop's EMA of the student.
"""
import torch
import torch.nn.functional as F

from .base import Algorithm, Presentation, StepResult, sigmoid_rampup, softmax_mse
from .pi_model import RAMP_UP


class MeanTeacher(Algorithm):
    presentation = Presentation("Mean Teacher", page="consistency", query="group")
    # A fast teacher for short runs: 0.95 reached 0.902 on digits, 0.99 0.842, 0.999 0.744 (seed 0).
    defaults = Algorithm.defaults | {"lambda_u": 10.0, "ema_decay": 0.95}
    uses_ema = True  # the loop keeps the teacher, evaluates it as test_acc and the student as student_test_acc

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.teacher = self.average

    @staticmethod
    def ema_warmup(step: int) -> float:
        """1 - 1 / (n + 1), the paper's code: the teacher is the plain mean of the student's weights so far."""
        return 1 - 1 / (step + 1)

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        logits_x, logits_student = self.forward_together(self.weak(x_labeled), self.weak(x_unlabeled))
        with torch.no_grad():
            logits_teacher = self.teacher(self.weak(x_unlabeled))
        loss_x = F.cross_entropy(logits_x, y_labeled)
        loss_u = softmax_mse(logits_student, logits_teacher)
        weight = sigmoid_rampup(progress, RAMP_UP) * self.config.lambda_u
        return StepResult(loss_x + weight * loss_u, {"loss_x": loss_x, "loss_u": loss_u}, logits_teacher,
                          monitors={"consistency_weight": weight})
