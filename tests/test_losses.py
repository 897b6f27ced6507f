"""Each loss against the same quantity computed by hand from its formula."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F

from sslengine import augment
from sslengine.algorithms import ALGORITHMS
from sslengine.algorithms.base import pseudo_labels, sigmoid_rampup, softmax_mse
from sslengine.algorithms.byol import byol_loss
from sslengine.algorithms.comatch import graph_contrastive_loss, smoothed_pseudo_labels
from sslengine.algorithms.distill import distillation_loss
from sslengine.algorithms.enaet import prediction_kl, transformation_loss
from sslengine.algorithms.entmin import entropy_loss
from sslengine.algorithms.flexmatch import flexmatch_thresholds
from sslengine.algorithms.freematch import freematch_update
from sslengine.algorithms.mixmatch import mixup, sharpen
from sslengine.algorithms.mocov3 import moco_contrastive_loss
from sslengine.algorithms.simclr import nt_xent
from sslengine.config import RunConfig
from sslengine.models import build_model
from sslengine.splits import as_float, load_split


def softmax_row(row, temperature=1.0):
    exps = [math.exp(v / temperature) for v in row]
    return [e / sum(exps) for e in exps]


def cross_entropy_row(row, label):
    return -math.log(softmax_row(row)[label])


WEAK = [[4.0, 0.0, 0.0], [0.5, 0.4, 0.3], [0.0, 0.0, 6.0], [1.0, 3.0, 0.0]]
STRONG = [[1.0, 2.0, 0.0], [0.0, 1.0, 0.0], [0.3, 0.2, 1.0], [2.0, 0.0, 1.0]]


def points_method(algorithm: str, num_classes: int, num_unlabeled: int = 4, labeled_marginal=None, **config):
    """A method on a fresh 2-D model of `num_classes` outputs, seeded, for hand-made logits."""
    torch.manual_seed(0)
    config = RunConfig(algorithm=algorithm, dataset="moons", **config)
    return ALGORITHMS[algorithm](build_model("auto", (2,), num_classes), config, torch.Generator().manual_seed(0),
                                 num_classes=num_classes, num_unlabeled=num_unlabeled,
                                 labeled_marginal=labeled_marginal)


def fixmatch_unlabeled_loss(weak, strong, **config):
    """FixMatch's rule, as its class applies it, for the hand-made logits WEAK and STRONG."""
    method = points_method("fixmatch", 3, **config)
    return method.unlabeled_loss(weak, strong, torch.arange(4), torch.zeros(2, 3))


@pytest.mark.parametrize("threshold,temperature", [(0.95, 1.0), (0.8, 1.0), (0.5, 2.0), (0.0, 1.0), (1.0, 0.5)])
def test_fixmatch_loss_matches_hand_computation(threshold, temperature):
    expected, passing = 0.0, []
    for weak, strong in zip(WEAK, STRONG):
        q = softmax_row(weak, temperature)
        passing.append(float(max(q) >= threshold))
        if max(q) >= threshold:
            expected += cross_entropy_row(strong, q.index(max(q)))
    expected /= len(WEAK)  # the mean is over the whole batch, passing or not
    loss, labels, mask, _ = fixmatch_unlabeled_loss(torch.tensor(WEAK), torch.tensor(STRONG), threshold=threshold,
                                                    temperature=temperature)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert labels.tolist() == [row.index(max(row)) for row in WEAK] and mask.tolist() == passing


def test_fixmatch_loss_ignores_samples_below_threshold():
    strong = torch.tensor(STRONG, requires_grad=True)
    fixmatch_unlabeled_loss(torch.tensor(WEAK), strong, threshold=0.95)[0].backward()
    passing = [max(softmax_row(w)) >= 0.95 for w in WEAK]
    assert passing == [True, False, True, False]
    for row, passes in zip(strong.grad, passing):
        assert (row.abs().sum() > 0) == passes


def test_fixmatch_loss_sends_no_gradient_through_the_weak_view():
    weak = torch.tensor(WEAK, requires_grad=True)
    strong = torch.tensor(STRONG, requires_grad=True)
    fixmatch_unlabeled_loss(weak, strong, threshold=0.5)[0].backward()
    assert weak.grad is None and strong.grad.abs().sum() > 0


def test_a_fixmatch_step_trains_on_the_rule_and_returns_the_mask_it_used():
    method = points_method("fixmatch", 3, 8, threshold=0.6)
    x_l, x_u = torch.randn(4, 2), torch.randn(8, 2)
    result = method.train_step(x_l, torch.tensor([0, 1, 2, 0]), x_u, 0.0, torch.arange(8))
    q = result.unlabeled_logits.softmax(dim=-1)
    assert result.loss_labels.tolist() == q.argmax(dim=-1).tolist()
    assert result.loss_mask.tolist() == (q.max(dim=-1).values >= 0.6).float().tolist()
    assert result.loss.item() == pytest.approx((result.terms["loss_x"] + result.terms["loss_u"]).item(), rel=1e-6)


def test_temperature_changes_which_labels_pass():
    logits = torch.tensor([[2.0, 0.0], [0.6, 0.0]])
    _, sharp = pseudo_labels(logits, 0.8, temperature=0.5)
    _, flat = pseudo_labels(logits, 0.8, temperature=2.0)
    assert sharp.tolist() == [1.0, 0.0]  # softmax(4, 0) = 0.98; softmax(1.2, 0) = 0.77
    assert flat.tolist() == [0.0, 0.0]  # softmax(1, 0) = 0.73


def test_pseudo_label_loss_trains_on_own_confident_argmax():
    method = points_method("pseudo_label", 3, 6, threshold=0.9, weak_augment=False)
    result = method.train_step(torch.randn(2, 2), torch.tensor([0, 1]), torch.randn(6, 2) * 3, 1.0, torch.arange(6))
    rows = result.unlabeled_logits.tolist()
    expected = sum(cross_entropy_row(row, row.index(max(row))) for row in rows if max(softmax_row(row)) >= 0.9)
    assert result.terms["loss_u"].item() == pytest.approx(expected / len(rows), rel=1e-5)
    assert result.loss_mask.tolist() == [float(max(softmax_row(row)) >= 0.9) for row in rows]


def test_pseudo_label_adds_its_term_weighed_by_the_linear_ramp():
    """alpha = lambda_u * min(t / 0.2, 1): at a tenth of training half of lambda_u = 3."""
    method = points_method("pseudo_label", 3, 6, threshold=0.0, lambda_u=3.0, weak_augment=False)
    result = method.train_step(torch.randn(2, 2), torch.tensor([0, 1]), torch.randn(6, 2) * 3, 0.1, torch.arange(6))
    t = result.terms
    assert t["loss_u"].item() > 0 and result.loss_mask.tolist() == [1.0] * 6
    assert result.loss.item() == pytest.approx((t["loss_x"] + 1.5 * t["loss_u"]).item(), rel=1e-6)
    assert result.loss_labels.tolist() == result.unlabeled_logits.argmax(dim=1).tolist()


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
    assert sigmoid_rampup(0.0, 0.0) == sigmoid_rampup(0.3, 0.0) == 1.0  # no ramp: the full weight at once


def test_linear_rampup_rises_from_zero_to_one_then_stays():
    from sslengine.algorithms.base import linear_rampup
    assert linear_rampup(0.0, 0.4) == 0.0 and linear_rampup(0.1, 0.4) == pytest.approx(0.25)
    assert linear_rampup(0.4, 0.4) == linear_rampup(0.9, 0.4) == 1.0
    assert linear_rampup(0.0, 0.0) == linear_rampup(0.3, 0.0) == 1.0  # no ramp


def digits_method(algorithm: str, **config):
    """A method on a fresh digits-sized model, seeded, over 8 unlabeled samples."""
    torch.manual_seed(0)
    method, config = ALGORITHMS[algorithm], RunConfig(algorithm=algorithm, dataset="digits", **config)
    model = method.equip(build_model("auto", (1, 8, 8), 10), config)
    average = copy.deepcopy(model) if method.uses_ema else None  # the loop's EMA, here frozen at the start
    return method(model, config, torch.Generator().manual_seed(0), num_classes=10, num_unlabeled=8,
                  average=average)


@pytest.mark.parametrize("algorithm", ["fixmatch", "flexmatch", "freematch", "softmatch", "adamatch", "dash"])
def test_the_fixmatch_family_weighs_its_unlabeled_term_by_lambda_u(algorithm):
    """loss = loss_x + lambda_u * loss_u at lambda_u = 2.5: at 1, as the other tests run, a dropped weight
    left every test green. Threshold 0, so that the unlabeled term is not 0 on a fresh model."""
    method = digits_method(algorithm, lambda_u=2.5, threshold=0.0)
    method.rho_hat = 10.0  # Dash's rule reads rho, not tau (other methods have no such field)
    x = torch.rand(12, 1, 8, 8)
    result = method.train_step(x[:4], torch.arange(4), x[4:], progress=0.1, unlabeled_index=torch.arange(8))
    assert result.terms["loss_u"].item() > 0.1
    assert result.loss.item() == pytest.approx((result.terms["loss_x"] + 2.5 * result.terms["loss_u"]).item(),
                                               rel=1e-6)


@pytest.mark.parametrize("algorithm", ["pi_model", "mean_teacher"])
def test_consistency_methods_weigh_the_unlabeled_term_by_the_ramp(algorithm):
    """loss = loss_x + ramp * lambda_u * loss_u, with the terms the step reports."""
    method = digits_method(algorithm)
    method.weak = lambda images: images  # the views by hand: none
    config = method.config
    x = torch.rand(12, 1, 8, 8)
    result = method.train_step(x[:4], torch.arange(4), x[4:], progress=0.1, unlabeled_index=torch.arange(8))
    weight = sigmoid_rampup(0.1, 0.4) * config.lambda_u
    expected = result.terms["loss_x"] + weight * result.terms["loss_u"]
    assert result.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert result.monitors == {"consistency_weight": pytest.approx(weight)}
    with torch.no_grad():  # the logged labeller: Pi-Model's first view (a pass over all views), the teacher's
        logged = (method.model(torch.cat([x, x[4:]]))[4:12] if algorithm == "pi_model" else method.teacher(x[4:]))
    assert torch.allclose(result.unlabeled_logits, logged, atol=1e-5)
    result.loss.backward()
    if algorithm == "mean_teacher":  # its teacher is the loop's average of the student, which only averages
        assert method.teacher is method.average and method.pseudo_labeler() is method.average
        assert all(p.grad is None for p in method.teacher.parameters())
    else:
        assert method.teacher is None and method.pseudo_labeler() is method.model


