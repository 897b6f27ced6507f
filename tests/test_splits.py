import numpy as np
import pytest

from sslengine.config import ConfigError, RunConfig
from sslengine.splits import load_split


@pytest.mark.parametrize("dataset", ["moons", "circles", "gap", "digits"])
def test_split_is_deterministic_by_seed(dataset):
    a = load_split(RunConfig(dataset=dataset, seed=5))
    b = load_split(RunConfig(dataset=dataset, seed=5))
    c = load_split(RunConfig(dataset=dataset, seed=6))
    assert np.array_equal(a.x_labeled, b.x_labeled) and np.array_equal(a.x_unlabeled, b.x_unlabeled)
    assert not np.array_equal(a.x_labeled, c.x_labeled)


def _rows(x):
    return {row.tobytes() for row in x.reshape(len(x), -1)}


@pytest.mark.parametrize("dataset", ["moons", "gap", "digits"])
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


@pytest.mark.parametrize("share", [0.0, 0.25, 0.75, 1.0])
def test_mismatch_holds_four_digits_out_of_the_labels_and_the_test_and_puts_the_share_in_the_unlabeled(share):
    split = load_split(RunConfig(dataset="digits", mismatch=share))
    assert split.num_classes == 6 and set(split.y_labeled) == set(range(6)) and set(split.y_test) == set(range(6))
    unseen = (split.y_unlabeled >= 6).sum()
    assert unseen == round(share * len(split.y_unlabeled))  # the same unlabeled size at every share
    assert len(split.y_unlabeled) == len(load_split(RunConfig(dataset="digits", mismatch=0.5)).y_unlabeled)


def test_imbalance_shrinks_each_class_on_an_exponential_profile_in_labeled_and_unlabeled_data():
    balanced = load_split(RunConfig(dataset="digits", labels_per_class=10))
    split = load_split(RunConfig(dataset="digits", labels_per_class=10, imbalance=10))
    counts = np.bincount(split.y_unlabeled, minlength=10) + np.bincount(split.y_labeled, minlength=10)
    full = np.bincount(balanced.y_unlabeled, minlength=10) + np.bincount(balanced.y_labeled, minlength=10)
    expected = full * 10.0 ** -(np.arange(10) / 9)
    assert np.all(np.abs(counts - expected) <= 1.5) and counts[0] / counts[-1] == pytest.approx(10, rel=0.15)
    assert np.bincount(split.y_labeled).tolist() == [round(10 * 10 ** -(c / 9)) for c in range(10)]
    assert np.array_equal(split.y_test, balanced.y_test)  # the test part stays balanced


def test_label_noise_gives_that_share_of_labels_another_class():
    clean = load_split(RunConfig(dataset="digits", labels_per_class=10))
    noisy = load_split(RunConfig(dataset="digits", labels_per_class=10, label_noise=0.3))
    assert np.array_equal(clean.x_labeled, noisy.x_labeled) and np.array_equal(clean.y_unlabeled, noisy.y_unlabeled)
    assert (clean.y_labeled != noisy.y_labeled).sum() == 30 and noisy.y_labeled.max() < 10


def test_gap_set_has_two_tall_clusters_with_an_empty_band_between_them():
    split = load_split(RunConfig(dataset="gap", labels_per_class=1, noise=0.25, seed=3))
    x, y = split.x_unlabeled, split.y_unlabeled
    assert np.allclose([x[y == 0, 0].mean(), x[y == 1, 0].mean()], [-1, 1], atol=0.05)
    assert x[:, 1].std() > 2.5 * x[y == 0, 0].std()  # taller than wide
    assert (np.abs(x[:, 0]) < 0.15).mean() < 0.01  # the gap: under 1 % of the points within 0.15 of x = 0
