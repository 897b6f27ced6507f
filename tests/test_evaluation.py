"""What a run measures, checked on untrained networks, without a training loop or a store."""
import numpy as np
import pytest
import torch

from sslengine.config import RunConfig
from sslengine.evaluation import Measurements, snapshot_schedule
from sslengine.metrics import pseudo_label_stats
from sslengine.splits import load_split
from sslengine.train import build


def measured(monkeypatch, **config):
    from sslengine import evaluation
    monkeypatch.setattr(evaluation, "EVAL_SAMPLE", 50)
    config = RunConfig(**config)
    data = load_split(config).to(torch.device("cpu"))
    model, method, _ = build(config, data, torch.device("cpu"), torch.Generator().manual_seed(0), None, None)
    return config, data, model, Measurements(config, data, method, model, student=model)


def test_snapshots_fall_on_log_steps_from_0_to_the_last():
    steps = snapshot_schedule(1000, 8, 20)
    assert min(steps) == 0 and max(steps) == 1000 and len(steps) <= 8
    assert all(step % 20 == 0 for step in steps)
    assert snapshot_schedule(5, 50, 1) == set(range(6))


def test_test_accuracy_is_a_count_on_a_fixed_sample_before_the_end_and_on_every_point_at_it(monkeypatch):
    config, data, model, measure = measured(monkeypatch, algorithm="fixmatch", dataset="moons", steps=100)
    assert len(data.y_test) > 50
    for step, count in ((10, 50), (config.steps, len(data.y_test))):
        some, _ = measure.scored(step)
        with torch.no_grad():
            model.eval()
            right = (model(data.x_test[some]).argmax(-1) == data.y_test[some]).sum().item()
            model.train()
        values = measure.test(step)
        assert values["test_acc"] == pytest.approx(right / count) and len(data.y_test[some]) == count
        assert set(values) == {"test_acc", "test_loss", "student_test_acc"} and values["test_loss"] > 0
        assert values["student_test_acc"] == values["test_acc"]  # the same network given as both


def test_a_snapshot_holds_the_probe_logits_the_boundary_grid_and_at_step_0_its_inputs(monkeypatch):
    config, data, model, measure = measured(monkeypatch, algorithm="fixmatch", dataset="moons", steps=100)
    first, representation = measure.snapshot(0)
    later, _ = measure.snapshot(10)
    assert representation == {}  # FixMatch learns no representation of its own
    assert first["logits"].shape == (min(config.probe_size, len(data.y_unlabeled)), 2)
    assert np.array_equal(first["target"], data.y_unlabeled[:config.probe_size].numpy())
    assert {"grid", "grid_probs", "probe_x", "labeled_x", "labeled_y"} <= set(first)
    assert not {"grid", "probe_x"} & set(later) and np.allclose(first["grid_probs"].sum(-1), 1, atol=1e-5)


def test_the_what_if_scalars_read_the_runs_own_temperature(monkeypatch):
    """At T = 0.5 a logit gap of 2.5 gives a confidence of 0.993, past tau 0.95; at T = 1 it gives 0.924."""
    from sslengine.algorithms.base import StepResult
    _, data, _, measure = measured(monkeypatch, algorithm="fixmatch", dataset="moons", steps=100, temperature=0.5)
    batch = torch.tensor([0, 3, 5, 8])
    logits = torch.tensor([[2.5, 0.0], [0.0, 2.5], [0.2, 0.0], [0.0, 0.1]])
    got = measure.pseudo_labels(StepResult(torch.tensor(0.0), unlabeled_logits=logits), batch)
    assert got["mask_rate_at_tau"] == pytest.approx(0.5)  # the two gaps of 2.5; at T = 1 none passes:
    assert pseudo_label_stats(logits.numpy(), data.y_unlabeled[batch].numpy(), 0.95)["mask_rate"] == 0.0
    assert set(got) == {"mask_rate_at_tau", "pseudo_label_acc_passing_at_tau", "pseudo_label_acc"}


def test_pseudo_label_scalars_score_the_mask_the_loss_used_and_the_fixed_tau_what_if(monkeypatch):
    from sslengine.algorithms.base import StepResult
    config, data, _, measure = measured(monkeypatch, algorithm="fixmatch", dataset="moons", steps=100)
    batch = torch.tensor([0, 3, 5, 8])
    logits = torch.tensor([[4.0, 0.0], [0.0, 4.0], [0.2, 0.0], [0.0, 0.1]])
    truth = data.y_unlabeled[batch].numpy()
    # the loss used other labels and a weight: say an adaptive rule let the third in at half weight
    labels, weight = torch.tensor([0, 1, 1, 1]), torch.tensor([1.0, 1.0, 0.5, 0.0])
    got = measure.pseudo_labels(StepResult(torch.tensor(0.0), unlabeled_logits=logits, loss_labels=labels,
                                           loss_mask=weight), batch)
    right = [int(labels[i]) == truth[i] for i in range(4)]
    assert got["mask_rate"] == pytest.approx(2.5 / 4)
    assert got["pseudo_label_acc"] == pytest.approx(np.mean(right))
    assert got["pseudo_label_acc_passing"] == pytest.approx((right[0] + right[1] + 0.5 * right[2]) / 2.5)
    assert got["mask_rate_at_tau"] == pytest.approx(0.5)  # two pass 0.95: the confident ones
    at_tau = pseudo_label_stats(logits.numpy(), truth, config.threshold)
    assert got["pseudo_label_acc_passing_at_tau"] == at_tau["pseudo_label_acc_passing"]
    # a method without a mask (consistency only): the what-if, and its argmax's accuracy
    plain = measure.pseudo_labels(StepResult(torch.tensor(0.0), unlabeled_logits=logits), batch)
    assert "mask_rate" not in plain and plain["mask_rate_at_tau"] == pytest.approx(0.5)
    assert plain["pseudo_label_acc"] == pytest.approx(np.mean([int(logits[i].argmax()) == truth[i] for i in range(4)]))
    assert measure.pseudo_labels(StepResult(torch.tensor(0.0)), batch) == {}


def test_a_representation_learner_is_scored_by_knn_and_a_linear_probe(monkeypatch):
    _, data, _, measure = measured(monkeypatch, algorithm="simclr", dataset="digits", steps=100)
    arrays, representation = measure.snapshot(0)
    assert set(representation) == {"knn_acc", "linear_probe_acc", "test_acc"}
    assert 0 <= representation["knn_acc"] <= 1 and representation["test_acc"] == representation["linear_probe_acc"]
    assert arrays["embedding"].shape[0] == len(arrays["target"]) + len(data.y_labeled)
