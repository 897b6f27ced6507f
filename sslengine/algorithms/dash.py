"""Dash (Xu et al., 2021): FixMatch whose pseudo-labels are selected by their own loss, under a threshold that
falls as training goes: loose while the model is poor, tightening towards FixMatch's.

l_u    = -log max q_u                      (the weak view's cross-entropy against its own argmax)
rho_k  = max(C gamma^(-k) rho_hat, rho_min),  k = 0, 1, ... the tenth of training,  rho_hat the labeled
         batch's mean loss at the first step (the paper: over the labeled set after a warm-up)
mask   = 1[l_u <= rho_k]                   (FixMatch's loss otherwise)
C = 1.0001 and gamma = 1.27 as the paper; rho_min = 0.05 as USB, -log 0.951: FixMatch's tau. From a first loss
of ln 10 (ten classes, untrained), the tenth stage's rho is 0.27: a confidence of 0.77, not yet rho_min.
"""
import math

from .fixmatch import FixMatch

C, GAMMA, RHO_MIN = 1.0001, 1.27, 0.05
STAGES = 10  # rho falls once a tenth of training, as USB lowers it every few evaluations


def dash_threshold(rho_hat: float, stage: int) -> float:
    return max(C * GAMMA ** -stage * rho_hat, RHO_MIN)


class Dash(FixMatch):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rho_hat, self.stage, self.y_labeled = None, 0, None

    def train_step(self, x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index):
        self.stage, self.y_labeled = min(int(progress * STAGES), STAGES - 1), y_labeled  # what the rule reads
        return super().train_step(x_labeled, y_labeled, x_unlabeled, progress, unlabeled_index)

    def mask(self, q, unlabeled_index, p_l):
        if self.rho_hat is None:
            self.rho_hat = float(-p_l.gather(1, self.y_labeled[:, None]).log().mean())
        rho = dash_threshold(self.rho_hat, self.stage)
        loss = -q.max(dim=-1).values.log()
        return (loss <= rho).float(), {"dash_rho": rho, "dash_confidence": math.exp(-rho)}