def test_each_method_fills_the_fields_left_to_it():
    assert (RunConfig(algorithm="fixmatch").lambda_u, RunConfig(algorithm="fixmatch").ema_decay) == (1.0, 0.99)
    assert (RunConfig(algorithm="mean_teacher").lambda_u, RunConfig(algorithm="mean_teacher").ema_decay) == (
        10.0, 0.95)
    assert RunConfig(algorithm="pi_model", lambda_u=3.0).lambda_u == 3.0  # an explicit value wins


def test_flexmatch_thresholds_follow_each_classes_share_of_passing_samples():
    # 10 unlabeled samples: class 0 passed last for 4, class 1 for 2, class 2 for none, 4 never passed.
    memory = torch.tensor([0, 0, 0, 0, 1, 1, -1, -1, -1, -1])
    got = flexmatch_thresholds(memory, num_classes=3, tau=0.9)
    beta = [4 / 4, 2 / 4, 0 / 4]  # sigma / max(max sigma = 4, unseen = 4)
    assert got.tolist() == pytest.approx([0.9 * b / (2 - b) for b in beta])


def test_flexmatch_thresholds_warm_up_from_zero_while_most_samples_are_unseen():
    memory = torch.tensor([0, 1] + [-1] * 98)
    beta = 1 / 98  # one sample each against 98 unseen
    assert flexmatch_thresholds(memory, 2, 0.95).tolist() == pytest.approx([0.95 * beta / (2 - beta)] * 2)
    assert flexmatch_thresholds(torch.tensor([1, 1, 0, 1]), 2, 0.95).tolist() == pytest.approx(
        [0.95 * (1 / 3) / (2 - 1 / 3), 0.95])
    assert flexmatch_thresholds(torch.tensor([0]), 2, 0.9).tolist() == pytest.approx([0.9, 0.0])  # one sample
    assert flexmatch_thresholds(torch.tensor([], dtype=torch.long), 2, 0.9).tolist() == [0.0, 0.0]  # none: no 0/0


def test_flexmatch_remembers_only_samples_above_the_fixed_threshold():
    config = RunConfig(algorithm="flexmatch", dataset="moons", threshold=0.6)
    torch.manual_seed(0)
    method = ALGORITHMS["flexmatch"](build_model("auto", (2,), 2), config, torch.Generator().manual_seed(0),
                                     num_classes=2, num_unlabeled=20)
    x_unlabeled, index = torch.randn(8, 2), torch.arange(10, 18)
    result = method.train_step(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]), x_unlabeled, 0.0, index)
    confidence, labels = result.unlabeled_logits.softmax(-1).max(-1)
    expected = torch.full((20,), -1)
    expected[index[confidence >= 0.6]] = labels[confidence >= 0.6]
    assert method.latest_passing.tolist() == expected.tolist()
    assert result.monitors["threshold_0"].item() == 0.0  # all 20 unseen before this step


def test_freematch_thresholds_are_the_emas_of_confidence_and_class_distribution():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.5, 0.25, 0.25], [0.6, 0.3, 0.1]])
    tau, p = torch.tensor(1 / 3), torch.full((3,), 1 / 3)
    for _ in range(2):
        tau, p, thresholds = freematch_update(tau, p, probs, momentum=0.9)
    mean_max = (0.7 + 0.8 + 0.5 + 0.6) / 4
    mean_p = [(0.7 + 0.1 + 0.5 + 0.6) / 4, (0.2 + 0.8 + 0.25 + 0.3) / 4, (0.1 + 0.1 + 0.25 + 0.1) / 4]
    want_tau = 0.81 * (1 / 3) + 0.09 * mean_max + 0.1 * mean_max  # two EMA steps by hand
    want_p = [0.81 * (1 / 3) + 0.19 * m for m in mean_p]
    assert tau.item() == pytest.approx(want_tau)
    assert thresholds.tolist() == pytest.approx([want_tau * q / max(want_p) for q in want_p])


def test_s4l_rotation_predicts_the_quarter_turns_of_strong_views_of_every_image():
    method = digits_method("s4l_rotation", lambda_u=0.5)
    model = method.model
    x = torch.rand(12, 1, 8, 8)
    replay = torch.Generator().set_state(method.rng.get_state())
    result = method.train_step(x[:4], torch.arange(4), x[4:], 0.0, torch.arange(8))
    assert result.loss.item() == pytest.approx((result.terms["loss_x"] + 0.5 * result.terms["loss_u"]).item())

    # The same views drawn again, then turned one image at a time with rot90.
    turns = torch.randint(4, (12,), generator=replay)
    strong = augment.strong(x, replay)
    rotated = torch.stack([image.rot90(int(k), dims=(-2, -1)) for image, k in zip(strong, turns)])
    upright = augment.weak(x[:4], replay)
    embedding = model.embed(torch.cat([upright, rotated]))
    logits = model.rotation_head(embedding[4:]).tolist()
    by_hand = sum(cross_entropy_row(row, int(k)) for row, k in zip(logits, turns)) / 12
    assert result.terms["loss_u"].item() == pytest.approx(by_hand, rel=1e-4)
    right = sum(max(range(4), key=row.__getitem__) == int(k) for row, k in zip(logits, turns)) / 12
    assert set(result.monitors) == {"rotation_acc"} and result.monitors["rotation_acc"].item() == pytest.approx(right)

    result.loss.backward()
    assert model.rotation_head[0].weight.grad.abs().sum() > 0
    assert any(p is model.rotation_head[0].weight for p in model.parameters())  # the optimizer sees it


