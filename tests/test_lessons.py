"""Lessons: the judges against hand-counted figures, the CLI, and each preset's outcome at seed 0 with margins."""
import json
import math

import numpy as np
import pytest

from sslengine import image_sets, lessons, metrics
from sslengine.cli import main
from sslengine.config import ConfigError, RunConfig
from sslengine.runner import Runner
from sslengine.splits import load_split

# One worker trains the presets (`trained`) once: spread over two, each would train them all.
pytestmark = pytest.mark.xdist_group("lessons")


def fake_run(store, scalars: dict[int, dict[str, float]], **config) -> str:
    """A finished run whose scalars are given by hand."""
    run_id = store.create_run(RunConfig(**config))
    for step, values in scalars.items():
        store.log_scalars(run_id, step, values)
    store.set_status(run_id, "finished")
    return run_id


def test_pseudo_label_phases_average_the_first_and_last_tenth_of_the_steps(store):
    steps = range(10, 101, 10)
    run_id = fake_run(store, {step: {"pseudo_label_acc": step / 100, "pseudo_label_acc_passing": 0.9}
                              for step in steps}, steps=100)
    figures = lessons.pseudo_label_phases(store, run_id)
    assert figures["early_all"] == pytest.approx(0.10)  # step 10 alone is in the first tenth
    assert figures["late_all"] == pytest.approx((0.9 + 1.0) / 2)  # steps 90 and 100
    verdict = lessons.judge_pseudo_labels(store, {"fixmatch": run_id})
    assert verdict.figures["gap"] == pytest.approx(0.8) and verdict.figures["rise"] == pytest.approx(0.85)
    assert not verdict.holds  # no snapshot: the probe cannot be checked against the curve


def test_the_pseudo_label_verdict_needs_the_gap_the_rise_and_a_probe_that_agrees_with_the_curve(store, monkeypatch):
    good = {"early_all": 0.6, "early_passing": 0.9, "late_all": 0.74, "snapshot_gap": 0.01}
    for changed, holds in (({}, True),  # a rise of 0.14, as seeds 3 and 10
                           ({"late_all": 0.65}, False),  # a rise of 0.05
                           ({"early_passing": 0.7}, False),  # a gap of 0.1
                           ({"snapshot_gap": 0.2}, False)):  # the probe disagrees with the curve
        monkeypatch.setattr(lessons.pseudo_label_quality, "pseudo_label_phases", lambda store, run_id: good | changed)
        assert lessons.judge_pseudo_labels(store, {"fixmatch": "any"}).holds == holds, changed


def test_validation_rise_is_the_highest_loss_over_the_lowest_before_it(store):
    losses = [2.0, 0.5, 0.4, 0.6, 0.8]
    run_id = fake_run(store, {step * 10: {"test_loss": loss, "loss_x": 1 / (step + 1), "test_acc": 0.5}
                              for step, loss in enumerate(losses)}, steps=40)
    rise = lessons.validation_rise(store, run_id)
    assert (rise["val_min"], rise["val_min_step"], rise["val_peak_step"], rise["val_end"]) == (0.4, 20, 40, 0.8)
    assert rise["ratio"] == pytest.approx(2.0) and rise["train_loss"] == pytest.approx(0.2)


def test_card_c_verdict_sees_a_mid_run_rise_that_falls_again_as_its_chart_shows_it(store):
    """FixMatch's validation loss on card (c): up from 0.33 at step 80 to 0.81 at step 400, then down to 0.0038,
    which the verdict printed as "0.00 then 0.00 (x1.00)" (the end over the overall minimum, two decimals)."""
    losses = {0: 0.7, 80: 0.33, 400: 0.81, 700: 0.05, 1000: 0.0038}
    run_id = fake_run(store, {step: {"test_loss": loss, "loss_x": 0.001, "test_acc": 0.99}
                              for step, loss in losses.items()}, steps=1000)
    rise = lessons.validation_rise(store, run_id)
    assert (rise["val_min"], rise["val_min_step"], rise["val_peak"], rise["val_peak_step"]) == (0.33, 80, 0.81, 400)
    assert rise["ratio"] == pytest.approx(0.81 / 0.33)
    assert lessons.rise_text(rise) == ("validation loss 0.33 at step 80, up to 0.81 at step 400 (x2.45), 0.0038 at "
                                       "the end")


