"""What a run measures besides its loss, derived from stored logits and the hidden true labels.

The training loop stores raw logits of a fixed probe set; everything here is a pure function of those, so a
page can ask "what if the threshold were 0.8, the temperature 2?" of any snapshot with no retraining.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def confidence_and_prediction(logits: np.ndarray, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    p = softmax(logits, temperature)
    return p.max(axis=-1), p.argmax(axis=-1)


def entropy(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Per-sample prediction entropy in nats."""
    p = softmax(logits, temperature)
    return -(p * np.log(np.clip(p, 1e-12, None))).sum(axis=-1)


def pseudo_label_stats(logits: np.ndarray, target: np.ndarray, threshold: float,
                       temperature: float = 1.0) -> dict[str, float]:
    """Mask rate and pseudo-label accuracy, of all argmax labels and of those passing the threshold.

    Accuracy of the passing ones is NaN when none pass.
    """
    confidence, prediction = confidence_and_prediction(logits, temperature)
    correct = prediction == target
    passing = confidence >= threshold
    return {
        "mask_rate": float(passing.mean()),
        "pseudo_label_acc": float(correct.mean()),
        "pseudo_label_acc_passing": float(correct[passing].mean()) if passing.any() else float("nan"),
    }


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


@torch.no_grad()
def predict_logits(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    was_training = model.training
    model.eval()
    logits = torch.cat([model(chunk) for chunk in x.split(batch_size)])
    model.train(was_training)
    return logits


def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Accuracy and mean cross-entropy (the validation loss) of the model on (x, y)."""
    logits = predict_logits(model, x).float()
    return (logits.argmax(dim=-1) == y).float().mean().item(), F.cross_entropy(logits, y).item()