def test_enaet_transformation_loss_is_the_mse_against_the_map_minus_identity():
    theta = torch.tensor([[[1.2, 0.1, 0.3], [-0.2, 0.9, 0.0]], [[1.0, 0.0, -0.1], [0.0, 1.0, 0.2]]])
    predicted = torch.tensor([[0.1, 0.0, 0.2, -0.1, 0.0, 0.1], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    target = [[0.2, 0.1, 0.3, -0.2, -0.1, 0.0], [0.0, 0.0, -0.1, 0.0, 0.0, 0.2]]
    by_hand = sum((p - t) ** 2 for row_p, row_t in zip(predicted.tolist(), target)
                  for p, t in zip(row_p, row_t)) / 12
    assert transformation_loss(predicted, theta).item() == pytest.approx(by_hand, rel=1e-5)


def test_enaet_kl_matches_hand_computation_and_holds_the_original_fixed():
    original = torch.tensor(WEAK, requires_grad=True)
    transformed = torch.tensor(STRONG, requires_grad=True)
    by_hand = sum(sum(p * math.log(p / q) for p, q in zip(softmax_row(w), softmax_row(s)))
                  for w, s in zip(WEAK, STRONG)) / len(WEAK)
    kl = prediction_kl(original, transformed)
    assert kl.item() == pytest.approx(by_hand, rel=1e-5)
    kl.backward()
    assert original.grad is None and transformed.grad.abs().sum() > 0


def test_enaet_adds_the_weighted_transformation_and_kl_terms_and_trains_its_head():
    method = digits_method("enaet", lambda_u=0.5)
    x = torch.rand(12, 1, 8, 8)
    result = method.train_step(x[:4], torch.arange(4), x[4:], 0.0, torch.arange(8))
    terms = result.terms
    assert terms["loss_u"].item() == pytest.approx((terms["loss_transformation"] + terms["loss_kl"]).item())
    assert result.loss.item() == pytest.approx((terms["loss_x"] + 0.5 * terms["loss_u"]).item(), rel=1e-6)
    result.loss.backward()
    assert method.model.transformation_head[0].weight.grad.abs().sum() > 0
    assert isinstance(method.model.transformation_head[1], torch.nn.ReLU)  # two layers, not one linear map
    again = digits_method("enaet", lambda_u=0.5)  # the same seed: the run's generator draws the same maps,
    torch.manual_seed(123)  # whatever torch's global generator holds
    replay = again.train_step(x[:4], torch.arange(4), x[4:], 0.0, torch.arange(8))
    assert replay.loss.item() == pytest.approx(result.loss.item(), rel=1e-6)
    with torch.no_grad():  # the unlabeled logits it reports are the original views' (the snapshot's labels)
        assert torch.allclose(result.unlabeled_logits, replay.unlabeled_logits)
    assert result.unlabeled_logits.shape == (8, 10)


def test_noisy_student_learns_from_labels_alone_then_from_a_frozen_teachers_argmax():
    method = digits_method("noisy_student", lambda_u=0.7)
    model = method.model
    x = torch.rand(12, 1, 8, 8)
    first = method.train_step(x[:4], torch.arange(4), x[4:], progress=0.1, unlabeled_index=torch.arange(8))
    assert set(first.terms) == {"loss_x"} and first.loss is first.terms["loss_x"]

    later = method.train_step(x[:4], torch.arange(4), x[4:], progress=0.3, unlabeled_index=torch.arange(8))
    assert later.monitors["round"] == 1 and method.teacher is not model and method.pseudo_labeler() is method.teacher
    assert later.loss.item() == pytest.approx((later.terms["loss_x"] + 0.7 * later.terms["loss_u"]).item())
    later.loss.backward()
    assert all(p.grad is None for p in method.teacher.parameters())


def test_noisy_students_rounds_losses_and_logged_labels_by_hand():
    """Rounds by progress (four equal parts: labels alone, then three teachers), each loss recomputed from the
    same unaugmented views, and what the step logs: the teacher's logits, its argmax labels, every one counted."""
    method = digits_method("noisy_student", lambda_u=0.7)
    method.weak = method.strong = lambda x: x
    model, x, y = method.model, torch.rand(12, 1, 8, 8), torch.arange(4)
    first = method.train_step(x[:4], y, x[4:], progress=0.2, unlabeled_index=torch.arange(8))  # 0.2 x 4 < 1
    with torch.no_grad():
        assert first.loss.item() == pytest.approx(F.cross_entropy(model(x[:4]), y).item())
    assert first.monitors == {"round": 0} and method.teacher is None
    later = method.train_step(x[:4], y, x[4:], progress=0.25, unlabeled_index=torch.arange(8))
    teacher = method.teacher
    assert later.monitors == {"round": 1} and not any(p.requires_grad for p in teacher.parameters())
    with torch.no_grad():
        logits_teacher = teacher(x[4:])
        hard = logits_teacher.argmax(dim=1)
        together = model(x)  # one pass over both batches: BatchNorm's statistics are the whole batch's
        expected = F.cross_entropy(together[:4], y) + 0.7 * F.cross_entropy(together[4:], hard)
    assert later.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert torch.equal(later.unlabeled_logits, logits_teacher) and torch.equal(later.loss_labels, hard)
    assert later.loss_mask.dtype == torch.float32 and torch.equal(later.loss_mask, torch.ones(8))
    for progress, round_ in ((0.49, 1), (0.5, 2), (0.74, 2), (0.75, 3), (0.999, 3)):
        assert method.train_step(x[:4], y, x[4:], progress, torch.arange(8)).monitors == {"round": round_}


def test_meta_pseudo_labels_feedback_is_the_students_labeled_loss_drop_after_one_sgd_step():
    method = digits_method("meta_pseudo_labels", lr=0.05)
    model, x = method.model, torch.rand(12, 1, 8, 8)
    y, pseudo = torch.arange(4), torch.randint(10, (8,))
    student = copy.deepcopy(model)
    with torch.no_grad():
        before = F.cross_entropy(student(x[:4]), y)
    F.cross_entropy(student(x)[4:], pseudo).backward()
    with torch.no_grad():
        for p in student.parameters():
            p -= 0.05 * p.grad
        after = F.cross_entropy(student(x[:4]), y)

    h = method._labeled_loss_drop(F.cross_entropy(model(x)[4:], pseudo), x[:4], y)
    assert h == pytest.approx((before - after).item(), rel=1e-4, abs=1e-6)


def test_meta_pseudo_labels_steps_the_teacher_and_leaves_the_student_to_the_loop():
    method = digits_method("meta_pseudo_labels")
    teacher_before = [p.clone() for p in method.teacher.parameters()]
    x = torch.rand(12, 1, 8, 8)
    result = method.train_step(x[:4], torch.arange(4), x[4:], 0.0, torch.arange(8))
    assert any(not torch.equal(a, b) for a, b in zip(teacher_before, method.teacher.parameters()))
    assert all(p.grad is None for p in method.model.parameters())  # the loop backpropagates result.loss
    assert result.loss is result.terms["loss_u"] and "mpl_feedback" in result.monitors
    result.loss.backward()  # h's gradient kept the student's graph for the loop's backward pass
    assert all(p.grad is not None for p in method.model.parameters())
    assert {key: method.teacher_optimizer.defaults[key] for key in ("momentum", "nesterov", "weight_decay")} == {
        "momentum": 0.9, "nesterov": True, "weight_decay": method.config.weight_decay}  # as the student's


def test_meta_pseudo_labels_teachers_loss_by_hand():
    """The teacher's three terms from its logits before its step: CE on the labels, lambda_u times UDA's
    consistency (soft targets softmax(w / T), counted above the threshold) and h times CE on its own argmax."""
    x = torch.rand(12, 1, 8, 8)
    x_l, y_l, x_u = x[:4], torch.arange(4), x[4:]
    probe = digits_method("meta_pseudo_labels")  # the same weights as `method` below
    with torch.no_grad():
        weak = probe.teacher(torch.cat([x_l, x_u, x_u]))[4:12].tolist()
    tau = sorted(max(softmax_row(row, 0.5)) for row in weak)[4]  # half pass
    method = digits_method("meta_pseudo_labels", temperature=0.5, lambda_u=2.0, threshold=tau)
    method.weak = method.strong = lambda images: images
    teacher = copy.deepcopy(method.teacher)
    result = method.train_step(x_l, y_l, x_u, 0.0, torch.arange(8))
    with torch.no_grad():
        logits = teacher(torch.cat([x_l, x_u, x_u])).tolist()
    labeled, weak, strong = logits[:4], logits[4:12], logits[12:]
    pseudo = [max(range(10), key=row.__getitem__) for row in strong]
    mask = [float(max(softmax_row(row, 0.5)) >= tau) for row in weak]
    uda = sum(m * -sum(q * math.log(p) for q, p in zip(softmax_row(w, 0.5), softmax_row(s)))
              for m, w, s in zip(mask, weak, strong)) / 8
    h = result.monitors["mpl_feedback"]
    expected = (sum(cross_entropy_row(row, y) for row, y in zip(labeled, range(4))) / 4 + 2.0 * uda
                + h * sum(cross_entropy_row(row, k) for row, k in zip(strong, pseudo)) / 8)
    assert mask.count(1.0) == 4 and h != 0
    assert result.terms["teacher_loss"].item() == pytest.approx(expected, rel=1e-4)
    assert result.loss_labels.tolist() == pseudo and result.loss_mask.tolist() == [1.0] * 8
    assert result.unlabeled_logits.tolist() == [pytest.approx(row, rel=1e-5) for row in weak]


def test_meta_pseudo_labels_teacher_decays_its_learning_rate_as_the_loop_does_the_students():
    method = digits_method("meta_pseudo_labels", lr=0.05, steps=40)
    x = torch.rand(12, 1, 8, 8)
    for step in range(1, 4):
        method.train_step(x[:4], torch.arange(4), x[4:], 0.0, torch.arange(8))
        expected = 0.05 * math.cos(7 * math.pi * step / (16 * 40))  # FixMatch's cosine, as the student's
        assert method.teacher_optimizer.param_groups[0]["lr"] == pytest.approx(expected)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0, 2.0])
def test_nt_xent_matches_a_loop_over_all_pairs(temperature):
    torch.manual_seed(0)
    z_a, z_b = torch.randn(5, 3), torch.randn(5, 3)
    views = [v / v.norm() for v in torch.cat([z_a, z_b]).tolist() for v in [torch.tensor(v)]]
    n = len(z_a)
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        logits = {k: float(views[i] @ views[k]) / temperature for k in range(2 * n) if k != i}
        total += -math.log(math.exp(logits[positive]) / sum(math.exp(v) for v in logits.values()))
    assert nt_xent(z_a, z_b, temperature).item() == pytest.approx(total / (2 * n), rel=1e-5)


def test_nt_xent_is_lower_when_the_two_views_agree():
    torch.manual_seed(0)
    z = torch.randn(8, 16)
    assert nt_xent(z, z + 0.01 * torch.randn(8, 16), 0.5) < nt_xent(z, torch.randn(8, 16), 0.5)


@pytest.mark.parametrize("layers", [2, 3])
def test_simclr_step_is_nt_xent_through_a_head_of_the_asked_depth(layers):
    method = digits_method("simclr", projection_layers=layers)
    assert sum(isinstance(m, torch.nn.Linear) for m in method.model.projection) == layers
    x = torch.rand(12, 1, 8, 8)
    replay = torch.Generator().set_state(method.rng.get_state())
    result = method.train_step(x[:4], torch.arange(4), x[4:], 0.0, torch.arange(8))
    views = torch.cat([augment.simclr_view(x[4:], 1.0, replay), augment.simclr_view(x[4:], 1.0, replay)])
    z = method.model.projection(method.model.embed(views))  # the unlabeled images only
    assert result.loss.item() == pytest.approx(nt_xent(z[:8], z[8:], 0.2).item(), rel=1e-5)
    assert set(result.terms) == {"loss_contrastive"} and result.terms["loss_contrastive"] is result.loss
    result.loss.backward()
    assert method.model.projection[-1].weight.grad.abs().sum() > 0 and method.model.head.weight.grad is None


def test_the_heads_are_the_papers_layers():
    """SimCLRv2's projection (Linear without bias, BatchNorm, ReLU, then Linear), BYOL's predictor (the same
    shape back to the projection) and S4L's rotation head (a hidden ReLU layer, four quarter turns)."""
    from sslengine.algorithms.byol import predictor_head
    from sslengine.algorithms.simclr import PROJECTION_DIM, projection_head

    def shape(head):
        return [(type(m).__name__, getattr(m, "bias", True) is not None, getattr(m, "out_features", None))
                for m in head]
    assert shape(projection_head(32, 3)) == [("Linear", False, 32), ("BatchNorm1d", True, None), ("ReLU", True, None),
                                             ("Linear", False, 32), ("BatchNorm1d", True, None), ("ReLU", True, None),
                                             ("Linear", True, PROJECTION_DIM)]
    assert shape(predictor_head(16)) == [("Linear", False, 16), ("BatchNorm1d", True, None), ("ReLU", True, None),
                                         ("Linear", True, PROJECTION_DIM)]
    model = digits_method("s4l_rotation").model
    width = model.head.in_features  # the backbone's embedding
    assert shape(model.rotation_head) == [("Linear", True, width), ("ReLU", True, None), ("Linear", True, 4)]


@pytest.mark.parametrize("temperature", [1.0, 2.0, 0.5])
def test_distillation_loss_is_the_cross_entropy_of_tempered_softmaxes(temperature):
    by_hand = -sum(sum(p * math.log(q) for p, q in zip(softmax_row(t, temperature), softmax_row(s, temperature)))
                   for t, s in zip(WEAK, STRONG)) / len(WEAK)
    student = torch.tensor(STRONG, requires_grad=True)
    loss = distillation_loss(student, torch.tensor(WEAK), temperature)
    assert loss.item() == pytest.approx(by_hand, rel=1e-5)