def test_views_verdict_orders_u_o_l_and_its_effect_is_u_minus_o(store):
    runs = {role: fake_run(store, {100: {"test_acc": acc, "seconds": 5.0}}, dataset="digits") for role, acc in
            (("O", 0.90), ("L", 0.80), ("U", 0.96))}
    verdict = lessons.judge_views(store, runs)
    assert verdict.holds and verdict.text.startswith("U > O > L")
    assert verdict.figures["u_minus_o"] == pytest.approx(0.06) and verdict.figures["n_test"] == 539
    runs["U"] = fake_run(store, {100: {"test_acc": 0.92, "seconds": 5.0}})  # +0.02: inside the noise (+-0.034)
    assert lessons.judge_views(store, runs).outcome == lessons.NO_ROOM


def test_near_boundary_share_against_the_distance_to_a_straight_boundary():
    grid = metrics.boundary_grid(np.array([[-1.0, -1.0], [1.0, 1.0]]), resolution=201, margin=0.0)
    p_one = (grid[:, 0] >= 0.3).astype(float)  # the boundary is the line x = 0.3
    points = np.random.default_rng(0).uniform(-1, 1, (500, 2))
    brute_force = (np.abs(points[:, 0] - 0.3) < 0.2).mean()
    share = metrics.near_boundary_share(points, grid, p_one, 0.2)
    assert abs(share - brute_force) <= 0.01  # the grid puts the line within half a cell (0.005) of x = 0.3
    assert metrics.near_boundary_share(points, grid, np.zeros(len(grid)), 0.2) == 0.0  # no boundary on the grid


def test_entropy_verdict_needs_entmin_in_the_gap_and_no_loss_of_accuracy(store, monkeypatch):
    runs = {role: fake_run(store, {100: {"test_acc": acc}}) for role, acc in (("supervised", 0.9), ("entmin", 1.0))}
    near = {runs["supervised"]: 0.10, runs["entmin"]: 0.004}
    monkeypatch.setattr(lessons.entropy_boundary, "near_boundary", lambda store, run_id: near[run_id])
    verdict = lessons.judge_entropy(store, runs)
    assert verdict.holds and verdict.figures["near_drop"] == pytest.approx(0.096)
    near[runs["entmin"]] = 0.02  # off the data no longer
    assert not lessons.judge_entropy(store, runs).holds


def spread_entry(effects, acc_o=0.9, **figures) -> dict:
    """A bench entry of the U/L/O lesson: U at O plus each effect, L well behind, digits' 539 test images."""
    return {"machine": "a test CPU", "seeds": list(range(len(effects))), "seconds": [10.0] * len(effects),
            "figures": [{"u_minus_o": effect, "acc_O": acc_o, "acc_U": acc_o + effect, "acc_L": acc_o - 0.1,
                         "n_test": 539.0, **figures} for effect in effects]}


def test_here_sentence_is_generated_from_the_bench_figures_and_says_when_the_preset_falls_short():
    views = lessons.lesson("labeled-vs-unlabeled")
    effects = [0.06, 0.07, 0.0, 0.01, -0.06, 0.08, 0.06, 0.0, 0.06, 0.07]  # 6 past the test set's noise, 1 below
    spread = lessons.Spread.of(views, "small", spread_entry(effects))
    text = lessons.here(views, spread)
    assert "On a test CPU, seeds 0-9: it shows it on 6 of 10, no room on 3, contradicts it on 1." in text
    assert f"{np.mean(effects):+.3f} on average" in text and f"(sd) {np.std(effects, ddof=1):.3f}" in text
    assert "does not show it reliably" in text and "averages 0.900" in text  # the shortfall, from the means
    assert spread.placement(2) == "On the bench, seed 2 is one of the 3 of 10 seeds with no room to show it."
    assert spread.placement(4) == "On the bench, seed 4 is one of the 1 of 10 seeds that contradict it."
    assert spread.placement(99) == "On the bench's seeds it shows it on 6 of 10, no room on 3, contradicts it on 1."
    reliable = lessons.Spread.of(views, "small", spread_entry([0.06] * 9 + [0.0]))
    assert "reliably" not in lessons.here(views, reliable)


