"""Probe-derived metrics against brute-force counting."""
import math

import numpy as np
import pytest
import torch

from sslengine.metrics import (boundary_crossings, boundary_grid, confusion, entropy, knn_accuracy,
                               linear_probe_accuracy, pixel_probe_accuracy, pseudo_label_stats, quantity_quality,
                               softmax, threshold_groups)
from sslengine.plots import accuracy_by_class


@pytest.fixture
def probe():
    rng = np.random.default_rng(3)
    logits = rng.normal(scale=3.0, size=(500, 4))
    target = rng.integers(0, 4, size=500)
    return logits, target


def brute_force(logits, target, threshold, temperature):
    passing, correct_passing, correct_all = 0, 0, 0
    for row, label in zip(logits, target):
        p = np.exp(row / temperature) / np.exp(row / temperature).sum()
        predicted = int(np.argmax(p))
        correct_all += predicted == label
        if p.max() >= threshold:
            passing += 1
            correct_passing += predicted == label
    return passing, correct_passing, correct_all


@pytest.mark.parametrize("threshold,temperature", [(0.0, 1.0), (0.5, 1.0), (0.9, 1.0), (0.7, 3.0), (0.99, 0.5)])
def test_pseudo_label_stats_match_brute_force(probe, threshold, temperature):
    logits, target = probe
    passing, correct_passing, correct_all = brute_force(logits, target, threshold, temperature)
    stats = pseudo_label_stats(logits, target, threshold, temperature)
    assert stats["mask_rate"] == pytest.approx(passing / len(target))
    assert stats["pseudo_label_acc"] == pytest.approx(correct_all / len(target))
    assert stats["pseudo_label_acc_passing"] == pytest.approx(correct_passing / passing)


def test_unseen_classes_count_in_the_mask_rate_only_and_their_passing_share_is_logged():
    logits = np.log(np.array([[0.9, 0.1], [0.6, 0.4], [0.05, 0.95], [0.97, 0.03], [0.5, 0.5]]))
    target = np.array([0, 1, 1, 2, 3])  # classes 2 and 3: held out of the labels (mismatch)
    stats = pseudo_label_stats(logits, target, threshold=0.8)
    assert stats["mask_rate"] == pytest.approx(3 / 5)  # 0.9, 0.95, 0.97 pass
    assert stats["pseudo_label_acc"] == pytest.approx(2 / 3)  # of the known three: 0 right, 1 wrong, 1 right
    assert stats["pseudo_label_acc_passing"] == pytest.approx(1.0)
    assert stats["unseen_pass_rate"] == pytest.approx(1 / 2)  # the 0.97 one passes, the 0.5 one does not
    assert "unseen_pass_rate" not in pseudo_label_stats(logits[:3], target[:3], 0.8)


def test_passing_accuracy_is_nan_when_nothing_passes(probe):
    logits, target = probe
    stats = pseudo_label_stats(logits, target, threshold=1.0, temperature=100.0)
    assert stats["mask_rate"] == 0.0 and np.isnan(stats["pseudo_label_acc_passing"])


def test_quantity_quality_curve_matches_brute_force_at_every_threshold(probe):
    logits, target = probe
    thresholds = np.linspace(0, 1, 41)
    share, acc = quantity_quality(logits, target, thresholds, temperature=1.5)
    for t, s, a in zip(thresholds, share, acc):
        passing, correct_passing, _ = brute_force(logits, target, t, 1.5)
        assert s == pytest.approx(passing / len(target))
        if passing:
            assert a == pytest.approx(correct_passing / passing)
        else:
            assert np.isnan(a)


def test_confusion_counts_pairs():
    target = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 0, 2])
    expected = np.zeros((3, 3), int)
    for t, p in zip(target, predicted):
        expected[t, p] += 1
    assert (confusion(target, predicted, 3) == expected).all()


def test_entropy_of_uniform_and_certain_predictions():
    h = entropy(np.array([[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]]))
    assert h == pytest.approx([np.log(4), 0.0], abs=1e-9)
    assert entropy(np.array([[1000.0, 0.0]])).tolist() == [0.0]  # p = 0 exactly: 0 log 0 counts as 0, not NaN


def test_softmax_and_entropy_at_a_temperature_by_hand():
    """Rows of different scales, at T = 0.5: each row is softmax(logits / T) on its own (the max subtracted is
    the row's), and the entropy is read from those, as the what-if's temperature slider draws them."""
    logits = np.array([[2.0, 1.0, 0.0], [300.0, 299.0, 290.0]])
    exps = [[math.exp((v - max(row)) / 0.5) for v in row] for row in logits.tolist()]
    by_hand = [[e / sum(row) for e in row] for row in exps]
    assert softmax(logits, 0.5) == pytest.approx(np.array(by_hand), rel=1e-9)
    assert entropy(logits, 0.5) == pytest.approx([-sum(p * np.log(p) for p in row) for row in by_hand], rel=1e-9)