@pytest.mark.parametrize("variant", ["U", "L"])
def test_fixmatch_simclr_adds_nt_xent_between_the_weak_and_strong_views_of_its_variant(variant):
    method = digits_method("fixmatch_simclr", variant=variant, lambda_u=0.5, threshold=0.0)
    x = torch.rand(12, 1, 8, 8)
    replay = torch.Generator().set_state(method.rng.get_state())
    result = method.train_step(x[:4], torch.arange(4), x[4:], 0.0, torch.arange(8))
    terms = result.terms
    assert terms["loss_u"].item() > 0  # at tau 0 every pseudo-label counts, so its weight shows in the sum
    assert result.loss.item() == pytest.approx(
        (terms["loss_x"] + 0.5 * terms["loss_u"] + terms["loss_contrastive"]).item(), rel=1e-6)
    # what the snapshots and the mask rate read: FixMatch's labels and mask on the weak views' logits
    assert result.unlabeled_logits.shape == (8, 10) and result.monitors == {}
    assert result.loss_labels.tolist() == result.unlabeled_logits.argmax(dim=1).tolist()
    assert result.loss_mask.tolist() == [1.0] * 8

    views = [augment.weak(x[:4], replay), augment.weak(x[4:], replay), augment.strong(x[4:], replay)]
    if variant == "L":
        views.append(augment.strong(x[:4], replay))
    e = method.model.embed(torch.cat(views))
    pair = torch.cat([e[4:12], e[12:20]] if variant == "U" else [e[:4], e[20:]])
    z_weak, z_strong = method.model.projection(pair).chunk(2)  # one BatchNorm batch, as SimCLR's
    assert terms["loss_contrastive"].item() == pytest.approx(nt_xent(z_weak, z_strong, 0.2).item(), rel=1e-5)


def test_softmatch_aligns_to_uniform_and_weighs_by_a_truncated_gaussian_by_hand():
    from sslengine.algorithms.freematch import MOMENTUM as m
    method = digits_method("softmatch")
    assert method.mu.item() == pytest.approx(0.1) and method.var.item() == 1.0  # 1/C and a wide start
    q = torch.tensor([[0.7, 0.2, 0.1] + [0.0] * 7, [0.1, 0.8, 0.1] + [0.0] * 7, [0.4, 0.3, 0.3] + [0.0] * 7])
    q = (q + 0.01) / (q + 0.01).sum(dim=1, keepdim=True)
    aligned = method.align(q, None)
    p_bar = m * torch.full((10,), 0.1) + (1 - m) * q.mean(dim=0)
    by_hand = (q / p_bar) / (q / p_bar).sum(dim=1, keepdim=True)
    assert torch.allclose(aligned, by_hand, atol=1e-6)
    weights, monitors = method.mask(aligned, torch.arange(3), None)
    c = aligned.max(dim=1).values
    mu = m * 0.1 + (1 - m) * c.mean()
    var = m * 1.0 + (1 - m) * c.var(unbiased=True)
    for b in range(3):
        expected = 1.0 if c[b] >= mu else math.exp(-((c[b] - mu) ** 2) / (2 * var / 4))
        assert weights[b].item() == pytest.approx(float(expected), rel=1e-5)
    assert monitors["softmatch_mu"].item() == pytest.approx(float(mu)) and 0 < weights.min() <= weights.max() <= 1
    assert method.var.item() == pytest.approx(float(var), rel=1e-6)  # the running variance, kept for the next step
    assert monitors["softmatch_sigma"] == pytest.approx(math.sqrt(float(var)), rel=1e-6)
    method.mask(aligned, torch.arange(3), None)  # the next step's variance starts from this one, not from 1
    assert method.var.item() == pytest.approx(float(m * var + (1 - m) * c.var(unbiased=True)), rel=1e-6)


def test_softmatch_labels_from_the_raw_prediction_and_weighs_by_the_aligned_one_as_usb():
    method = points_method("softmatch", 3)
    method.p_bar = torch.tensor([0.6, 0.2, 0.2])  # the model has favoured class 0: alignment lifts the others
    q = torch.tensor([[0.5, 0.4, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.4, 0.3, 0.3]])
    _, labels, weight, _ = method.unlabeled_loss(q.log(), torch.zeros(4, 3), torch.arange(4), torch.zeros(2, 3))
    aligned = method.align(q, None)  # the next step's, near enough: the state moved by 1 % of a batch
    assert labels.tolist() == [0, 1, 2, 0]  # argmax of q as it is
    assert aligned.argmax(dim=1).tolist()[0] == 1  # which alignment would have relabelled
    assert 0 < weight.min() <= weight.max() <= 1


def test_softmatch_keeps_every_pseudo_label_with_a_weight_in_its_loss():
    method = digits_method("softmatch")
    x = torch.rand(12, 1, 8, 8)
    result = method.train_step(x[:4], torch.arange(4), x[4:], 0.0, torch.arange(8))
    assert result.loss.item() == pytest.approx((result.terms["loss_x"] + result.terms["loss_u"]).item(), rel=1e-6)
    assert result.terms["loss_u"].item() > 0 and 0 < float(result.monitors["mean_weight"]) <= 1


def test_adamatch_labels_by_the_aligned_prediction():
    """Alignment can move a label: the model has favoured class 0 on unlabeled data and class 1 on labeled."""
    method = points_method("adamatch", 2, threshold=0.0)
    method.p_bar_l, method.p_bar_u = torch.tensor([0.1, 0.9]), torch.tensor([0.9, 0.1])
    weak = torch.tensor([[0.6, 0.4], [0.9, 0.1]]).log()  # q: class 0 for both
    _, labels, _, _ = method.unlabeled_loss(weak, torch.zeros(2, 2), torch.arange(2), torch.zeros(3, 2))
    # aligned: 0.6 x 0.1 / 0.9 against 0.4 x 0.9 / 0.1 (class 1), 0.9 x 0.1 / 0.9 against 0.1 x 0.9 / 0.1 (class 1)
    assert labels.tolist() == [1, 1]


def test_adamatch_aligns_to_the_labeled_marginal_and_thresholds_relative_to_labeled_confidence_by_hand():
    from sslengine.algorithms.freematch import MOMENTUM as m
    method = points_method("adamatch", 2, threshold=0.9)
    p_l = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    q = torch.tensor([[0.5, 0.5], [0.95, 0.05], [0.3, 0.7], [0.8, 0.2]])
    aligned = method.align(q, p_l)
    p_bar_l = m * 0.5 + (1 - m) * p_l.mean(dim=0)
    p_bar_u = m * 0.5 + (1 - m) * q.mean(dim=0)
    by_hand = q * p_bar_l / p_bar_u
    assert torch.allclose(aligned, by_hand / by_hand.sum(dim=1, keepdim=True), atol=1e-6)
    mask, monitors = method.mask(aligned, torch.arange(4), p_l)
    cutoff = 0.9 * (0.9 + 0.6 + 0.8) / 3  # tau times the labeled batch's mean confidence: 0.69
    assert monitors["relative_threshold"].item() == pytest.approx(cutoff)
    assert mask.tolist() == [float(c >= cutoff) for c in aligned.max(dim=1).values.tolist()]
    assert mask.tolist() == [0.0, 1.0, 1.0, 1.0]  # 0.5 fails though FixMatch's 0.9 would drop 0.7 and 0.8 too


def unit(row):
    norm = math.sqrt(sum(v * v for v in row))
    return [v / norm for v in row]


@pytest.mark.parametrize("algorithm", ["byol", "mocov3"])
def test_byol_and_mocov3_raise_the_target_momentum_to_one_on_the_papers_cosine(algorithm):
    method = digits_method(algorithm, ema_decay=0.99)
    assert method.config.ema_schedule == "cosine"
    for step in (0, 250, 500, 1000):
        by_hand = 1 - (1 - 0.99) * (math.cos(math.pi * step / 1000) + 1) / 2
        assert method.ema_decay(step, 1000) == pytest.approx(by_hand)
    assert method.ema_decay(0, 1000) == pytest.approx(0.99) and method.ema_decay(1000, 1000) == pytest.approx(1.0)
    held = digits_method(algorithm, ema_decay=0.99, ema_schedule="constant")
    assert held.ema_decay(2000, 5000) == held.ema_decay(3500, 5000) == 0.99


def test_an_evaluated_average_warms_up_so_a_short_run_is_not_scored_on_its_initial_weights():
    fixmatch = digits_method("fixmatch", ema_decay=0.99)
    for step, by_hand in ((1, 2 / 11), (10, 11 / 20), (100, 101 / 110), (890, 0.99), (5000, 0.99)):
        assert fixmatch.ema_decay(step, 5000) == pytest.approx(by_hand)
    # What the first step's weights still weigh in the average after 200 steps: 13 % held, 0.02 % warmed up.
    initial = math.prod(fixmatch.ema_decay(step, 200) for step in range(1, 201))
    assert initial < 0.001 < 0.99 ** 200
    teacher = digits_method("mean_teacher")  # the paper's code: the mean of the weights so far, up to 0.95
    assert [teacher.ema_decay(step, 1000) for step in (1, 3, 19, 500)] == pytest.approx([0.5, 0.75, 0.95, 0.95])


def test_byol_loss_is_two_minus_twice_the_cosine_by_hand():
    torch.manual_seed(0)
    p, z = torch.randn(5, 4), torch.randn(5, 4)
    by_hand = sum(sum((a - b) ** 2 for a, b in zip(unit(pi), unit(zi))) for pi, zi in zip(p.tolist(), z.tolist())) / 5
    assert byol_loss(p, z).item() == pytest.approx(by_hand, rel=1e-5)
    assert byol_loss(p, 3 * p).item() == pytest.approx(0.0, abs=1e-6)  # scale does not matter, direction does