def test_a_ratio_effect_is_averaged_and_spread_on_a_log_scale_and_a_difference_as_it_is():
    ratios = [4.0, 2.0, 8.0, 4.0]
    overfitting = lessons.lesson("overfitting")
    spread = lessons.Spread.of(overfitting, "small", {**spread_entry(ratios),
                                                      "figures": [{"supervised_ratio": r,
                                                                   "supervised_train_loss": 0.0} for r in ratios]})
    logs = [math.log(r) for r in ratios]
    sd = math.sqrt(sum((v - sum(logs) / 4) ** 2 for v in logs) / 3)
    assert spread.mean == pytest.approx(4.0)  # the geometric mean: (4 x 2 x 8 x 4) ** (1/4)
    assert spread.sd == pytest.approx(sd) and spread.strength == pytest.approx(math.log(4.0) / sd)
    assert "x4.00 on average (geometric mean), seed spread (sd of its log)" in lessons.here(overfitting, spread)
    differences = [0.1, 0.3]
    plain = lessons.Spread.of(lessons.lesson("labeled-vs-unlabeled"), "small",
                              spread_entry(differences, acc_o=0.6))
    assert plain.mean == pytest.approx(0.2) and plain.strength == pytest.approx(0.2 / math.sqrt(0.02))


def test_a_tie_is_two_standard_errors_of_the_difference_of_two_test_accuracies():
    assert lessons.tie_margin(0.9, 0.8, 400) == pytest.approx(2 * math.sqrt((0.09 + 0.16) / 400))  # 0.05
    assert lessons.tie_margin(1.0, 1.0, 100) == 0.0


def test_entropy_on_seed_5_has_no_room_supervised_is_already_in_the_gap():
    """The bench's seed 5: supervised 0.1 % of points near its boundary, 100 % accuracy, the pictures alike."""
    seed_5 = lessons.load_spread()["entropy-boundary"]["small"]["figures"][5]
    assert seed_5["near_supervised"] < 0.01
    outcome, reason = lessons.outcome_entropy(seed_5)
    assert outcome == lessons.NO_ROOM and "already runs through the gap" in reason
    shows = seed_5 | {"near_supervised": 0.10}
    assert lessons.outcome_entropy(shows)[0] == lessons.SHOWS
    assert lessons.outcome_entropy(shows | {"near_entmin": 0.05})[0] == lessons.CONTRADICTS


def test_a_distilled_student_level_with_its_teacher_is_a_tie_not_a_win():
    tied = {"acc_student": 0.9258, "acc_teacher": 0.9258, "student_minus_teacher": 0.0, "n_test": 539.0}
    outcome, reason = lessons.outcome_distill(tied)
    assert outcome == lessons.NO_ROOM and "+0.000, inside +-0.032 on 539 test images" in reason
    beats = tied | {"acc_student": 0.97, "student_minus_teacher": 0.97 - 0.9258}
    assert lessons.outcome_distill(beats)[0] == lessons.SHOWS
    loses = tied | {"acc_student": 0.88, "student_minus_teacher": 0.88 - 0.9258}
    assert lessons.outcome_distill(loses)[0] == lessons.CONTRADICTS


