"""Each loss against the same quantity computed by hand from its formula."""
import copy
import math

import pytest
import torch

from sslengine.algorithms import ALGORITHMS
from sslengine.algorithms.base import pseudo_labels, sigmoid_rampup, softmax_mse
from sslengine.algorithms.entmin import entropy_loss
from sslengine.algorithms.fixmatch import fixmatch_loss
from sslengine.algorithms.pseudo_label import pseudo_label_loss
from sslengine.config import RunConfig
from sslengine.models import build_model


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


def test_softmax_mse_is_the_squared_distance_of_softmaxes_over_classes_and_samples():
    expected = sum(sum((p - q) ** 2 for p, q in zip(softmax_row(a), softmax_row(b)))
                   for a, b in zip(WEAK, STRONG)) / (len(WEAK) * len(WEAK[0]))
    assert softmax_mse(torch.tensor(WEAK), torch.tensor(STRONG)).item() == pytest.approx(expected, rel=1e-5)


def test_sigmoid_rampup_rises_from_exp_minus_5_to_one_then_stays():
    assert sigmoid_rampup(0.0, 0.4) == pytest.approx(math.exp(-5))
    assert sigmoid_rampup(0.2, 0.4) == pytest.approx(math.exp(-5 * 0.25))
    assert sigmoid_rampup(0.4, 0.4) == sigmoid_rampup(0.9, 0.4) == 1.0


@pytest.mark.parametrize("algorithm", ["pi_model", "mean_teacher"])
def test_consistency_methods_weigh_the_unlabeled_term_by_the_ramp(algorithm):
    """loss = loss_x + ramp * lambda_u * loss_u, with the terms the step reports."""
    config = RunConfig(algorithm=algorithm, dataset="digits")
    torch.manual_seed(0)
    model = build_model("image", 10)
    method = ALGORITHMS[algorithm](model, config, torch.Generator().manual_seed(0))
    method.teacher = copy.deepcopy(model)  # the loop's EMA, here frozen at the start
    x = torch.rand(12, 1, 8, 8)
    result = method.train_step(x[:4], torch.arange(4), x[4:], progress=0.1)
    weight = sigmoid_rampup(0.1, 0.4) * config.lambda_u
    expected = result.terms["loss_x"] + weight * result.terms["loss_u"]
    assert result.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    result.loss.backward()
    assert all(p.grad is None for p in method.teacher.parameters())  # only the student learns


def test_each_method_fills_the_fields_left_to_it():
    assert (RunConfig(algorithm="fixmatch").lambda_u, RunConfig(algorithm="fixmatch").ema_decay) == (1.0, 0.99)
    assert (RunConfig(algorithm="mean_teacher").lambda_u, RunConfig(algorithm="mean_teacher").ema_decay) == (
        10.0, 0.95)
    assert RunConfig(algorithm="pi_model", lambda_u=3.0).lambda_u == 3.0  # an explicit value wins
