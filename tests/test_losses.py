"""Each loss against the same quantity computed by hand from its formula."""
import math

import pytest
import torch

from sslengine.algorithms.base import pseudo_labels
from sslengine.algorithms.entmin import entropy_loss
from sslengine.algorithms.fixmatch import fixmatch_loss
from sslengine.algorithms.pseudo_label import pseudo_label_loss


def softmax_row(row, temperature=1.0):
    exps = [math.exp(v / temperature) for v in row]
    return [e / sum(exps) for e in exps]


def cross_entropy_row(row, label):
    return -math.log(softmax_row(row)[label])


WEAK = [[4.0, 0.0, 0.0], [0.5, 0.4, 0.3], [0.0, 0.0, 6.0], [1.0, 3.0, 0.0]]
STRONG = [[1.0, 2.0, 0.0], [0.0, 1.0, 0.0], [0.3, 0.2, 1.0], [2.0, 0.0, 1.0]]


@pytest.mark.parametrize("threshold,temperature", [(0.95, 1.0), (0.8, 1.0), (0.5, 2.0), (0.0, 1.0), (1.0, 0.5)])
def test_fixmatch_loss_matches_hand_computation(threshold, temperature):
    expected = 0.0
    for weak, strong in zip(WEAK, STRONG):
        q = softmax_row(weak, temperature)
        if max(q) >= threshold:
            expected += cross_entropy_row(strong, q.index(max(q)))
    expected /= len(WEAK)  # the mean is over the whole batch, passing or not
    got = fixmatch_loss(torch.tensor(WEAK), torch.tensor(STRONG), threshold, temperature)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_fixmatch_loss_ignores_samples_below_threshold():
    strong = torch.tensor(STRONG, requires_grad=True)
    fixmatch_loss(torch.tensor(WEAK), strong, 0.95, 1.0).backward()
    passing = [max(softmax_row(w)) >= 0.95 for w in WEAK]
    assert passing == [True, False, True, False]
    for row, passes in zip(strong.grad, passing):
        assert (row.abs().sum() > 0) == passes


def test_fixmatch_loss_sends_no_gradient_through_the_weak_view():
    weak = torch.tensor(WEAK, requires_grad=True)
    strong = torch.tensor(STRONG, requires_grad=True)
    fixmatch_loss(weak, strong, 0.5, 1.0).backward()
    assert weak.grad is None and strong.grad.abs().sum() > 0


def test_temperature_changes_which_labels_pass():
    logits = torch.tensor([[2.0, 0.0], [0.6, 0.0]])
    _, sharp = pseudo_labels(logits, 0.8, temperature=0.5)
    _, flat = pseudo_labels(logits, 0.8, temperature=2.0)
    assert sharp.tolist() == [1.0, 0.0]  # softmax(4, 0) = 0.98; softmax(1.2, 0) = 0.77
    assert flat.tolist() == [0.0, 0.0]  # softmax(1, 0) = 0.73


def test_pseudo_label_loss_trains_on_own_confident_argmax():
    expected = sum(cross_entropy_row(row, row.index(max(row)))
                   for row in WEAK if max(softmax_row(row)) >= 0.9) / len(WEAK)
    assert pseudo_label_loss(torch.tensor(WEAK), 0.9, 1.0).item() == pytest.approx(expected, rel=1e-5)


def test_entropy_loss_is_mean_shannon_entropy_in_nats():
    expected = sum(-sum(p * math.log(p) for p in softmax_row(row)) for row in WEAK) / len(WEAK)
    assert entropy_loss(torch.tensor(WEAK)).item() == pytest.approx(expected, rel=1e-5)


def test_entropy_loss_bounds():
    assert entropy_loss(torch.zeros(3, 4)).item() == pytest.approx(math.log(4))
    assert entropy_loss(torch.tensor([[50.0, 0.0, 0.0]])).item() == pytest.approx(0.0, abs=1e-6)