def test_card_c_shows_a_mid_run_rise_and_has_no_room_where_supervised_never_fit_its_labels(store):
    rising = {0: 0.7, 80: 0.33, 400: 0.81, 700: 0.05, 1000: 0.0038}
    runs = {"supervised": fake_run(store, {step: {"test_loss": loss, "loss_x": 0.001, "test_acc": 0.9}
                                           for step, loss in rising.items()}, steps=1000),
            "fixmatch": fake_run(store, {step: {"test_loss": 0.3, "loss_x": 0.01, "test_acc": 0.99}
                                         for step in rising}, steps=1000)}
    verdict = lessons.judge_overfitting(store, runs)
    assert verdict.outcome == lessons.SHOWS and "0.33 at step 80, up to 0.81 at step 400 (x2.45)" in verdict.text
    unfit = fake_run(store, {step: {"test_loss": loss, "loss_x": 0.5, "test_acc": 0.6}
                             for step, loss in rising.items()}, steps=1000)
    verdict = lessons.judge_overfitting(store, runs | {"supervised": unfit})
    assert verdict.outcome == lessons.NO_ROOM and "never fit its labels" in verdict.reason
    flat = fake_run(store, {step: {"test_loss": 0.3, "loss_x": 0.001, "test_acc": 0.9} for step in rising},
                    steps=1000)
    assert lessons.judge_overfitting(store, runs | {"supervised": flat}).outcome == lessons.CONTRADICTS


def test_the_shipped_spread_measures_every_lesson_on_ten_seeds_and_explains_each_shortfall():
    spreads = lessons.load_spread()
    assert set(spreads) == set(lessons.LESSONS) and all("small" in scales for scales in spreads.values())
    for name, scales in spreads.items():
        for scale, entry in scales.items():
            spread = lessons.Spread.of(lessons.lesson(name), scale, entry)
            assert len(spread.seeds) >= 10 and len(spread.effects) == len(spread.holds) == len(spread.seeds)
            assert spread.machine and all(np.isfinite(spread.effects))
            if not spread.reliable:  # the card must say why, in words of its own
                assert lessons.lesson(name).preset(scale).shortfall(spread.means), (name, scale)


