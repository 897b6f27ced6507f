"""A run's labeled / unlabeled / test split, from the toy sets, digits or an image set (`image_sets`).

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

from . import image_sets
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

    def labeled_marginal(self) -> torch.Tensor:
        """p(y) of the labeled samples: each class's share of them."""
        counts = torch.bincount(torch.as_tensor(self.y_labeled).long(), minlength=self.num_classes).float()
        return counts / counts.sum()


def _load_arrays(config: RunConfig) -> tuple[np.ndarray, np.ndarray, str]:
    if config.dataset == "moons":
        x, y = skdatasets.make_moons(config.n_samples, noise=config.noise, random_state=config.seed)
        return x.astype(np.float32), y, "points"
    if config.dataset == "circles":
        x, y = skdatasets.make_circles(config.n_samples, noise=config.noise, factor=0.5,
                                       random_state=config.seed)
        return x.astype(np.float32), y, "points"
    if config.dataset == "gap":
        return (*_gap(config.n_samples, config.noise, np.random.default_rng(config.seed)), "points")
    if config.dataset == "digits":
        digits = skdatasets.load_digits()
        x = (digits.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8) in [0, 1]
        return x, digits.target, "image"
    raise ConfigError("dataset", f"{config.dataset!r} is not a known dataset")


GAP_CENTER, GAP_HEIGHT = 1.0, 0.8


def _gap(n: int, width: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two tall Gaussian clusters at x = -1 and x = +1, of horizontal sd `width` (the config's noise) and vertical
    sd 0.8, with a low-density gap at x = 0. Built for entropy minimization: the line through two labeled
    points' midpoint tilts with their heights and cuts the clusters, while the gap is plain to see."""
    y = np.arange(n) % 2
    x = np.stack([(2 * y - 1) * GAP_CENTER + rng.normal(0, width, n), rng.normal(0, GAP_HEIGHT, n)], axis=1)
    return x.astype(np.float32), y


def as_float(x: torch.Tensor) -> torch.Tensor:
    """A batch as the models take it: stored uint8 images become floats in [0, 1]; anything else is as is."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x


def load_split(config: RunConfig) -> Split:
    """Split by seed: a stratified test part (or the dataset's own), then `labels_per_class` labeled points per
    class."""
    if config.dataset in image_sets.IMAGE_SETS:
        return _official_split(config, image_sets.load(config.dataset))
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

    known = known_classes(config, len(classes))
    labeled, unlabeled = _labeled_and_unlabeled(config, train_idx, rng)
    test = np.sort(np.concatenate(test_idx[:known]))
    y_labeled = _noisy(config, y[labeled], known, rng)
    return Split(x[labeled], y_labeled, x[unlabeled], y[unlabeled], x[test], y[test], num_classes=known,
                 kind=kind)


def _official_split(config: RunConfig, images: image_sets.Images) -> Split:
    rng = np.random.default_rng(config.seed)
    members = [rng.permutation(np.flatnonzero(images.y_train == c)) for c in np.unique(images.y_train)]
    known = known_classes(config, image_sets.IMAGE_SETS[config.dataset].num_classes)
    labeled, unlabeled = _labeled_and_unlabeled(config, members, rng)
    x_unlabeled, y_unlabeled = images.x_train[unlabeled], images.y_train[unlabeled]
    if images.x_unlabeled is not None:
        x_unlabeled = np.concatenate([x_unlabeled, images.x_unlabeled])
        y_unlabeled = np.concatenate([y_unlabeled, np.full(len(images.x_unlabeled), -1)])
    test = images.y_test < known
    return Split(images.x_train[labeled], _noisy(config, images.y_train[labeled], known, rng), x_unlabeled,
                 y_unlabeled, images.x_test[test], images.y_test[test], num_classes=known, kind="image")


def known_classes(config: RunConfig, num_classes: int) -> int:
    """How many classes (the first ones) the labeled and test data hold: all of them, or with `mismatch` 60 %
    (Oliver et al.'s six of CIFAR-10's ten); the unlabeled data may hold the others, labeled there >= it."""
    if config.mismatch is None:
        return num_classes
    if num_classes < 5:
        raise ConfigError("mismatch", f"needs a dataset of 5 classes or more to hold some out; {config.dataset} "
                                      f"has {num_classes}")
    return round(0.6 * num_classes)


def _labeled_and_unlabeled(config: RunConfig, members: list[np.ndarray], rng: np.random.Generator):
    """The first `labels_per_class` of each class's shuffled training points are labeled, the rest unlabeled.

    With `imbalance` r, class c of C keeps r^(-c / (C - 1)) of its points, labeled and unlabeled alike (the
    first class its all, the last 1 / r). With `mismatch` s, the labeled points come from the known classes,
    and the unlabeled part, as large as the smaller of the known and unseen pools, is s unseen."""
    if config.imbalance != 1:
        shares = config.imbalance ** -(np.arange(len(members)) / max(len(members) - 1, 1))
        members = [m[:max(2, round(len(m) * share))] for m, share in zip(members, shares)]
        wanted = [max(1, round(config.labels_per_class * share)) for share in shares]
    else:
        wanted = [config.labels_per_class] * len(members)
    known = known_classes(config, len(members))
    smallest = min(len(m) - n for m, n in zip(members[:known], wanted))
    # At least one point per class must stay unlabeled, or there is nothing to learn from.
    if smallest < 1:
        most = config.labels_per_class - 1 + smallest
        raise ConfigError("labels_per_class", f"must be at most {most} for {config.dataset} with these settings "
                          f"(its smallest class has {most + 1} training points), got {config.labels_per_class}")
    labeled = np.concatenate([m[:n] for m, n in zip(members[:known], wanted)])
    rest = [m[n:] for m, n in zip(members[:known], wanted)]
    if config.mismatch is None:
        return labeled, rng.permutation(np.concatenate(rest))
    seen, unseen = rng.permutation(np.concatenate(rest)), rng.permutation(np.concatenate(members[known:]))
    size = min(len(seen), len(unseen))
    n_unseen = round(config.mismatch * size)
    return labeled, rng.permutation(np.concatenate([seen[:size - n_unseen], unseen[:n_unseen]]))


def _noisy(config: RunConfig, labels: np.ndarray, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """The labels with a `label_noise` share of them, drawn at random, each replaced by another class."""
    if not config.label_noise:
        return labels
    labels = labels.copy()
    flipped = rng.choice(len(labels), round(config.label_noise * len(labels)), replace=False)
    labels[flipped] = (labels[flipped] + rng.integers(1, num_classes, len(flipped))) % num_classes
    return labels
