import numpy as np
import pytest

from sslengine.config import ConfigError, RunConfig
from sslengine.data import load_split


@pytest.mark.parametrize("dataset", ["moons", "circles", "digits"])
def test_split_is_deterministic_by_seed(dataset):
    a = load_split(RunConfig(dataset=dataset, seed=5))
    b = load_split(RunConfig(dataset=dataset, seed=5))
    c = load_split(RunConfig(dataset=dataset, seed=6))
    assert np.array_equal(a.x_labeled, b.x_labeled) and np.array_equal(a.x_unlabeled, b.x_unlabeled)
    assert not np.array_equal(a.x_labeled, c.x_labeled)


def _rows(x):
    return {row.tobytes() for row in x.reshape(len(x), -1)}


@pytest.mark.parametrize("dataset", ["moons", "digits"])
def test_split_parts_are_disjoint_and_cover_the_data(dataset):
    split = load_split(RunConfig(dataset=dataset, labels_per_class=3, seed=1))
    labeled, unlabeled, test = _rows(split.x_labeled), _rows(split.x_unlabeled), _rows(split.x_test)
    assert not labeled & unlabeled and not labeled & test and not unlabeled & test
    total = len(split.x_labeled) + len(split.x_unlabeled) + len(split.x_test)
    assert total == (1797 if dataset == "digits" else 1000)


def test_labeled_part_has_exactly_n_per_class():
    split = load_split(RunConfig(dataset="digits", labels_per_class=4))
    assert np.bincount(split.y_labeled).tolist() == [4] * 10
    assert split.x_labeled.shape == (40, 1, 8, 8) and split.kind == "image"
    assert 0.0 <= split.x_labeled.min() and split.x_labeled.max() <= 1.0


def test_test_part_is_stratified():
    split = load_split(RunConfig(dataset="digits"))
    shares = np.bincount(split.y_test) / len(split.y_test)
    assert shares.min() > 0.08 and shares.max() < 0.12


def test_more_labels_than_a_class_has_is_refused_with_the_limit():
    with pytest.raises(ConfigError, match=r"labels_per_class: must be at most 1\d\d for digits"):
        load_split(RunConfig(dataset="digits", labels_per_class=500))