def test_boundary_grid_covers_the_points_with_a_margin():
    points = np.array([[0.0, -1.0], [2.0, 3.0], [1.0, 0.5]], dtype=np.float32)
    grid = boundary_grid(points, resolution=5, margin=0.5)
    assert grid.shape == (25, 2)
    assert grid.min(axis=0).tolist() == [-0.5, -1.5] and grid.max(axis=0).tolist() == [2.5, 3.5]
    assert grid[1, 0] > grid[0, 0] and grid[1, 1] == grid[0, 1]  # row-major, x varies fastest


def test_accuracy_by_class_is_each_pseudo_label_class_share_right():
    target = np.array([0, 0, 1, 1, 1, 2])
    prediction = np.array([0, 1, 1, 1, 0, 0])
    figure = accuracy_by_class(confusion(target, prediction, 3), "t")
    bars = figure.data[0]
    for c in range(3):
        given = prediction == c
        expected = (target[given] == c).mean() if given.any() else np.nan
        assert np.isclose(bars.y[c], expected, equal_nan=True)
        assert bars.text[c] == str(given.sum())


@pytest.mark.parametrize("k", [1, 5, 20])
def test_knn_accuracy_matches_brute_force(k):
    rng = np.random.default_rng(0)
    train = rng.normal(size=(200, 8))
    train /= np.linalg.norm(train, axis=1, keepdims=True)
    test = rng.normal(size=(50, 8))
    test /= np.linalg.norm(test, axis=1, keepdims=True)
    train_y, test_y = rng.integers(0, 3, 200), rng.integers(0, 3, 50)
    right = 0
    for x, y in zip(test, test_y):
        cosines = [float(x @ t) for t in train]
        nearest = sorted(range(len(train)), key=lambda i: -cosines[i])[:k]
        votes = [sum(train_y[i] == c for i in nearest) for c in range(3)]
        right += votes.index(max(votes)) == y  # ties to the lower class
    got = knn_accuracy(*(torch.tensor(a) for a in (train, train_y, test, test_y)), k=k)
    assert got == pytest.approx(right / len(test))
    if k == 20:  # the default: the 20 nearest, as the kNN monitors of SimCLR's and BYOL's code
        assert knn_accuracy(*(torch.tensor(a) for a in (train, train_y, test, test_y))) == got


def test_linear_probe_separates_separable_embeddings_from_two_labels_per_class():
    rng = np.random.default_rng(0)
    centres = np.eye(4) * 3
    def sample(n):
        y = rng.integers(0, 4, n)
        return torch.tensor(centres[y] + rng.normal(size=(n, 4)) * 0.3, dtype=torch.float32), torch.tensor(y)
    train, train_y = sample(8)
    test, test_y = sample(200)
    assert linear_probe_accuracy(train, train_y, test, test_y) > 0.95
    assert linear_probe_accuracy(train, (train_y + 1) % 4, test, test_y) < 0.05  # it follows the labels


def test_threshold_groups_hold_each_groups_samples_most_confident_first_as_counted_by_hand():
    rng = np.random.default_rng(0)
    logits, target = rng.normal(0, 2, (300, 4)), rng.integers(0, 4, 300)
    groups = threshold_groups(logits, target, 0.6, 1.0)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    members = {"right": [], "wrong": [], "below": []}
    for i in range(300):  # one sample at a time, as a reader would sort them
        group = "below" if p[i].max() < 0.6 else "right" if p[i].argmax() == target[i] else "wrong"
        members[group].append(i)
    for group, indices in members.items():
        expected = sorted(indices, key=lambda i: -p[i].max())
        assert groups[group].tolist() == expected, group
    assert sum(len(members) for members in groups.values()) == 300
    assert all(np.array_equal(groups[g], threshold_groups(logits, target, 0.6)[g]) for g in groups)  # T 1: default


def test_threshold_groups_keep_equally_confident_samples_in_their_order():
    """Repeated rows tie in confidence: the grid shows them as they come, not in an unstable sort's order."""
    rng = np.random.default_rng(1)
    logits = np.repeat(rng.normal(0, 2, (100, 4)), 5, axis=0)
    target = rng.integers(0, 4, 500)
    groups = threshold_groups(logits, target, 0.6)
    confidence = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).max(axis=1)
    for members in groups.values():
        assert members.tolist() == sorted(members.tolist(), key=lambda i: (-confidence[i], i))