@pytest.mark.parametrize("temperature", [0.2, 1.0])
def test_moco_contrastive_loss_matches_a_loop_over_the_batch_times_two_tau(temperature):
    torch.manual_seed(0)
    q, k = torch.randn(6, 4), torch.randn(6, 4)
    queries, keys = [unit(r) for r in q.tolist()], [unit(r) for r in k.tolist()]
    total = 0.0
    for i, query in enumerate(queries):
        logits = [sum(a * b for a, b in zip(query, key)) / temperature for key in keys]
        total += -math.log(math.exp(logits[i]) / sum(math.exp(v) for v in logits))
    expected = 2 * temperature * total / len(queries)
    assert moco_contrastive_loss(q, k, temperature).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("algorithm", ["byol", "mocov3"])
def test_byol_and_mocov3_predict_the_targets_other_view_both_ways_and_train_only_the_online_network(algorithm):
    method = digits_method(algorithm)
    x = torch.rand(12, 1, 8, 8)
    replay = torch.Generator().set_state(method.rng.get_state())
    result = method.train_step(x[:4], torch.arange(4), x[4:], 0.0, torch.arange(8))
    views = torch.cat([augment.simclr_view(x[4:], 1.0, replay), augment.simclr_view(x[4:], 1.0, replay)])
    online, target = method.model, method.average  # the target is the loop's average, not the model
    assert target is not online
    p_1, p_2 = online.predictor(online.projection(online.embed(views))).chunk(2)
    with torch.no_grad():
        z_1, z_2 = target.projection(target.embed(views)).chunk(2)
    pair = byol_loss if algorithm == "byol" else lambda p, z: moco_contrastive_loss(p, z, 0.2)
    assert result.loss.item() == pytest.approx((pair(p_1, z_2) + pair(p_2, z_1)).item(), rel=1e-5)
    result.loss.backward()
    assert online.predictor[-1].weight.grad.abs().sum() > 0 and online.head.weight.grad is None
    assert all(w.grad is None for w in target.parameters())


def test_sharpen_is_the_tempered_power_renormalised_by_hand():
    p = [0.5, 0.3, 0.2]
    powered = [v ** 2 for v in p]  # T = 0.5
    by_hand = [v / sum(powered) for v in powered]
    assert sharpen(torch.tensor([p]), 0.5)[0].tolist() == pytest.approx(by_hand, rel=1e-6)
    assert sharpen(torch.tensor([p]), 1.0)[0].tolist() == pytest.approx(p, rel=1e-6)


def test_mixup_mixes_each_sample_with_its_shuffled_partner_nearer_itself():
    inputs, targets = torch.tensor([[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]]), torch.eye(3)
    mixed, mixed_targets = mixup(inputs, targets, 0.7, torch.tensor([2, 0, 1]))
    assert mixed[0].tolist() == pytest.approx([0.7 * 1 + 0.3 * 4, 0.7 * 0 + 0.3 * 4])
    assert mixed[1].tolist() == pytest.approx([0.3 * 1, 0.7 * 2])
    assert mixed_targets[2].tolist() == pytest.approx([0.0, 0.3, 0.7])


def test_mixmatch_draws_its_mixup_weight_from_beta_alpha_alpha_folded_above_a_half():
    from scipy import stats
    method = digits_method("mixmatch", mixup_alpha=0.75)
    draws = [method.mixup_weight() for _ in range(500)]
    assert min(draws) >= 0.5
    # l' = max(l, 1 - l), l ~ Beta(a, a) symmetric: P(l' <= v) = 2 F(v) - 1 on [1/2, 1]
    assert stats.kstest(draws, lambda v: 2 * stats.beta.cdf(v, 0.75, 0.75) - 1).pvalue > 0.01
    assert stats.kstest(draws, lambda v: 2 * stats.beta.cdf(v, 4.0, 4.0) - 1).pvalue < 0.01  # it can fail


def test_mixmatch_loss_by_hand_from_its_guess_mix_and_the_squared_error():
    method = digits_method("mixmatch", lambda_u=75.0, augmentations=2)
    x = torch.rand(12, 1, 8, 8)
    y = torch.arange(4)
    replay = torch.Generator().set_state(method.rng.get_state())
    model_before = copy.deepcopy(method.model)
    result = method.train_step(x[:4], y, x[4:], 0.2, torch.arange(8))

    views = [augment.weak(x[4:], replay), augment.weak(x[4:], replay)]
    with torch.no_grad():
        probs = model_before(torch.cat(views)).softmax(dim=-1)
    mean = (probs[:8] + probs[8:]) / 2
    q = mean ** 2 / (mean ** 2).sum(dim=1, keepdim=True)  # T = 0.5
    x_weak = augment.weak(x[:4], replay)
    from scipy.special import betaincinv
    l = float(betaincinv(0.75, 0.75, torch.rand((), generator=replay).item()))
    l = max(l, 1 - l)
    order = torch.randperm(20, generator=replay)
    inputs = torch.cat([x_weak, *views])
    targets = torch.cat([F.one_hot(y, 10).float(), q, q])
    mixed, mixed_targets = l * inputs + (1 - l) * inputs[order], l * targets + (1 - l) * targets[order]
    logits = model_before(mixed)  # the guess's pass updated BatchNorm's running stats, not its batch stats
    loss_x = -(mixed_targets[:4] * logits[:4].log_softmax(dim=1)).sum(dim=1).mean()
    loss_u = ((logits[4:].softmax(dim=1) - mixed_targets[4:]) ** 2).sum() / (16 * 10)
    weight = 75.0 * 0.2 / 0.4  # the linear ramp at 20 % of training, half way up
    assert result.terms["loss_x"].item() == pytest.approx(loss_x.item(), rel=1e-4)
    assert result.terms["loss_u"].item() == pytest.approx(loss_u.item(), rel=1e-4)
    assert result.loss.item() == pytest.approx(loss_x.item() + weight * loss_u.item(), rel=1e-4)
    assert result.monitors["consistency_weight"] == pytest.approx(weight)
    # the probes read softmax(logits / T) of the logged logits, at the pseudo-label T = 1: the sharpened guess
    assert method.config.temperature == 1.0 and method.config.sharpen_temperature == 0.5
    assert torch.allclose(result.unlabeled_logits.softmax(dim=1), q, atol=1e-5)


def test_remixmatch_aligns_to_the_labeled_sets_marginal_over_the_recent_mean_prediction_by_hand():
    labeled_marginal = torch.tensor([2, 1, 1]) / 4  # the labeled set's p(y), not the labels of batches seen so far
    method = points_method("remixmatch", 3, labeled_marginal=labeled_marginal)
    p1 = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    p2 = torch.tensor([[0.1, 0.1, 0.8], [0.5, 0.25, 0.25]])
    first = method.align(p1)
    assert (first > 0).all()  # no class is zeroed before a batch has held its label
    aligned = method.align(p2)
    recent = (p1.mean(dim=0) + p2.mean(dim=0)) / 2
    by_hand = p2 * labeled_marginal / recent
    assert torch.allclose(aligned, by_hand / by_hand.sum(dim=1, keepdim=True), atol=1e-6)


def test_a_run_gives_its_method_the_labeled_sets_class_marginal():
    config = RunConfig(algorithm="remixmatch", dataset="digits", labels_per_class=3)
    split = load_split(config)
    assert split.labeled_marginal().tolist() == pytest.approx([0.1] * 10)
    assert split.labeled_marginal().sum().item() == pytest.approx(1.0)


def test_remixmatch_sums_its_mixed_anchored_and_rotation_terms_with_the_papers_weights():
    method = digits_method("remixmatch", lambda_u=1.5, augmentations=2)
    guesses, align = [], method.align
    method.align = lambda p: guesses.append(p) or align(p)
    x = torch.rand(12, 1, 8, 8)
    result = method.train_step(x[:4], torch.arange(4), x[4:], 0.1, torch.arange(8))
    assert guesses[0].shape == (8, 10) and torch.allclose(guesses[0].sum(dim=1), torch.ones(8))  # per sample
    t = result.terms
    weight = 0.1 / 0.4
    expected = t["loss_x"] + weight * (1.5 * t["loss_u"] + 0.5 * t["loss_u1"]) + 0.5 * t["loss_rotation"]
    assert result.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert result.monitors["consistency_weight"] == pytest.approx(weight * 1.5)
    again = digits_method("remixmatch", lambda_u=1.5, augmentations=2)  # its views and rotations come from the
    torch.manual_seed(123)  # run's generator, whatever torch's global one holds
    replay = again.train_step(x[:4], torch.arange(4), x[4:], 0.1, torch.arange(8))
    assert replay.terms["loss_rotation"].item() == pytest.approx(t["loss_rotation"].item(), rel=1e-6)
    result.loss.backward()
    assert method.model.rotation_head[-1].weight.grad.abs().sum() > 0
    # the un-mixed strong view's target is the sharpened, aligned guess: a distribution per sample
    assert t["loss_u1"].item() > 0 and torch.allclose(result.unlabeled_logits.exp().sum(dim=1), torch.ones(8))


def test_comatch_smooths_pseudo_labels_with_the_memory_neighbours_by_hand():
    from sslengine.algorithms.comatch import ALPHA, EMBEDDING_TEMPERATURE as t
    p = torch.tensor([[0.6, 0.4]])
    z = F.normalize(torch.tensor([[1.0, 0.0]]), dim=1)
    memory_z = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=1)
    memory_q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    weights = softmax_row([1.0 / t, 0.0 / t])  # similarities 1 and 0
    by_hand = [ALPHA * 0.6 + (1 - ALPHA) * weights[0], ALPHA * 0.4 + (1 - ALPHA) * weights[1]]
    assert smoothed_pseudo_labels(p, z, memory_z, memory_q)[0].tolist() == pytest.approx(by_hand, rel=1e-5)


