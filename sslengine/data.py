"""Datasets and the labeled / unlabeled / test split.

The split is a pure function of the config (dataset, size, noise, labels per class, seed), computed in numpy
so that the scikit-learn references in bench/ see exactly the same points. The unlabeled part keeps its true
labels aside: the algorithms never see them, the probes use them to score pseudo-labels. Downloaded image
sets keep their authors' test split and stay uint8 (a quarter of the memory, resident on the device); each
batch becomes floats in [0, 1] as it is drawn (`as_float`). Images published without labels (STL-10's
unlabeled split) join the unlabeled part with the label -1, after the labeled ones, so probes skip them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn import datasets as skdatasets

from . import datasets
from .config import ConfigError, RunConfig

TEST_FRACTION = 0.3


@dataclass
class Split:
    """One split of a dataset; arrays are numpy on the host or tensors on the device."""

    x_labeled: object
    y_labeled: object
    x_unlabeled: object
    y_unlabeled: object  # hidden from the algorithms; probes only
    x_test: object
    y_test: object
    num_classes: int
    kind: str  # "points" (2-D) or "image" (N, 1, H, W)

    def to(self, device: torch.device) -> "Split":
        def tensor(a):
            return torch.as_tensor(a).to(device)

        return Split(tensor(self.x_labeled), tensor(self.y_labeled), tensor(self.x_unlabeled),
                     tensor(self.y_unlabeled), tensor(self.x_test), tensor(self.y_test),
                     self.num_classes, self.kind)


def _load_arrays(config: RunConfig) -> tuple[np.ndarray, np.ndarray, str]:
    if config.dataset == "moons":
        x, y = skdatasets.make_moons(config.n_samples, noise=config.noise, random_state=config.seed)
        return x.astype(np.float32), y, "points"
    if config.dataset == "circles":
        x, y = skdatasets.make_circles(config.n_samples, noise=config.noise, factor=0.5,
                                       random_state=config.seed)
        return x.astype(np.float32), y, "points"
    if config.dataset == "digits":
        digits = skdatasets.load_digits()
        x = (digits.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8) in [0, 1]
        return x, digits.target, "image"
    raise ConfigError("dataset", f"{config.dataset!r} is not a known dataset")


def as_float(x: torch.Tensor) -> torch.Tensor:
    """A batch as the models take it: stored uint8 images become floats in [0, 1]; anything else is as is."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x


def load_split(config: RunConfig) -> Split:
    """Split by seed: a stratified test part (or the dataset's own), then `labels_per_class` labeled points per
    class."""
    if config.dataset in datasets.IMAGE_SETS:
        return _official_split(config, datasets.load(config.dataset))
    x, y, kind = _load_arrays(config)
    y = y.astype(np.int64)
    rng = np.random.default_rng(config.seed)
    classes = np.unique(y)
    test_idx, train_idx = [], []
    for c in classes:
        members = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(len(members) * TEST_FRACTION))
        test_idx.append(members[:n_test])
        train_idx.append(members[n_test:])

    labeled, unlabeled = _labeled_and_unlabeled(config, train_idx, rng)
    test = np.sort(np.concatenate(test_idx))
    return Split(x[labeled], y[labeled], x[unlabeled], y[unlabeled], x[test], y[test],
                 num_classes=len(classes), kind=kind)


def _official_split(config: RunConfig, images: datasets.Images) -> Split:
    rng = np.random.default_rng(config.seed)
    members = [rng.permutation(np.flatnonzero(images.y_train == c)) for c in np.unique(images.y_train)]
    labeled, unlabeled = _labeled_and_unlabeled(config, members, rng)
    x_unlabeled, y_unlabeled = images.x_train[unlabeled], images.y_train[unlabeled]
    if images.x_unlabeled is not None:
        x_unlabeled = np.concatenate([x_unlabeled, images.x_unlabeled])
        y_unlabeled = np.concatenate([y_unlabeled, np.full(len(images.x_unlabeled), -1)])
    return Split(images.x_train[labeled], images.y_train[labeled], x_unlabeled, y_unlabeled, images.x_test,
                 images.y_test, num_classes=datasets.IMAGE_SETS[config.dataset].num_classes, kind="image")


def _labeled_and_unlabeled(config: RunConfig, members: list[np.ndarray], rng: np.random.Generator):
    """The first `labels_per_class` of each class's shuffled training points are labeled, the rest unlabeled."""
    smallest = min(len(m) for m in members)
    # At least one point per class must stay unlabeled, or there is nothing to learn from.
    if config.labels_per_class > smallest - 1:
        raise ConfigError("labels_per_class", f"must be at most {smallest - 1} for {config.dataset} with "
                          f"these settings (its smallest class has {smallest} training points), "
                          f"got {config.labels_per_class}")
    labeled = np.concatenate([m[:config.labels_per_class] for m in members])
    unlabeled = rng.permutation(np.concatenate([m[config.labels_per_class:] for m in members]))
    return labeled, unlabeled