def test_the_what_if_at_a_runs_own_tau_and_t_is_the_mask_fixmatchs_loss_used_step_by_step():
    """The threshold page's groups and mask rate, from the logits the loss read, against the loss's own mask over
    20 training steps whose confidences move through tau."""
    from sslengine.algorithms import ALGORITHMS
    from sslengine.config import RunConfig
    from sslengine.metrics import pseudo_label_stats, threshold_groups
    from sslengine.models import build_model
    torch.manual_seed(0)
    config = RunConfig(algorithm="fixmatch", dataset="digits", threshold=0.6, temperature=0.7)
    model = build_model("auto", (1, 8, 8), 10)
    method = ALGORITHMS["fixmatch"](model, config, torch.Generator().manual_seed(0), num_classes=10,
                                    num_unlabeled=64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
    x, y = torch.rand(80, 1, 8, 8), torch.arange(80) % 10
    passed_counts = []
    for _ in range(20):
        result = method.train_step(x[:16], y[:16], x[16:], 0.5, torch.arange(64))
        logits, mask = result.unlabeled_logits.detach().numpy(), result.loss_mask.numpy()
        groups = threshold_groups(logits, y[16:].numpy(), config.threshold, config.temperature)
        what_if = np.zeros(64)
        what_if[np.concatenate([groups["right"], groups["wrong"]])] = 1
        assert what_if.tolist() == mask.tolist()
        stats = pseudo_label_stats(logits, y[16:].numpy(), config.threshold, config.temperature)
        assert stats["mask_rate"] == mask.mean()
        passed_counts.append(int(mask.sum()))
        optimizer.zero_grad()
        result.loss.backward()
        optimizer.step()
    assert min(passed_counts) < 64 and max(passed_counts) > 0  # tau cut through the batch, not above or below it


def test_boundary_crossings_are_the_midpoints_between_grid_neighbours_of_different_class_by_hand():
    grid = np.array([[x, y] for y in (0.0, 1.0, 2.0) for x in (0.0, 1.0, 2.0)])  # rows of y, x across
    p_one = np.array([0.1, 0.9, 0.9,
                      0.1, 0.1, 0.9,
                      0.1, 0.1, 0.5])  # 0.5 is class 1: P(class 1) >= 0.5
    crossings = {tuple(point) for point in boundary_crossings(grid, p_one).tolist()}
    assert crossings == {(0.5, 0.0), (1.5, 1.0), (1.5, 2.0),  # across each row
                         (1.0, 0.5)}  # up a column: (1, 0) is class 1, (1, 1) class 0
    assert len(boundary_crossings(grid, np.zeros(9))) == 0


def test_the_pixel_probe_is_the_linear_probe_on_the_labeled_samples_raw_pixels():
    from sslengine.config import RunConfig
    from sslengine.splits import as_float, load_split
    config = RunConfig(dataset="digits", labels_per_class=2)
    data = load_split(config)
    pixels = lambda x: as_float(torch.as_tensor(x)).flatten(1)
    expected = linear_probe_accuracy(pixels(data.x_labeled), torch.as_tensor(data.y_labeled), pixels(data.x_test),
                                     torch.as_tensor(data.y_test))
    assert pixel_probe_accuracy(config) == expected and 0.5 < expected < 0.9  # 20 labels of 8x8 digits


def test_at_the_top_confidence_one_sample_passes_and_its_accuracy_is_its_own(probe):
    logits, target = probe
    confidence, prediction = softmax(logits).max(axis=1), softmax(logits).argmax(axis=1)
    top = confidence.argmax()
    share, acc = quantity_quality(logits, target, np.array([confidence[top]]))
    assert share[0] * len(target) == pytest.approx(1)  # the one most confident sample
    assert acc[0] == float(prediction[top] == target[top])


def test_the_temperature_defaults_to_1():
    logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    assert softmax(logits) == pytest.approx(softmax(logits, 1.0))
    assert entropy(logits) == pytest.approx(entropy(logits, 1.0))
    for default, explicit in zip(quantity_quality(logits, np.array([0, 2]), np.array([0.6])),
                                 quantity_quality(logits, np.array([0, 2]), np.array([0.6]), 1.0)):
        assert default == pytest.approx(explicit)
    assert quantity_quality(logits, np.array([0, 2]), np.array([0.6]))[0][0] == 0.5  # 0.79 passes at T = 1,
    assert quantity_quality(logits, np.array([0, 2]), np.array([0.6]), 2.0)[0][0] == 0.0  # 0.56 at T = 2