def graph_loss_by_loops(q, z_a, z_b) -> float:
    """CoMatch's graph loss, one sample and one neighbour at a time."""
    from sslengine.algorithms.comatch import EMBEDDING_TEMPERATURE as t, GRAPH_THRESHOLD
    total = 0.0
    for i in range(len(q)):
        edges = [1.0 if i == j else sum(a * b for a, b in zip(q[i], q[j])) for j in range(len(q))]
        edges = [w if w >= GRAPH_THRESHOLD else 0.0 for w in edges]
        target = [w / sum(edges) for w in edges]
        embedding_graph = softmax_row([float(z_a[i] @ z_b[j]) / t for j in range(len(q))])
        total += -sum(w * math.log(e) for w, e in zip(target, embedding_graph))
    return total / len(q)


def test_comatch_graph_contrastive_loss_matches_a_loop_over_both_graphs():
    q = [[0.9, 0.1], [0.85, 0.15], [0.2, 0.8]]
    torch.manual_seed(0)
    z_a, z_b = F.normalize(torch.randn(3, 4), dim=1), F.normalize(torch.randn(3, 4), dim=1)
    total = graph_loss_by_loops(q, z_a, z_b)
    assert graph_contrastive_loss(torch.tensor(q), z_a, z_b).item() == pytest.approx(total, rel=1e-5)
    # Above, q_0 . q_1 = 0.78 < tau_c: no edge, the graph is the identity, as for any q without edges.
    # With q_0 . q_1 = 0.86 the two samples become each other's positives and the loss changes.
    no_edges = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    assert graph_contrastive_loss(torch.tensor(q), z_a, z_b).item() == pytest.approx(
        graph_contrastive_loss(no_edges, z_a, z_b).item(), rel=1e-6)
    one_edge = torch.tensor([[0.95, 0.05], [0.9, 0.1], [0.2, 0.8]])
    assert graph_contrastive_loss(one_edge, z_a, z_b).item() != pytest.approx(total, rel=1e-3)
    # Edges 0-1 and 0-2 (0.85 each) but not 1-2 (0.72): rows of unequal weight, each normalised by its own sum.
    uneven = [[1.0, 0.0, 0.0], [0.85, 0.15, 0.0], [0.85, 0.0, 0.15]]
    assert graph_contrastive_loss(torch.tensor(uneven), z_a, z_b).item() == pytest.approx(
        graph_loss_by_loops(uneven, z_a, z_b), rel=1e-5)


def comatch_step_by_hand(method, x_l, y_l, x_u, recent: list, memory=None):
    """CoMatch's step recomputed from its model on unaugmented views: the aligned (and, with a full `memory`,
    smoothed) labels q, its mask and its three terms. `recent`: the earlier batches' mean predictions."""
    from sslengine.algorithms.comatch import ALPHA, EMBEDDING_TEMPERATURE as t
    model, c, n = method.model, method.config, len(x_l)
    with torch.no_grad():
        embedding = model.embed(torch.cat([x_l, x_u, x_u, x_u]))  # the step's one pass over its four views
        logits = model.head(embedding[:n + 2 * len(x_u)])
        logits_x, logits_weak, logits_strong = logits[:n], logits[n:n + len(x_u)], logits[n + len(x_u):]
        z = F.normalize(model.projection(embedding), dim=1)
        z_weak, z_strong, z_strong_2 = z[n:n + len(x_u)], z[n + len(x_u):n + 2 * len(x_u)], z[n + 2 * len(x_u):]
    q = []
    for row in logits_weak.tolist():
        p = softmax_row(row, c.temperature)
        means = [sum(batch[k] for batch in recent) / len(recent) for k in range(len(p))]
        aligned = [p_k / m_k / len(p) for p_k, m_k in zip(p, means)]
        q.append([a / sum(aligned) for a in aligned])
    if memory is not None:
        memory_z, memory_q = memory
        for b in range(len(q)):
            weights = softmax_row([float(z_weak[b] @ memory_z[k]) / t for k in range(len(memory_z))])
            neighbours = [sum(w * float(memory_q[k][j]) for k, w in enumerate(weights)) for j in range(len(q[b]))]
            q[b] = [ALPHA * a + (1 - ALPHA) * m for a, m in zip(q[b], neighbours)]
    mask = [float(max(row) >= c.threshold) for row in q]
    loss_x = sum(cross_entropy_row(row, y) for row, y in zip(logits_x.tolist(), y_l.tolist())) / n
    loss_u = sum(-m * sum(qj * math.log(pj) for qj, pj in zip(row, softmax_row(strong)))
                 for row, strong, m in zip(q, logits_strong.tolist(), mask)) / len(q)
    loss_c = graph_loss_by_loops(q, z_strong, z_strong_2)
    return q, mask, logits_weak, {"loss_x": loss_x, "loss_u": loss_u, "loss_contrastive": loss_c}


