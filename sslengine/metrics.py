"""The metrics: pure functions of logits, embeddings and the hidden true labels, live or stored.

The training loop stores raw logits of a fixed probe set; everything here is a pure function of those, so a
page can ask "what if the threshold were 0.8, the temperature 2?" of any snapshot with no retraining.
Methods that learn a representation are measured on their embeddings: kNN and linear-probe accuracy.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression

from .algorithms.base import confidence_and_labels, passes
from .splits import as_float, load_split


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def confidence_and_prediction(logits: np.ndarray, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The losses' rule (`confidence_and_labels`) on stored logits, so the what-if cannot disagree with them."""
    confidence, labels = confidence_and_labels(torch.as_tensor(logits), temperature)
    return confidence.numpy(), labels.numpy()


def passing(confidence: np.ndarray, threshold: float) -> np.ndarray:
    """The losses' mask (`passes`) on stored confidences, as booleans."""
    return passes(torch.as_tensor(confidence), threshold).numpy().astype(bool)


def threshold_groups(logits: np.ndarray, target: np.ndarray, threshold: float,
                     temperature: float = 1.0) -> dict[str, np.ndarray]:
    """The probe samples in each group the threshold makes, most confident first: passing and right, passing and
    wrong (those that fool the threshold), and below it (those nearest it first)."""
    confidence, prediction = confidence_and_prediction(logits, temperature)
    passed, right = passing(confidence, threshold), prediction == target
    order = np.argsort(-confidence, kind="stable")
    groups = {"right": passed & right, "wrong": passed & ~right, "below": ~passed}
    return {group: order[members[order]] for group, members in groups.items()}