def test_unknown_lesson_and_bad_seed_are_refused_before_anything_is_written(tmp_path, capsys):
    path = tmp_path / "runs.db"
    with pytest.raises(ConfigError, match="lesson"):
        lessons.configs("nope", 0)
    assert main(["lesson", "nope", "--store", str(path)]) == 2
    assert main(["lesson", "distill", "--seed", "-1", "--store", str(path)]) == 2
    assert main(["lesson", "distill", "--scale", "huge", "--store", str(path)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors[0].startswith("error: lesson: 'nope' is not a lesson") and "seed" in errors[1]
    assert errors[2] == "error: scale: 'huge' is not a scale; known: small, images"
    assert not path.exists()


def test_lesson_json_names_its_runs_by_role_and_its_verdict(tmp_path, capsys):
    path = tmp_path / "runs.db"
    assert main(["lesson", "entropy-boundary", "--seed", "0", "--store", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["lesson"] == "entropy-boundary" and set(result["runs"]) == {"supervised", "entmin"}
    assert isinstance(result["holds"], bool) and 0 <= result["figures"]["near_entmin"] <= 1


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Every lesson trained once at seed 0 into one store, as the page and the CLI train them."""
    from sslengine.store import Store
    store = Store(str(tmp_path_factory.mktemp("lessons") / "runs.db"))
    runner = Runner(store)
    return store, {name: lessons.start(runner, name, seed=0).wait() for name in lessons.LESSONS}


@pytest.mark.slow
def test_fixmatch_passing_pseudo_labels_beat_all_early_and_all_rise(trained):
    store, runs = trained
    verdict = lessons.judge(store, "pseudo-label-quality", runs["pseudo-label-quality"])
    f = verdict.figures  # seed 0: gap 0.26-0.29 and rise 0.22-0.26 on two machines, probe against curve 0.01
    assert verdict.holds and f["gap"] >= 0.2 and f["rise"] >= 0.15 and f["snapshot_gap"] <= 0.1


@pytest.mark.slow
def test_contrastive_loss_on_unlabeled_views_beats_fixmatch_which_beats_it_on_labeled(trained):
    store, runs = trained
    f = lessons.judge(store, "labeled-vs-unlabeled", runs["labeled-vs-unlabeled"]).figures
    # One seed cannot order U and O: seed 0 gave U 0.944, O 0.907, L 0.874 on one machine and U 0.948, O 0.952
    # on another (float rounding sends FixMatch another way). The lesson claims the mean of three seeds; here
    # L trails both and U is not far behind O.
    assert min(f["acc_U"], f["acc_O"]) >= f["acc_L"] + 0.02 and f["acc_U"] >= f["acc_O"] - 0.02


@pytest.mark.slow
def test_supervised_validation_loss_rises_and_fixmatch_ends_below_it(trained):
    store, runs = trained
    f = lessons.judge(store, "overfitting", runs["overfitting"]).figures
    assert f["supervised_train_loss"] <= 0.01 and f["supervised_ratio"] >= 2  # x4.2 at seed 0
    assert f["semi_val_end"] < f["supervised_val_end"] and f["semi_acc"] >= 0.95


@pytest.mark.slow
def test_entmin_moves_its_boundary_off_the_data_into_the_gap(trained):
    store, runs = trained
    f = lessons.judge(store, "entropy-boundary", runs["entropy-boundary"]).figures
    assert f["near_entmin"] <= lessons.IN_GAP_MAX and f["acc_entmin"] >= f["acc_supervised"]
    assert f["near_supervised"] >= f["near_entmin"] + 0.05  # seed 0: supervised's tilted line cuts the clusters


@pytest.mark.slow
@pytest.mark.parametrize("seed", [10, 11])  # seeds the preset was not chosen on
def test_entmin_reaches_the_gap_on_seeds_outside_the_bench(seed, tmp_path):
    from sslengine.store import Store
    store = Store(str(tmp_path / "runs.db"))
    verdict = lessons.judge(store, "entropy-boundary", lessons.start(Runner(store), "entropy-boundary", seed).wait())
    assert verdict.holds, verdict.text


@pytest.mark.slow
def test_distilled_student_matches_its_teacher(trained):
    store, runs = trained
    f = lessons.judge(store, "distill", runs["distill"]).figures
    # The student leads on 14 of 20 seeds and trails by at most 0.006 on the others (seed 0: +0.000 on one
    # machine, +0.007 on another): a match, which one seed can check; the lead is the bench's to measure.
    assert f["acc_student"] >= f["acc_teacher"] - 0.01 and f["acc_teacher"] >= f["acc_simclr"] + 0.03


def test_each_card_says_what_its_preset_trains_from_the_presets_own_configs():
    for name, lesson in lessons.LESSONS.items():
        built = {role: checked.config for role, checked in lessons.configs(name, seed=0).items()}
        first = next(iter(built.values()))
        split = load_split(first)
        text = lessons.trains(lesson)
        assert lessons.DATA_WORDS[first.dataset] in text
        assert f"({len(split.y_labeled)} labeled, {len(split.y_unlabeled):,} unlabeled)" in text
        for role, config in built.items():
            assert f"{role}" in text and f"{config.steps:,} steps" in text
        assert ("an MLP" if split.kind == "points" else "the small CNN, 32 wide") in text
    assert "student (distill) 500 steps at half width" in lessons.trains(lessons.lesson("distill"))


def test_every_lesson_has_a_preset_at_each_scale_on_a_data_set_of_its_own():
    for name, lesson in lessons.LESSONS.items():
        small, images = (lessons.configs(name, seed=3, scale=scale) for scale in ("small", "images"))
        assert set(small) == set(images) == set(lesson.preset("small").roles) == set(lesson.preset("images").roles)
        assert {checked.config.dataset for checked in images.values()} == {"fashion-mnist"}
        assert {checked.config.labels_per_class for checked in images.values()} == {4}
        assert {checked.config.dataset for checked in small.values()} < {"digits", "moons", "gap"}
        for checked in images.values():
            assert lesson.scale_of(checked.config.dataset) == "images" and checked.config.lesson == name
    with pytest.raises(ConfigError, match="scale: 'huge' is not a scale; known: small, images"):
        lessons.configs("distill", 0, scale="huge")


def test_near_tie_share_against_a_count_by_hand():
    logits = np.log(np.array([[0.50, 0.40, 0.10],    # top two 0.1 apart: near
                              [0.70, 0.20, 0.10],    # 0.5 apart
                              [0.34, 0.33, 0.33],    # 0.01 apart: near
                              [0.60, 0.05, 0.35]]))  # 0.25 apart: near at 0.3, not at 0.2
    assert metrics.near_tie_share(logits, 0.3) == 0.75
    assert metrics.near_tie_share(logits, 0.2) == 0.5
    assert metrics.near_tie_share(logits, 0.05) == 0.25
    rows = np.random.default_rng(0).normal(size=(200, 10))
    p = np.exp(rows) / np.exp(rows).sum(1, keepdims=True)
    brute = np.mean([sorted(row)[-1] - sorted(row)[-2] < 0.1 for row in p])
    assert metrics.near_tie_share(rows, 0.1) == pytest.approx(brute)


def test_the_image_entropy_verdict_needs_fewer_images_near_the_boundary_at_no_cost_in_accuracy():
    shows = {"acc_supervised": 0.60, "acc_entmin": 0.60, "near_supervised": 0.30, "near_entmin": 0.05,
             "near_drop": 0.25, "n_probe": 1000.0, "n_test": 10_000.0}
    assert lessons.outcome_entropy_images(shows) == (lessons.SHOWS, "")
    # two standard errors of the difference on 1 000 probe images: 2 sqrt((0.3 0.7 + 0.29 0.71) / 1000) = 0.041
    close = shows | {"near_entmin": 0.29, "near_drop": 0.01}
    outcome, reason = lessons.outcome_entropy_images(close)
    assert outcome == lessons.CONTRADICTS and "not fewer beyond the noise (+-4.1%)" in reason
    # 0.60 against 0.58 on 10 000 test images: the noise is +-1.4 %, so two points are a cost
    costly = shows | {"acc_entmin": 0.58}
    outcome, reason = lessons.outcome_entropy_images(costly)
    assert outcome == lessons.CONTRADICTS and "at a cost in accuracy: 58.0% against supervised's 60.0%" in reason
    assert lessons.outcome_entropy_images(shows | {"acc_entmin": 0.59})[0] == lessons.SHOWS  # inside the noise
    sure = shows | {"near_supervised": 0.005, "near_drop": -0.045}
    assert lessons.outcome_entropy_images(sure)[0] == lessons.NO_ROOM


FASHION = image_sets.IMAGE_SETS["fashion-mnist"].installed


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.present(), reason=f"Debian's {FASHION.package} is not installed ({FASHION.folder}); "
                                                    ".ci/run installs it")
def test_lessons_train_and_are_judged_at_image_scale_on_debians_fashion_mnist(tmp_path):
    """The entropy lesson, whose judge differs on images, and the distillation's three stages (the others share
    their judges with the small scale; all five presets' configs are checked above): all five took 139 s beside
    a mutation run, these two 28 s alone, and the suite had grown to 14.4 minutes on 2 cores."""
    from sslengine.store import Store
    store = Store(str(tmp_path / "runs.db"))
    runner = Runner(store)
    for name in ("entropy-boundary", "distill"):
        lesson = lessons.lesson(name)
        handle = lessons.start(runner, name, seed=0, steps=20, scale="images")
        runs = handle.wait()
        assert handle.failed is None and set(runs) == set(lesson.preset("images").roles), name
        assert lessons.lesson_groups(store, name, "images") == {handle.group: runs}
        assert lessons.lesson_groups(store, name, "small") == {}
        verdict = lessons.judge(store, name, runs)  # 20 steps: the path, not the effect (the bench's)
        assert lesson.effect in verdict.figures and verdict.text, name
    text = lessons.trains(lessons.lesson("distill"), "images")
    assert "Fashion-MNIST's 28x28 grey photographs, 4 labeled a class (40 labeled" in text
    assert "student (distill) 600 steps at half width" in text


def test_the_scale_note_quotes_the_bench_means_of_the_lessons_headline_figures():
    views = lessons.lesson("labeled-vs-unlabeled")
    entry = spread_entry([0.01, 0.02], acc_o=0.95, acc_U=0.96, acc_L=0.5)
    entry["figures"][1] = entry["figures"][1] | {"acc_U": 0.9, "acc_O": 0.85}
    note = lessons.scale_note(views, lessons.Spread.of(views, "small", entry))
    assert "CIFAR-10" in note and "here U 93%, O 90%, L 50% (means of 2 seeds)" in note
