"""What the training loop evaluates at its log steps, built once from the run's config, split and networks:
test accuracy, the probe snapshots, and for methods that learn a representation kNN and linear-probe
accuracy, each computed with `metrics`.

The loop calls it and writes what it returns; nothing here trains or touches the store.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .algorithms.base import Algorithm, StepResult
from .config import RunConfig
from .splits import Split, as_float
from .metrics import (boundary_grid, embeddings, evaluate, knn_accuracy, labelling_logits, linear_probe_accuracy,
                     predict_logits, pseudo_label_stats, weighted_label_stats)

# Before the last step, test accuracy is scored on a fixed sample of the test set and kNN accuracy against a
# fixed sample of the train labels: on a CPU, all 10 000 CIFAR test images at every log step would take
# longer than the training between them. The last step scores them all. Digits and the toys are smaller.
EVAL_SAMPLE = 2_000
KNN_BANK_SAMPLE = 10_000


def fixed_sample(n: int, size: int, seed: int, device: torch.device) -> torch.Tensor | slice:
    """Sorted indices of a random `size` of range(n), drawn apart from the run's generator (so runs on small
    sets, which take them all, draw the same numbers as before), or all of range(n) when n <= size."""
    if n <= size:
        return slice(None)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:size].sort().values.to(device)


def snapshot_schedule(steps: int, max_snapshots: int, log_every: int) -> set[int]:
    """About evenly spaced steps from 0 (before training) to the last, at most `max_snapshots` of them, on log
    steps: each snapshot then has the curves' point of its own step beside it."""
    before_last = np.linspace(0, steps, min(max_snapshots, steps + 1))[:-1] / log_every
    return {min(int(s) * log_every, steps) for s in before_last.round()} | {steps}


class Measurements:
    """`evaluated` is the network scored on the test set (an EMA where the method keeps one); `student` the
    trained network beside it, scored too, when the two differ."""

    def __init__(self, config: RunConfig, data: Split, method: Algorithm, evaluated: nn.Module,
                 student: nn.Module | None = None):
        self.config, self.data, self.method, self.evaluated, self.student = config, data, method, evaluated, student
        self.probe_x = method.weak(as_float(data.x_unlabeled[:config.probe_size]))  # one fixed weak view
        self.probe_target = data.y_unlabeled[:config.probe_size].cpu().numpy()
        self.snapshot_steps = snapshot_schedule(config.steps, config.max_snapshots, config.log_every)
        # kNN votes need labels of the model's classes: STL-10's unlabeled split has none, mismatch holds some out
        known = (data.y_unlabeled >= 0) & (data.y_unlabeled < data.num_classes)
        self.x_bank, self.y_bank = data.x_unlabeled[known], data.y_unlabeled[known]
        device = data.y_test.device
        self.test_sample = fixed_sample(len(data.y_test), EVAL_SAMPLE, config.seed, device)
        self.bank_sample = fixed_sample(len(self.y_bank), KNN_BANK_SAMPLE, config.seed, device)
        self.grid = None  # 2-D data: class probabilities over a grid, for decision boundaries
        if data.kind == "points":
            points = torch.cat([data.x_labeled, data.x_unlabeled, data.x_test]).cpu().numpy()
            self.grid = torch.as_tensor(boundary_grid(points), device=device)

    def scored(self, step: int) -> tuple[torch.Tensor | slice, torch.Tensor | slice]:
        """Which test points and which kNN bank to score on: fixed samples before the last step, all at it."""
        return (slice(None), slice(None)) if step == self.config.steps else (self.test_sample, self.bank_sample)

    def test(self, step: int) -> dict[str, float]:
        """Accuracy and loss on the test part (its fixed sample before the last step), of the evaluated
        network and of the student beside it."""
        if not self.method.has_classifier:
            return {}
        some, _ = self.scored(step)
        x_test, y_test = self.data.x_test[some], self.data.y_test[some]
        values = dict(zip(("test_acc", "test_loss"), evaluate(self.evaluated, x_test, y_test)))
        if self.student is not None:
            values["student_test_acc"] = evaluate(self.student, x_test, y_test)[0]
        return values

    def pseudo_labels(self, result: StepResult, unlabeled: torch.Tensor) -> dict[str, float]:
        """The step batch's pseudo-labels scored on its hidden labels: the mask (or weight) and labels its loss
        used, where the method trains on pseudo-labels (mask_rate, pseudo_label_acc, ...); and FixMatch's rule
        at the run's tau and T on the logits they are read from, each key ending in _at_tau, for any method
        (for FixMatch the two agree). Without a loss mask, pseudo_label_acc is the logits' argmax accuracy."""
        if result.unlabeled_logits is None:
            return {}
        logits = result.unlabeled_logits.detach().float().cpu().numpy()
        target = self.data.y_unlabeled[unlabeled].cpu().numpy()
        at_tau = pseudo_label_stats(logits, target, self.config.threshold, self.config.temperature)
        values = {f"{key}_at_tau": value for key, value in at_tau.items() if key != "pseudo_label_acc"}
        if result.loss_mask is None:
            return values | {"pseudo_label_acc": at_tau["pseudo_label_acc"]}
        return values | weighted_label_stats(result.loss_labels.cpu().numpy(),
                                             result.loss_mask.detach().float().cpu().numpy(), target, logits.shape[1])

    def snapshot(self, step: int) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """The probe set's arrays at this step (the pseudo-labeller's logits, embeddings, the boundary grid;
        at step 0 the inputs they are drawn over), and the representation's scalars."""
        method, data, probe_x = self.method, self.data, self.probe_x
        values = {"target": self.probe_target}
        if method.has_classifier:
            values["logits"] = labelling_logits(method.pseudo_labeler(), probe_x).float().cpu().numpy()
        if method.learns_representation:  # the probe set, then the labeled samples, to mark them on maps
            both = torch.cat([probe_x, as_float(data.x_labeled)])
            values["embedding"] = embeddings(self.evaluated, both).cpu().numpy().astype(np.float16)
        if self.grid is not None and method.has_classifier:
            values["grid_probs"] = predict_logits(self.evaluated, self.grid).float().softmax(-1).cpu().numpy()
        if step == 0 and (self.grid is not None or method.learns_representation):
            values |= {"probe_x": probe_x.cpu().numpy(), "labeled_x": as_float(data.x_labeled).cpu().numpy(),
                       "labeled_y": data.y_labeled.cpu().numpy()}
        if step == 0 and self.grid is not None:
            values["grid"] = self.grid.cpu().numpy()
        if step == 0 and data.kind == "image" and method.has_classifier:  # the pictures the what-if labels
            values["probe_images"] = probe_x.clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()
        return values, self.representation(step) if method.learns_representation else {}

    def representation(self, step: int) -> dict[str, float]:
        """kNN accuracy of the embedding against the train labels, and the accuracy of a linear probe fitted on
        the run's labeled samples alone (samples of the data before the last step)."""
        data, evaluated = self.data, self.evaluated
        tests, banked = self.scored(step)
        labeled = embeddings(evaluated, data.x_labeled)
        train = torch.cat([labeled, embeddings(evaluated, self.x_bank[banked])])
        test, y_test = embeddings(evaluated, data.x_test[tests]), data.y_test[tests]
        values = {"knn_acc": knn_accuracy(train, torch.cat([data.y_labeled, self.y_bank[banked]]), test, y_test),
                  "linear_probe_acc": linear_probe_accuracy(labeled, data.y_labeled, test, y_test)}
        if not self.method.has_classifier:
            values["test_acc"] = values["linear_probe_acc"]  # the probe is the classifier
        return values