def test_comatch_step_by_hand_with_an_empty_and_with_a_full_memory():
    """Every term at T 0.5, lambda_u 2.5 and a threshold that passes half the labels; then, the memory full, the
    labels smoothed by their neighbours in it."""
    from sslengine.algorithms import comatch
    x = torch.rand(12, 1, 8, 8)
    x_l, y_l, x_u = x[:4], torch.arange(4), x[4:]
    probe = digits_method("comatch", temperature=0.5)  # the same weights as `method` below
    with torch.no_grad():
        p_first = [softmax_row(row, 0.5) for row in probe.model.head(probe.model.embed(
            torch.cat([x_l, x_u, x_u, x_u])))[4:12].tolist()]
    recent = [[sum(row[k] for row in p_first) / 8 for k in range(10)]]  # the first batch aligns to its own mean
    q, _, _, _ = comatch_step_by_hand(probe, x_l, y_l, x_u, recent)
    tau = sorted(max(row) for row in q)[4]  # half of the eight pass

    method = digits_method("comatch", temperature=0.5, lambda_u=2.5, threshold=tau)
    method.weak = method.strong = lambda images: images
    result = method.train_step(x_l, y_l, x_u, 0.0, torch.arange(8))
    q, mask, logits_weak, terms = comatch_step_by_hand(method, x_l, y_l, x_u, recent)
    assert mask.count(1.0) == 4 and result.loss_mask.tolist() == mask
    for name, value in terms.items():
        assert result.terms[name].item() == pytest.approx(value, rel=1e-4, abs=1e-6), name
    assert result.loss.item() == pytest.approx(terms["loss_x"] + 2.5 * terms["loss_u"] + terms["loss_contrastive"],
                                               rel=1e-4)
    assert result.loss_labels.tolist() == [max(range(10), key=row.__getitem__) for row in q]
    assert torch.allclose(result.unlabeled_logits, logits_weak, atol=1e-6)

    method.memory_z = method.memory_z.repeat(comatch.MEMORY // 12 + 1, 1)[:comatch.MEMORY]  # as if full
    method.memory_q = method.memory_q.repeat(comatch.MEMORY // 12 + 1, 1)[:comatch.MEMORY]
    memory = (method.memory_z[:12].clone(), method.memory_q[:12].clone())  # repeats: the same softmax weights
    p_second = [softmax_row(row, 0.5) for row in logits_weak.tolist()]  # same model, same batch: same p
    recent.append([sum(row[k] for row in p_second) / 8 for k in range(10)])
    smoothed = method.train_step(x_l, y_l, x_u, 0.0, torch.arange(8))
    q, mask, _, terms = comatch_step_by_hand(method, x_l, y_l, x_u, recent, memory)
    assert smoothed.loss_mask.tolist() == mask
    assert smoothed.terms["loss_u"].item() == pytest.approx(terms["loss_u"], rel=1e-4, abs=1e-6)
    assert smoothed.terms["loss_u"].item() != pytest.approx(result.terms["loss_u"].item(), rel=1e-3)


def test_comatch_aligns_to_uniform_remembers_unsmoothed_labels_and_sums_its_three_terms():
    from sslengine.algorithms import comatch

    def aligned(p, recent):  # p / mean of the recent batches' mean predictions, towards 1/C, renormalised
        scaled = p / torch.stack(recent).mean(dim=0) / 10
        return scaled / scaled.sum(dim=1, keepdim=True)

    method = digits_method("comatch", lambda_u=1.0, threshold=0.0)
    x = torch.rand(12, 1, 8, 8)
    first = method.train_step(x[:4], torch.arange(4), x[4:], 0.0, torch.arange(8))
    assert len(method.memory_z) == 12 and method.memory_q[:4].tolist() == F.one_hot(torch.arange(4), 10).tolist()
    p1 = first.unlabeled_logits.softmax(dim=1)
    assert torch.allclose(method.memory_q[4:], aligned(p1, [p1.mean(dim=0)]), atol=1e-6)
    t = first.terms
    assert first.loss.item() == pytest.approx((t["loss_x"] + t["loss_u"] + t["loss_contrastive"]).item(), rel=1e-6)
    method.memory_z = method.memory_z.repeat(comatch.MEMORY // 12 + 1, 1)[:comatch.MEMORY]  # as if full
    method.memory_q = method.memory_q.repeat(comatch.MEMORY // 12 + 1, 1)[:comatch.MEMORY]
    second = method.train_step(x[:4], torch.arange(4), x[4:], 0.0, torch.arange(8))
    p2 = second.unlabeled_logits.softmax(dim=1)
    unsmoothed = aligned(p2, [p1.mean(dim=0), p2.mean(dim=0)])
    # the memory takes the aligned labels before smoothing, so that smoothing does not compound over steps
    assert torch.allclose(method.memory_q[-8:], unsmoothed, atol=1e-6)
    assert len(method.memory_z) == len(method.memory_q) == comatch.MEMORY  # a queue: the oldest gave way
    assert second.loss_mask.tolist() == [1.0] * 8  # threshold 0: every smoothed label counts


def test_uda_anneals_the_labeled_signal_and_trains_the_strong_view_on_sharpened_confident_targets_by_hand():
    from sslengine.algorithms.uda import tsa_threshold
    method = points_method("uda", 3, 4, weak_augment=False)
    method.strong = lambda x: x + 0.5  # a fixed "strong" view, to recompute by hand
    with torch.no_grad():  # confident enough that some weak views pass beta and a labeled sample passes eta
        [layer for layer in method.model.modules() if isinstance(layer, torch.nn.Linear)][-1].weight.mul_(20)
    torch.manual_seed(1)
    x_l, y_l, x_u = torch.randn(3, 2) * 3, torch.tensor([0, 0, 2]), torch.randn(4, 2) * 3
    result = method.train_step(x_l, y_l, x_u, 0.5, torch.arange(4))
    with torch.no_grad():  # the same single pass over all views, so BatchNorm normalises alike
        logits = method.model(torch.cat([x_l, x_u, x_u + 0.5])).tolist()
    labeled, weak, strong = logits[:3], logits[3:7], logits[7:]
    eta = 0.5 * (1 - 1 / 3) + 1 / 3
    assert tsa_threshold(0.5, 3) == pytest.approx(eta)
    loss_x = sum(cross_entropy_row(row, y) for row, y in zip(labeled, y_l.tolist())
                 if softmax_row(row)[y] < eta) / 3
    loss_u = 0.0
    for w, s in zip(weak, strong):
        if max(softmax_row(w)) >= 0.8:  # beta, on the unsharpened prediction
            loss_u -= sum(q * math.log(p) for q, p in zip(softmax_row(w, 0.4), softmax_row(s)))
    loss_u /= 4
    assert result.terms["loss_x"].item() == pytest.approx(loss_x, rel=1e-4, abs=1e-6)
    assert result.terms["loss_u"].item() == pytest.approx(loss_u, rel=1e-4, abs=1e-6)
    assert result.loss_mask.tolist() == [float(max(softmax_row(w)) >= 0.8) for w in weak] == [1.0, 0.0, 1.0, 0.0]
    assert result.monitors["tsa_kept"].item() == pytest.approx(2 / 3)  # the second labeled sample is past eta
    assert method.config.sharpen_temperature == 0.4 and method.config.threshold == 0.8  # UDA's own defaults
    assert result.loss.item() == pytest.approx(loss_x + method.config.lambda_u * loss_u, rel=1e-4, abs=1e-6)
    assert result.unlabeled_logits.tolist() == [pytest.approx(row, rel=1e-5) for row in weak]
    assert result.loss_labels.tolist() == [max(range(3), key=lambda k: row[k]) for row in weak]  # the targets' argmax


def test_dash_selects_by_the_weak_views_loss_on_soft_labels_then_hard_ones_under_a_falling_threshold_by_hand():
    """As USB's Dash: soft labels softmax(w / 0.5) while rho is above rho_min, in the selection loss and in the
    strong view's, then hard argmax labels once rho has reached it."""
    from sslengine.algorithms.dash import dash_threshold
    assert dash_threshold(2.0, 0) == pytest.approx(1.0001 * 2.0)
    assert dash_threshold(2.0, 3) == pytest.approx(1.0001 * 1.27 ** -3 * 2.0)
    assert dash_threshold(2.0, 40) == 0.05  # rho_min: FixMatch's 0.95 in loss terms
    method = points_method("dash", 3)
    logits_x = torch.tensor([[1.0, 0.5, 0.0], [0.0, 2.0, 0.5]])
    method.y_labeled, method.stage = torch.tensor([0, 1]), 2
    weak = torch.tensor([[4.0, 0.0, 0.0], [0.4, 0.2, 0.1], [0.0, 3.0, 0.5], [0.1, 0.0, 0.05]])
    strong = torch.tensor([[1.0, 0.2, 0.0], [0.0, 0.3, 0.1], [0.2, 1.0, 0.0], [0.5, 0.5, 0.5]])
    loss_u, labels, mask, monitors = method.unlabeled_loss(weak, strong, torch.arange(4), logits_x)
    rho_hat = -(math.log(softmax_row([1.0, 0.5, 0.0])[0]) + math.log(softmax_row([0.0, 2.0, 0.5])[1])) / 2
    rho = 1.0001 * 1.27 ** -2 * rho_hat
    assert method.rho_hat == pytest.approx(rho_hat) and monitors["dash_rho"] == pytest.approx(rho)
    assert monitors["dash_confidence"] == pytest.approx(math.exp(-rho))  # the confidence rho stands for

    def cross_entropy(target, row):
        return -sum(t * math.log(p) for t, p in zip(target, softmax_row(row)))

    soft = [softmax_row(w, 0.5) for w in weak.tolist()]
    expected_mask = [float(cross_entropy(q, w) <= rho) for q, w in zip(soft, weak.tolist())]
    assert mask.tolist() == expected_mask == [1.0, 0.0, 1.0, 0.0]
    expected = sum(m * cross_entropy(q, s) for m, q, s in zip(expected_mask, soft, strong.tolist())) / 4
    assert loss_u.item() == pytest.approx(expected, rel=1e-5) and labels.tolist() == [0, 0, 1, 0]

    method.rho_hat = 0.01  # rho at rho_min: hard labels, and the rule is -log max p <= 0.05
    loss_u, _, mask, _ = method.unlabeled_loss(weak, strong, torch.arange(4), logits_x)
    hard = [[float(c == max(range(3), key=w.__getitem__)) for c in range(3)] for w in weak.tolist()]
    expected_mask = [float(-math.log(max(softmax_row(w))) <= 0.05) for w in weak.tolist()]
    assert mask.tolist() == expected_mask == [1.0, 0.0, 0.0, 0.0]
    assert loss_u.item() == pytest.approx(cross_entropy(hard[0], strong[0].tolist()) / 4, rel=1e-5)


@pytest.mark.parametrize("progress, stage", [(0.0, 0), (0.55, 5), (0.95, 9)])
def test_dash_lowers_its_threshold_once_a_tenth_of_training(progress, stage):
    method = digits_method("dash")
    x = torch.rand(12, 1, 8, 8)
    result = method.train_step(x[:4], torch.arange(4), x[4:], progress, torch.arange(8))
    assert method.stage == stage
    assert result.monitors["dash_rho"] == pytest.approx(max(1.0001 * 1.27 ** -stage * method.rho_hat, 0.05))


def test_vat_power_iteration_finds_the_kl_hessians_direction_on_a_linear_model_by_hand():
    from sslengine.algorithms.vat import XI, adversarial_perturbation, kl_to, unit
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 3, bias=False).double()
    u = torch.randn(1, 2, dtype=torch.float64)
    p = model(u).softmax(dim=-1).detach()
    r = adversarial_perturbation(model, u, p, 0.7, torch.Generator().manual_seed(5))
    d0 = unit(torch.randn((1, 2), generator=torch.Generator().manual_seed(5), dtype=torch.float64))
    w = model.weight.detach()
    hessian = w.T @ (torch.diag(p[0]) - p[0][:, None] * p[0][None, :]) @ w  # of KL(p || softmax(W(u + d))) at d = 0
    assert torch.allclose(r[0], 0.7 * unit((hessian @ d0[0])[None])[0], atol=1e-4)
    assert r.norm().item() == pytest.approx(0.7) and XI == 1e-3
    logits = model(u + r)
    by_hand = sum(a * (math.log(a) - math.log(b)) for a, b in zip(p[0].tolist(), logits.softmax(-1)[0].tolist()))
    assert kl_to(p, logits).item() == pytest.approx(by_hand, rel=1e-6)


def test_vat_adds_the_ramped_adversarial_kl_and_the_entropy_term_and_keeps_batchnorm_statistics():
    method = digits_method("vat")
    x = torch.rand(12, 1, 8, 8)
    norms = [m for m in method.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    result = method.train_step(x[:4], torch.arange(4), x[4:], 0.2, torch.arange(8))
    t, weight = result.terms, 0.3 * 0.2 / 0.4
    assert result.loss.item() == pytest.approx((t["loss_x"] + weight * t["loss_u"] + 0.06 * t["loss_entropy"]).item(),
                                               rel=1e-6)
    assert t["loss_u"].item() > 0 and all(m.momentum == 0.1 for m in norms)  # restored after the perturbed passes


@pytest.mark.parametrize("bf16", [False, True])
def test_vats_direction_in_float32_and_under_bf16_autocast_is_the_float64_one(bf16):
    """After 30 SGD steps on digits: one power iteration in float32, or inside bf16 autocast (the CPU's stands in
    for CUDA's), against the same iteration in float64 from the same start. At the paper's xi = 1e-6 the cosine
    was 0.52 in float32 and 0.003 under bf16: u + xi d rounded to u."""
    from sslengine.algorithms.vat import adversarial_perturbation
    torch.manual_seed(0)
    data = load_split(RunConfig(dataset="digits", labels_per_class=2))
    u = as_float(torch.as_tensor(data.x_unlabeled[:128]))
    x, y = as_float(torch.as_tensor(data.x_labeled)), torch.as_tensor(data.y_labeled)
    model = build_model("small-cnn", (1, 8, 8), 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(30):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.eval()
    exact_model = copy.deepcopy(model).double()

    def direction(network, inputs, autocast=False):
        with torch.no_grad():
            p = network(inputs).float().softmax(-1).to(inputs.dtype)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            return adversarial_perturbation(network, inputs, p, 1.0, torch.Generator().manual_seed(1))

    found, exact = direction(model, u, bf16), direction(exact_model, u.double())
    assert found.dtype == torch.float32
    cosine = torch.nn.functional.cosine_similarity(found.double().flatten(1), exact.flatten(1))
    assert cosine.mean().item() >= 0.99 and cosine.min().item() >= 0.9


def test_vat_moves_u_by_eps_sqrt_dim_along_the_power_iterations_direction_from_the_runs_generator():
    """The adversarial KL recomputed: p from u alone, r from the same draw of the run's generator, of norm
    EPS_PER_DIM sqrt(64) per image (the paper's eps of 6 on 3 072 CIFAR dimensions, scaled), the KL at u + r."""
    from sslengine.algorithms.vat import EPS_PER_DIM, adversarial_perturbation, kl_to
    method = digits_method("vat", weak_augment=False)
    x = torch.rand(12, 1, 8, 8)
    before = copy.deepcopy(method.model)  # train mode: each pass normalises with its own batch's statistics
    replay = torch.Generator().set_state(method.rng.get_state())
    result = method.train_step(x[:4], torch.arange(4), x[4:], 0.2, torch.arange(8))
    u = x[4:]
    with torch.no_grad():
        p = before(u).softmax(dim=1)
    r = adversarial_perturbation(before, u, p, EPS_PER_DIM * 8.0, replay)
    assert r.flatten(1).norm(dim=1).tolist() == pytest.approx([6 / 3072 ** 0.5 * 8.0] * 8, rel=1e-5)
    with torch.no_grad():
        assert result.terms["loss_u"].item() == pytest.approx(kl_to(p, before(u + r)).item(), rel=1e-4)
    assert result.monitors == {"consistency_weight": pytest.approx(0.3 * 0.2 / 0.4)}


def test_vats_unlabeled_passes_leave_batchnorm_statistics_to_the_labeled_pass():
    """As USB's freeze_bn: the clean pass of u moves them no more than the perturbed ones."""
    method = digits_method("vat", weak_augment=False)
    x = torch.rand(12, 1, 8, 8)
    labeled_only = copy.deepcopy(method.model)
    method.train_step(x[:4], torch.arange(4), x[4:], 0.5, torch.arange(8))
    labeled_only(x[:4])
    norms = [m for m in method.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    expected = [m for m in labeled_only.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.allclose(a.running_mean, b.running_mean) and torch.allclose(a.running_var, b.running_var)
               for a, b in zip(norms, expected))


def test_vat_reads_p_from_a_pass_of_the_unlabeled_batch_alone_so_the_kl_is_zero_at_no_perturbation():
    method = digits_method("vat", weak_augment=False)
    x = torch.rand(12, 1, 8, 8)
    model_before = copy.deepcopy(method.model)  # train mode: BatchNorm normalises with the batch's statistics
    result = method.train_step(x[:4], torch.arange(4), x[4:], 0.5, torch.arange(8))
    alone, shared = model_before(x[4:]), model_before(x)[4:]
    assert torch.allclose(result.unlabeled_logits, alone, atol=1e-5)
    assert not torch.allclose(alone, shared, atol=1e-3)  # a pass shared with x would see other statistics


def test_simmatch_unfolds_instance_and_aggregates_class_pseudo_labels_by_hand():
    from sslengine.algorithms.simmatch import ALPHA, unfold_and_aggregate
    s = torch.tensor([[0.5, 0.3, 0.2]])  # similarity to three memory items, of classes 0, 1, 1
    p = torch.tensor([[0.6, 0.4]])
    memory_y = torch.tensor([0, 1, 1])
    q, p_hat = unfold_and_aggregate(torch.cat([s, s.flip(1)]), torch.cat([p, p]), memory_y)  # two samples
    scaled = [0.5 * 0.6, 0.3 * 0.4, 0.2 * 0.4]
    assert q[0].tolist() == pytest.approx([v / sum(scaled) for v in scaled])
    flipped = [0.2 * 0.6, 0.3 * 0.4, 0.5 * 0.4]
    assert q[1].tolist() == pytest.approx([v / sum(flipped) for v in flipped])  # each row normalised on its own
    assert p_hat[0].tolist() == pytest.approx([ALPHA * 0.6 + (1 - ALPHA) * 0.5, ALPHA * 0.4 + (1 - ALPHA) * 0.5])


def test_simmatch_similarities_and_instance_loss_by_hand():
    from sslengine.algorithms.simmatch import SIMILARITY_TEMPERATURE, instance_loss, similarity
    memory = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    z = torch.tensor([[0.8, 0.6], [0.0, 1.0]])
    q = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    logits = [[sum(a * b for a, b in zip(row, item)) / SIMILARITY_TEMPERATURE for item in memory.tolist()]
              for row in z.tolist()]
    assert similarity(z, memory).tolist() == [pytest.approx(row) for row in logits]
    by_hand = -sum(sum(w * math.log(s) for w, s in zip(weights, softmax_row(row)))
                   for weights, row in zip(q.tolist(), logits)) / 2
    assert instance_loss(q, z, memory).item() == pytest.approx(by_hand, rel=1e-5) and SIMILARITY_TEMPERATURE == 0.1


def test_simmatch_remembers_the_ema_models_labeled_embeddings_and_sums_its_three_terms(monkeypatch):
    from sslengine.algorithms import simmatch
    from sslengine.algorithms.simclr import PROJECTION_DIM
    targets, cross_entropy_of = [], simmatch.masked_cross_entropy
    monkeypatch.setattr(simmatch, "masked_cross_entropy", lambda logits, p_hat, mask: targets.append(p_hat)
                        or cross_entropy_of(logits, p_hat, mask))
    similarities, unfold = [], simmatch.unfold_and_aggregate
    monkeypatch.setattr(simmatch, "unfold_and_aggregate", lambda s, p, labels: similarities.append(s)
                        or unfold(s, p, labels))
    method = digits_method("simmatch", threshold=0.0)
    x = torch.rand(12, 1, 8, 8)
    result = method.train_step(x[:4], torch.arange(4), x[4:], 0.0, torch.arange(8))
    assert result.loss_labels.tolist() == targets[0].argmax(dim=1).tolist()  # the class pseudo-labels' argmax
    assert method.memory_y.tolist() == [0, 1, 2, 3] and method.memory_z.shape == (4, PROJECTION_DIM)
    t = result.terms
    assert result.loss.item() == pytest.approx((t["loss_x"] + t["loss_u"] + t["loss_in"]).item(), rel=1e-6)
    assert t["loss_in"].item() > 0 and result.loss_mask.tolist() == [1.0] * 8
    assert similarities[0].shape == (8, 4) and torch.allclose(similarities[0].sum(dim=1), torch.ones(8))  # over memory
    # aligned as USB's SimMatch: towards uniform by the recent batches' mean prediction (CoMatch's rule, tested there)
    assert torch.allclose(method.recent_predictions, result.unlabeled_logits.softmax(dim=1).mean(dim=0, keepdim=True))
    method.train_step(x[:4], torch.arange(4), x[4:], 0.0, torch.arange(8))
    assert method.memory_y.tolist() == [0, 1, 2, 3] * 2 and method.memory_z.shape == (8, PROJECTION_DIM)  # a queue
    assert method.memory_z.norm(dim=1).tolist() == pytest.approx([1.0] * 8)  # unit embeddings: cosine similarities


def test_distill_trains_the_student_on_the_frozen_teachers_tempered_predictions_of_the_same_view():
    method = digits_method("distill", distill_temperature=2.0, weak_augment=False)
    teacher = build_model("small-cnn", (1, 8, 8), 10)
    method.adopt(teacher)
    u = torch.rand(8, 1, 8, 8)
    result = method.train_step(u[:2], torch.arange(2), u, 0.5, torch.arange(8))
    with torch.no_grad():
        expected = distillation_loss(method.model(u), teacher(u), 2.0)
    assert torch.equal(result.unlabeled_logits, teacher(u))  # what the snapshots show: the teacher's labels
    assert result.loss.item() == pytest.approx(expected.item(), rel=1e-5) and result.terms["loss_u"] is result.loss
    assert not teacher.training and all(not p.requires_grad for p in teacher.parameters())


def test_supervised_trains_on_the_weak_labeled_views_alone():
    method = digits_method("supervised")
    method.weak = lambda x: x  # the views by hand: none
    x, y = torch.rand(12, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    result = method.train_step(x[:4], y, x[4:], 0.5, torch.arange(8))
    expected = F.cross_entropy(method.model(x[:4]), y)
    assert result.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert set(result.terms) == {"loss_x"} and result.terms["loss_x"] is result.loss
    assert result.unlabeled_logits is None  # it never looks at the unlabeled batch


def test_entmin_adds_lambda_times_the_unlabeled_predictions_mean_entropy_by_hand():
    method = digits_method("entmin", lambda_u=0.5)
    method.weak = lambda x: x
    x, y = torch.rand(12, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    result = method.train_step(x[:4], y, x[4:], 0.5, torch.arange(8))
    with torch.no_grad():
        logits = method.model(torch.cat([x[:4], x[4:]]))  # one pass, as BatchNorm saw it
    entropies = [-sum(p * math.log(p) for p in row) for row in logits[4:].softmax(dim=-1).tolist()]
    loss_x = F.cross_entropy(logits[:4], y).item()
    assert result.terms["loss_x"].item() == pytest.approx(loss_x, rel=1e-5)
    assert result.terms["loss_u"].item() == pytest.approx(sum(entropies) / 8, rel=1e-5)
    assert result.loss.item() == pytest.approx(loss_x + 0.5 * sum(entropies) / 8, rel=1e-5)
    assert torch.allclose(result.unlabeled_logits, logits[4:], atol=1e-5)


def test_softmatch_weights_are_its_truncated_gaussian_by_hand():
    from sslengine.algorithms.softmatch import SoftMatch
    confidence = torch.tensor([0.2, 0.5, 0.7, 0.9])
    weights = SoftMatch.weights(confidence, {"softmatch_mu": 0.7, "softmatch_sigma": 0.2}).tolist()
    by_hand = [math.exp(-(c - 0.7) ** 2 / (2 * 0.2 ** 2 / 4)) if c < 0.7 else 1.0 for c in confidence.tolist()]
    assert weights == pytest.approx(by_hand, rel=1e-5) and weights[2:] == [1.0, 1.0]


def test_a_method_without_a_parent_refuses_to_adopt_one():
    method = digits_method("fixmatch")
    with pytest.raises(NotImplementedError, match="^FixMatch does not start from a parent run$"):
        method.adopt(method.model)