def entropy(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Per-sample prediction entropy in nats."""
    p = softmax(logits, temperature)
    return -(p * np.log(np.clip(p, 1e-12, None))).sum(axis=-1)


def pseudo_label_stats(logits: np.ndarray, target: np.ndarray, threshold: float,
                       temperature: float = 1.0) -> dict[str, float]:
    """FixMatch's rule on these logits: argmax labels, counted where max softmax(logits / T) >= threshold
    (`weighted_label_stats` of that mask). The what-if of any run, whatever rule its loss used."""
    confidence, prediction = confidence_and_prediction(logits, temperature)
    return weighted_label_stats(prediction, passing(confidence, threshold).astype(np.float64), target,
                                logits.shape[1])


def weighted_label_stats(labels: np.ndarray, weight: np.ndarray, target: np.ndarray,
                         num_classes: int) -> dict[str, float]:
    """Mask rate and pseudo-label accuracy of `labels` counted with `weight` (a 0/1 mask, or SoftMatch's weight):
    mask_rate = mean weight, pseudo_label_acc = the share of all labels right, pseudo_label_acc_passing = the
    weighted share right (for a mask: of those passing; NaN when nothing counts).

    Samples with the label -1 (published without one) count in the mask rate only, and so do those of a class
    the model has no output for (mismatch: a class held out of the labeled data); of these, the mean weight
    is `unseen_pass_rate`.
    """
    known = (target >= 0) & (target < num_classes)
    correct, known_weight = (labels == target)[known], weight[known]
    stats = {
        "mask_rate": float(weight.mean()),
        "pseudo_label_acc": float(correct.mean()) if known.any() else float("nan"),
        "pseudo_label_acc_passing": float((correct * known_weight).sum() / known_weight.sum())
        if known_weight.sum() > 0 else float("nan"),
    }
    unseen = target >= num_classes
    if unseen.any():
        stats["unseen_pass_rate"] = float(weight[unseen].mean())
    return stats


def quantity_quality(logits: np.ndarray, target: np.ndarray, thresholds: np.ndarray,
                     temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """For each threshold: share of samples passing, and accuracy of those passing (NaN where none pass)."""
    confidence, prediction = confidence_and_prediction(logits, temperature)
    order = np.argsort(confidence)
    sorted_conf = confidence[order]
    correct_from_top = np.cumsum((prediction == target)[order][::-1])[::-1]  # correct among order[i:]
    first_passing = np.searchsorted(sorted_conf, thresholds, side="left")
    n_passing = len(confidence) - first_passing
    n_correct = np.append(correct_from_top, 0)[first_passing]
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n_passing > 0, n_correct / np.maximum(n_passing, 1), np.nan)
    return n_passing / len(confidence), accuracy


def confusion(target: np.ndarray, prediction: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[true, predicted]."""
    return np.bincount(target * num_classes + prediction, minlength=num_classes ** 2).reshape(num_classes,
                                                                                               num_classes)


def boundary_grid(points: np.ndarray, resolution: int = 60, margin: float = 0.5) -> np.ndarray:
    """A resolution x resolution grid of 2-D points covering `points` plus a margin, row-major from the
    bottom-left: where the page draws a 2-D model's decision boundary."""
    low, high = points.min(axis=0) - margin, points.max(axis=0) + margin
    xs, ys = np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    return np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2).astype(np.float32)


def boundary_crossings(grid: np.ndarray, p_one: np.ndarray) -> np.ndarray:
    """Where a 2-class model's boundary P(class 1) = 0.5 runs on a `boundary_grid`: the midpoints of the
    neighbouring grid points (across and up) on which the predicted class differs."""
    side = int(round(np.sqrt(len(grid))))
    points, above = grid.reshape(side, side, 2), (p_one >= 0.5).reshape(side, side)
    across, up = above[:, 1:] != above[:, :-1], above[1:] != above[:-1]
    return np.concatenate([(points[:, 1:][across] + points[:, :-1][across]) / 2,
                           (points[1:][up] + points[:-1][up]) / 2])


def near_boundary_share(x: np.ndarray, grid: np.ndarray, p_one: np.ndarray, margin: float) -> float:
    """The share of points x within `margin` of the decision boundary (0 where the grid shows none): how much
    data the boundary runs through, whatever the model's confidence there."""
    crossings = boundary_crossings(grid, p_one)
    if not len(crossings):
        return 0.0
    distance = np.sqrt(((x[:, None, :] - crossings[None]) ** 2).sum(-1)).min(axis=1)
    return float((distance < margin).mean())


def near_tie_share(logits: np.ndarray, margin: float) -> float:
    """The share of samples whose two likeliest classes' softmax probabilities lie within `margin` of each
    other: the samples a model's decision boundary runs through, read from its outputs where no picture of its
    boundary can be drawn (images). For two classes, `margin` 0.3 is p within 0.15 of one half."""
    probabilities = softmax(logits)
    top_two = np.sort(probabilities, axis=1)[:, -2:]
    return float((top_two[:, 1] - top_two[:, 0] < margin).mean())


# Samples a forward pass takes at a time when measuring: cache-sized on a CPU, where 2 048 images of 28x28 at
# once took 2.7 times as long as in chunks of 128 (the activations no longer fit the caches).
MEASURE_CHUNK = 128


@torch.no_grad()
def predict_logits(model: torch.nn.Module, x: torch.Tensor, batch_size: int = MEASURE_CHUNK) -> torch.Tensor:
    was_training = model.training
    model.eval()
    logits = torch.cat([model(as_float(chunk)) for chunk in x.split(batch_size)])
    model.train(was_training)
    return logits


def labelling_logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The logits `model` gives x as it does when it pseudo-labels in training: a network in train mode
    normalises with the batch's own BatchNorm statistics (early on, its running statistics lag far behind
    the weights and eval-mode predictions are another network's). Its running statistics are put back, so
    measuring leaves training untouched."""
    if not model.training:
        return predict_logits(model, x)
    buffers = [buffer.clone() for buffer in model.buffers()]
    with torch.no_grad():
        logits = model(as_float(x))
    for buffer, saved in zip(model.buffers(), buffers):
        buffer.copy_(saved)
    return logits


def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Accuracy and mean cross-entropy (the validation loss) of the model on (x, y)."""
    logits = predict_logits(model, x).float()
    return (logits.argmax(dim=-1) == y).float().mean().item(), F.cross_entropy(logits, y).item()


@torch.no_grad()
def embeddings(model: torch.nn.Module, x: torch.Tensor, batch_size: int = MEASURE_CHUNK) -> torch.Tensor:
    """The backbone's embedding e(x) of each sample, L2-normalised, in eval mode."""
    was_training = model.training
    model.eval()
    embedded = torch.cat([model.embed(as_float(chunk)) for chunk in x.split(batch_size)]).float()
    model.train(was_training)
    return F.normalize(embedded, dim=1)


def knn_accuracy(train: torch.Tensor, train_y: torch.Tensor, test: torch.Tensor, test_y: torch.Tensor,
                 k: int = 20) -> float:
    """Each test sample takes the majority class of its k most cosine-similar train samples (rows are
    unit vectors); ties go to the lower class."""
    nearest = (test @ train.T).topk(k, dim=1).indices
    votes = F.one_hot(train_y[nearest], int(train_y.max()) + 1).sum(dim=1)
    return (votes.argmax(dim=1) == test_y).float().mean().item()


def linear_probe_accuracy(train: torch.Tensor, train_y: torch.Tensor, test: torch.Tensor,
                          test_y: torch.Tensor) -> float:
    """A logistic regression fitted on frozen embeddings of the labeled samples, scored on the test set."""
    probe = LogisticRegression(max_iter=1000).fit(train.cpu().numpy(), train_y.cpu().numpy())
    return float((probe.predict(test.cpu().numpy()) == test_y.cpu().numpy()).mean())


def pixel_probe_accuracy(config) -> float:
    """The linear probe on the raw pixels of the run's labeled samples: what a learned representation must
    beat to be worth anything to a probe."""
    data = load_split(config)
    pixels = lambda x: as_float(torch.as_tensor(x)).flatten(1)
    return linear_probe_accuracy(pixels(data.x_labeled), torch.as_tensor(data.y_labeled), pixels(data.x_test),
                                 torch.as_tensor(data.y_test))
