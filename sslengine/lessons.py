"""Lessons: the course's observations, each as a preset of runs that shows it on a CPU in about a minute, and a
verdict computed from those runs' own numbers, which says so plainly when they do not show it.

    handle = start(get_runner(), "distill", seed=0)   # validates every run first, returns at once
    roles = handle.wait()                              # {"simclr": id, "teacher": id, "student": id}
    verdict = judge(store, "distill", roles)           # Verdict(holds=..., figures={...}, text="...")

A lesson trains in stages: the runs of one stage together, a later stage once the runs it starts from have
finished (fine-tune after SimCLR, distill after fine-tune). Every run carries its lesson, its role and the
lesson's `group` in its config, so a page finds a lesson's runs in the store wherever they were trained.
Each lesson names one figure as its effect. `python -m bench.lessons --seeds 0-9` trains every preset on ten
seeds and writes each effect's distribution, the hold rate and the machine to SPREAD_FILE; the cards draw it and
generate their "Here" sentence from it (`here`), so no figure on a card is typed by hand.
"""
from __future__ import annotations

import json
import math
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .algorithms import ALGORITHMS
from .config import ConfigError, RunConfig
from .metrics import near_boundary_share, pseudo_label_stats
from .models import small_cnn_width
from .runner import Checked, Runner, check
from .splits import load_split
from .store import Starter, Store


@dataclass(frozen=True)
class Role:
    name: str
    settings: dict  # RunConfig fields beyond the lesson's split
    parent: str | None = None  # the role whose run this one starts from


# A run's verdict has three outcomes: it shows the lesson's effect past the margin its lesson states; the seed
# left no room to show it (supervised already in the gap, two accuracies tied within the test set's noise); or
# it contradicts it.
SHOWS, NO_ROOM, CONTRADICTS = "shows it", "no room to show it", "contradicts it"


@dataclass(frozen=True)
class Verdict:
    outcome: str  # SHOWS, NO_ROOM or CONTRADICTS
    figures: dict[str, float]
    text: str  # the numbers, in one line
    reason: str = ""  # why there was no room, or what contradicts the lesson

    def __post_init__(self):  # plain Python values, for JSON
        if self.outcome not in (SHOWS, NO_ROOM, CONTRADICTS):
            raise ValueError(f"outcome {self.outcome!r}")
        object.__setattr__(self, "figures", {key: float(value) for key, value in self.figures.items()})

    @property
    def holds(self) -> bool:
        return self.outcome == SHOWS


def decide(outcome: Callable[[dict[str, float]], tuple[str, str]], figures: dict[str, float], text: str) -> Verdict:
    """The verdict of a lesson's `outcome` rule on these figures."""
    result, reason = outcome(figures)
    return Verdict(result, figures, text, reason)


def tie_margin(a: float, b: float, n: int) -> float:
    """Two standard errors of the difference of two accuracies, each measured on n test samples: a difference
    inside it is a tie within the test set's sampling noise."""
    return 2 * math.sqrt((a * (1 - a) + b * (1 - b)) / n)


def test_size(store: Store, run_id: str) -> int:
    return len(load_split(store.get_run(run_id).config).y_test)


@dataclass(frozen=True)
class Lesson:
    name: str
    title: str
    course: str  # the course material's finding, at CIFAR-10 scale on a GPU
    watch: str  # what to look at on the charts
    split: dict  # dataset and labels shared by every role
    stages: tuple[tuple[Role, ...], ...]
    judge: Callable[[Store, dict[str, str]], Verdict]
    outcome: Callable[[dict[str, float]], tuple[str, str]]  # a verdict's outcome and reason, from its figures
    # The figures (bench means) the card quotes beside the course's, by what they are, in `scale_note`
    headline: dict[str, str]
    effect: str  # the verdict's figure that measures the lesson's effect, one number a seed
    effect_label: str
    page: str  # the method page that shows these runs: its url path and query parameter
    # Why the preset falls short where it holds on fewer than RELIABLE of the bench's seeds: from their mean figures
    shortfall: Callable[[dict[str, float]], str] = lambda means: ""
    no_effect: float = 0.0  # the effect's value where the lesson shows nothing (1 for a ratio)
    roles: tuple[str, ...] = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "roles", tuple(role.name for stage in self.stages for role in stage))

    @property
    def ratio(self) -> bool:
        """An effect that is a ratio (no effect: 1): its seed noise is multiplicative, so it is averaged and
        spread on a log scale."""
        return self.no_effect == 1

    def scaled(self, effects: list[float]) -> np.ndarray:
        return np.log(effects) if self.ratio else np.asarray(effects, dtype=float)

    def shown(self, effect: float) -> str:
        return f"x{effect:.2f}" if self.ratio else f"{effect:+.3f}"


# Reading runs ---------------------------------------------------------------------------------------------
def final(store: Store, run_id: str, key: str = "test_acc") -> float:
    return store.final_scalars(run_id).get(key, float("nan"))


def seconds(store: Store, run_id: str) -> float:
    return store.final_scalars(run_id).get("seconds", float("nan"))


# (a) Pseudo-label quality ------------------------------------------------------------------------------------
# The course's claims are that passing labels are far more accurate early and that all labels improve: a rise of
# 0.1 is over ten times the noise of a tenth's mean accuracy (50 batches of 112 labels, sd about 0.006). At 0.2
# it failed seeds whose labels rose by 0.14 (3, 10) and 0.20 (13), which show the improvement plainly.
GAP_MIN, RISE_MIN, AGREE_MAX = 0.15, 0.1, 0.15


def pseudo_label_phases(store: Store, run_id: str) -> dict[str, float]:
    """All-argmax and passing pseudo-label accuracy over the first and the last tenth of the steps, and how far
    the first probe snapshot after step 20 is from the curve at its step (one network behind both)."""
    run, frame = store.get_run(run_id), store.scalars_by_step(run_id)
    tenth = max(run.config.steps // 10, 1)
    early, late = frame.loc[1:tenth], frame.loc[run.config.steps - tenth:]
    figures = {"early_all": early.pseudo_label_acc.mean(), "early_passing": early.pseudo_label_acc_passing.mean(),
               "late_all": late.pseudo_label_acc.mean()}
    later = [step for step in store.snapshot_steps(run_id) if step > 20 and step in frame.index]
    if later:
        arrays = store.arrays(run_id, later[0])
        probe = pseudo_label_stats(arrays["logits"], arrays["target"], run.config.threshold, run.config.temperature)
        figures["snapshot_step"] = later[0]
        figures["snapshot_gap"] = abs(probe["pseudo_label_acc"] - frame.pseudo_label_acc[later[0]])
    return figures


def judge_pseudo_labels(store: Store, runs: dict[str, str]) -> Verdict:
    f = pseudo_label_phases(store, runs["fixmatch"])
    gap, rise = f["early_passing"] - f["early_all"], f["late_all"] - f["early_all"]
    text = (f"first tenth: passing {f['early_passing']:.1%} against all {f['early_all']:.1%} (gap {gap:+.1%}); "
            f"all-argmax rises to {f['late_all']:.1%} ({rise:+.1%}) by the last tenth")
    figures = f | {"gap": gap, "rise": rise}
    return decide(outcome_pseudo_labels, figures, text)


def outcome_pseudo_labels(f: dict[str, float]) -> tuple[str, str]:
    if f.get("snapshot_gap", 1.0) > AGREE_MAX:
        return CONTRADICTS, "the probe snapshot does not agree with the curve, so the curve cannot be read"
    if f["gap"] >= GAP_MIN and f["rise"] >= RISE_MIN:
        return SHOWS, ""
    if f["early_all"] >= 1 - GAP_MIN:
        return NO_ROOM, (f"all argmax labels were already {f['early_all']:.1%} right over the first tenth, too "
                         f"near 100 % for the passing ones to lead by {GAP_MIN:.0%}")
    return CONTRADICTS, (f"the passing labels lead by {f['gap']:+.1%} (at least {GAP_MIN:.0%} shows it) and all "
                         f"labels rise by {f['rise']:+.1%} (at least {RISE_MIN:.0%})")


# (b) Labeled or unlabeled views for the contrastive loss -----------------------------------------------------
def judge_views(store: Store, runs: dict[str, str]) -> Verdict:
    acc = {role: final(store, run_id) for role, run_id in runs.items()}
    took = {role: seconds(store, run_id) for role, run_id in runs.items()}
    text = " · ".join(f"{role} {acc[role]:.3f} in {took[role]:.0f} s" for role in ("U", "O", "L"))
    order = " > ".join(sorted(acc, key=acc.get, reverse=True))
    figures = ({f"acc_{role}": value for role, value in acc.items()}
               | {f"seconds_{role}": value for role, value in took.items()}
               | {"u_minus_o": acc["U"] - acc["O"], "n_test": test_size(store, runs["O"])})
    return decide(outcome_views, figures, f"{order}: {text}")


def outcome_views(f: dict[str, float]) -> tuple[str, str]:
    margin = tie_margin(f["acc_U"], f["acc_O"], int(f["n_test"]))
    if f["acc_L"] >= f["acc_O"]:
        return CONTRADICTS, f"L ({f['acc_L']:.3f}) does not trail O ({f['acc_O']:.3f})"
    if f["u_minus_o"] >= margin:
        return SHOWS, ""
    if f["u_minus_o"] > -margin:
        return NO_ROOM, (f"U and O tie within the test set's noise: U minus O is {f['u_minus_o']:+.3f}, inside "
                         f"+-{margin:.3f} on {f['n_test']:.0f} test images")
    return CONTRADICTS, f"O beats U by {-f['u_minus_o']:.3f}, beyond the test set's noise (+-{margin:.3f})"


def views_shortfall(means: dict[str, float]) -> str:
    return (f"Plain FixMatch (O) already averages {means['acc_O']:.3f} here, {1 - means['acc_O']:.3f} from the "
            f"ceiling, against 0.881 on CIFAR-10: the contrastive term has little left to add, so U's lead over O "
            f"is smaller than the seed spread. L trails both, as on CIFAR-10.")


# (c) Over-fitting with few labels ------------------------------------------------------------------------------
TRAIN_LOSS_MAX, RISE_RATIO = 0.1, 1.15


def validation_rise(store: Store, run_id: str) -> dict[str, float]:
    """The training loss at the end, and the validation loss's largest rise, as its chart shows it wherever in
    the run it happens: the highest it climbs over its lowest point so far (from val_min at val_min_step to
    val_peak at val_peak_step), and where it ends. The end over the overall minimum hid a rise from 0.33 to 0.81
    that fell again to 0.004."""
    frame = store.scalars_by_step(run_id)
    validation = frame.test_loss.dropna()
    rises = validation / validation.cummin()
    peak_step = rises.idxmax()
    low_step = validation.loc[:peak_step].idxmin()
    return {"train_loss": frame.loss_x.dropna().iloc[-1], "val_min": validation[low_step],
            "val_min_step": float(low_step), "val_peak": validation[peak_step], "val_peak_step": float(peak_step),
            "val_end": validation.iloc[-1], "ratio": rises.max(), "acc": final(store, run_id)}


def rise_text(rise: dict[str, float]) -> str:
    return (f"validation loss {rise['val_min']:.3g} at step {rise['val_min_step']:.0f}, up to {rise['val_peak']:.3g} "
            f"at step {rise['val_peak_step']:.0f} (x{rise['ratio']:.2f}), {rise['val_end']:.3g} at the end")


def judge_overfitting(store: Store, runs: dict[str, str]) -> Verdict:
    sup = validation_rise(store, runs["supervised"])
    semi_role = next(role for role in runs if role != "supervised")
    semi = validation_rise(store, runs[semi_role])
    text = (f"supervised: training loss {sup['train_loss']:.3g}, {rise_text(sup)}; {semi_role}: "
            f"{rise_text(semi)}")
    figures = {f"supervised_{k}": v for k, v in sup.items()} | {f"semi_{k}": v for k, v in semi.items()}
    return decide(outcome_overfitting, figures, text)


def outcome_overfitting(f: dict[str, float]) -> tuple[str, str]:
    if f["supervised_train_loss"] > TRAIN_LOSS_MAX:
        return NO_ROOM, (f"supervised's training loss ended at {f['supervised_train_loss']:.3g}, above "
                         f"{TRAIN_LOSS_MAX}: it never fit its labels, so it had nothing to over-fit")
    if f["supervised_ratio"] >= RISE_RATIO:
        return SHOWS, ""
    return CONTRADICTS, (f"supervised fit its labels but its validation loss rose only x{f['supervised_ratio']:.2f} "
                         f"(x{RISE_RATIO} shows it)")


# (d) Entropy minimization and the low-density gap -------------------------------------------------------------
NEAR_MARGIN, IN_GAP_MAX = 0.15, 0.01


def near_boundary(store: Store, run_id: str) -> float:
    """The share of unlabeled probe points within NEAR_MARGIN of the run's final decision boundary."""
    return near_in(store.arrays(run_id, 0), store.arrays(run_id, store.snapshot_steps(run_id)[-1]))


def near_in(first: dict, snapshot: dict) -> float:
    """As `near_boundary`, from a run's step-0 snapshot (points, grid) and a later one (its probabilities)."""
    return near_boundary_share(first["probe_x"], first["grid"], snapshot["grid_probs"][:, 1], NEAR_MARGIN)


def judge_entropy(store: Store, runs: dict[str, str]) -> Verdict:
    """EntMin's boundary runs through the gap (at most IN_GAP_MAX of the unlabeled points near it), at no cost in
    accuracy; the effect is how much data it moved off, against supervised's boundary."""
    acc = {role: final(store, run_id) for role, run_id in runs.items()}
    near = {role: near_boundary(store, run_id) for role, run_id in runs.items()}
    text = (f"unlabeled points within {NEAR_MARGIN} of the boundary: EntMin {near['entmin']:.1%}, supervised "
            f"{near['supervised']:.1%}; test accuracy: EntMin {acc['entmin']:.1%}, supervised {acc['supervised']:.1%}")
    figures = ({f"acc_{r}": v for r, v in acc.items()} | {f"near_{r}": v for r, v in near.items()}
               | {"near_drop": near["supervised"] - near["entmin"]})
    return decide(outcome_entropy, figures, text)


def outcome_entropy(f: dict[str, float]) -> tuple[str, str]:
    if f["near_supervised"] <= IN_GAP_MAX:
        return NO_ROOM, (f"supervised's boundary already runs through the gap ({f['near_supervised']:.1%} of the "
                         f"points near it, at most {IN_GAP_MAX:.0%} is in the gap): EntMin has nothing to move")
    if f["near_entmin"] <= IN_GAP_MAX and f["acc_entmin"] >= f["acc_supervised"]:
        return SHOWS, ""
    return CONTRADICTS, (f"EntMin's boundary keeps {f['near_entmin']:.1%} of the points near it (at most "
                         f"{IN_GAP_MAX:.0%} is in the gap), or it cost accuracy")


def entropy_shortfall(means: dict[str, float]) -> str:
    return (f"With one label a cluster, where the two labels fall decides where supervised's boundary runs: on "
            f"some seeds it already runs through the gap, and EntMin has nothing to move. Where it has, EntMin "
            f"empties the margin: {means['near_entmin']:.1%} of the points near its boundary on average, against "
            f"supervised's {means['near_supervised']:.1%}.")


# (e) Distillation -----------------------------------------------------------------------------------------------
def judge_distill(store: Store, runs: dict[str, str]) -> Verdict:
    acc = {role: final(store, run_id) for role, run_id in runs.items()}
    text = f"student {acc['student']:.3f}, teacher {acc['teacher']:.3f} ({acc['student'] - acc['teacher']:+.3f})" + (
        f"; SimCLR's linear probe {acc['simclr']:.3f}" if "simclr" in acc else "")
    figures = ({f"acc_{role}": value for role, value in acc.items()}
               | {"student_minus_teacher": acc["student"] - acc["teacher"],
                  "n_test": test_size(store, runs["student"])})
    return decide(outcome_distill, figures, text)


def outcome_distill(f: dict[str, float]) -> tuple[str, str]:
    margin = tie_margin(f["acc_student"], f["acc_teacher"], int(f["n_test"]))
    if f["student_minus_teacher"] >= margin:
        return SHOWS, ""
    if f["student_minus_teacher"] > -margin:
        return NO_ROOM, (f"student and teacher tie within the test set's noise: {f['student_minus_teacher']:+.3f}, "
                         f"inside +-{margin:.3f} on {f['n_test']:.0f} test images")
    return CONTRADICTS, f"the teacher beats the student by {-f['student_minus_teacher']:.3f} (+-{margin:.3f})"


def distill_shortfall(means: dict[str, float]) -> str:
    return (f"The half-width student matches its teacher on average ({means['acc_student']:.3f} against "
            f"{means['acc_teacher']:.3f}) but does not beat it on every seed: the difference is within the seed "
            f"spread, where SimCLRv2's students distilled from 1.2 M unlabeled ImageNet images.")


LESSONS = {lesson.name: lesson for lesson in (
    Lesson(
        "pseudo-label-quality", "Which pseudo-labels are right",
        course="FixMatch on CIFAR-10: over the first epoch only about 40 % of all argmax pseudo-labels are right, "
               "and they improve as training goes on; the ones passing the threshold are far more accurate.",
        watch="the gap between the two curves early on, and how the lower one climbs",
        split={"dataset": "digits", "labels_per_class": 2},
        # 500 steps: over the 1 000-step default the all-argmax curve rose less than 0.2 on seed 0.
        stages=((Role("fixmatch", {"algorithm": "fixmatch", "steps": 500}),),),
        judge=judge_pseudo_labels, outcome=outcome_pseudo_labels,
        headline={"early_all": "all argmax pseudo-labels right over the first tenth",
                  "late_all": "over the last tenth"},
        effect="gap", effect_label="passing minus all pseudo-label accuracy, first tenth",
        page="threshold?run={fixmatch}"),
    Lesson(
        "labeled-vs-unlabeled", "The contrastive loss on unlabeled or on labeled images",
        course="FixMatch with SimCLR's loss on CIFAR-10: on the unlabeled views (U) 92.4 %, plain FixMatch (O) "
               "88.1 %, on the labeled images (L) 53.2 %, and L trains slowest.",
        watch="the final accuracies and seconds of U, O and L",
        split={"dataset": "digits", "labels_per_class": 2},
        # 500 steps: three 1 000-step runs side by side took 80-100 s a press on a 2-core AMD EPYC.
        stages=((Role("O", {"algorithm": "fixmatch", "steps": 500}),
                 Role("L", {"algorithm": "fixmatch_simclr", "variant": "L", "steps": 500}),
                 Role("U", {"algorithm": "fixmatch_simclr", "variant": "U", "steps": 500})),),
        judge=judge_views, outcome=outcome_views, headline={"acc_U": "U", "acc_O": "O", "acc_L": "L"},
        effect="u_minus_o",
        effect_label="U minus O test accuracy",
        page="compare?runs={O},{L},{U}", shortfall=views_shortfall),
    Lesson(
        "overfitting", "Few labels: training loss to zero, validation loss up",
        course="Supervised on a few CIFAR-10 labels: the training loss falls to about 0 while the validation loss "
               "rises, and accuracy plateaus at 46-47 %.",
        watch="the supervised validation loss turning upward while its training loss sits at zero, and the "
              "semi-supervised run's validation loss beside it",
        # Two moons rather than digits: on digits with 5 labels per class the rise was about x1.2, hard to see.
        split={"dataset": "moons", "labels_per_class": 3, "noise": 0.1},
        stages=((Role("supervised", {"algorithm": "supervised", "weak_augment": False, "weight_decay": 0.0}),
                 Role("fixmatch", {"algorithm": "fixmatch"})),),
        judge=judge_overfitting, outcome=outcome_overfitting,
        headline={"supervised_acc": "supervised's final accuracy"},
        effect="supervised_ratio",
        effect_label="supervised validation loss at its highest over its lowest before it", no_effect=1.0,
        page="compare?runs={supervised},{fixmatch}"),
    Lesson(
        "entropy-boundary", "Entropy minimization and the low-density gap",
        course="Entropy minimization pushes the decision boundary away from the unlabeled data, into the "
               "low-density gap between the classes.",
        watch="where each boundary runs against the unlabeled points: supervised's line through the two labeled "
              "points' midpoint tilts into the clusters, EntMin's leaves them for the gap",
        # Two tall clusters and one label each (data.GAP_*): on two moons EntMin locked in wherever the labels put
        # the boundary, and cut a moon on most seeds.
        split={"dataset": "gap", "labels_per_class": 1, "noise": 0.25},
        stages=((Role("supervised", {"algorithm": "supervised"}),
                 Role("entmin", {"algorithm": "entmin", "lambda_u": 1.0})),),
        judge=judge_entropy, outcome=outcome_entropy,
        headline={"acc_supervised": "supervised's test accuracy", "acc_entmin": "EntMin's"},
        effect="near_drop",
        effect_label=f"share of unlabeled points within {NEAR_MARGIN} of the boundary, supervised minus EntMin",
        page="entropy?group={group}", shortfall=entropy_shortfall),
    Lesson(
        "distill", "The distilled student and its teacher",
        course="SimCLRv2: a student distilled from the fine-tuned teacher on unlabeled images matches or beats "
               "the teacher.",
        watch="the student's accuracy against the teacher's",
        split={"dataset": "digits", "labels_per_class": 2},
        # Fine-tune and distill 500 steps each: at 1 000 a press took 62-66 s on a 2-core AMD EPYC.
        stages=((Role("simclr", {"algorithm": "simclr", "steps": 300}),),
                (Role("teacher", {"algorithm": "finetune", "steps": 500}, parent="simclr"),),
                (Role("student", {"algorithm": "distill", "steps": 500}, parent="teacher"),)),
        judge=judge_distill, outcome=outcome_distill,
        headline={"acc_teacher": "the teacher's test accuracy", "acc_student": "the student's"},
        effect="student_minus_teacher", effect_label="student minus teacher test accuracy",
        page="compare?runs={simclr},{teacher},{student}", shortfall=distill_shortfall),
)}


def lesson(name: str) -> Lesson:
    if name not in LESSONS:
        raise ConfigError("lesson", f"{name!r} is not a lesson; known: {', '.join(LESSONS)}")
    return LESSONS[name]


def configs(name: str, seed: int, device: str = "auto", group: str | None = None,
            steps: int | None = None) -> dict[str, Checked]:
    """Every role's config, checked (a role that starts from another is checked without its parent); `steps`
    replaces every role's, for a smoke test of the path (bench/gpu.py --smoke)."""
    chosen = lesson(name)
    group = group or f"lesson {name} seed {seed} {uuid.uuid4().hex[:6]}"
    built = {role.name: RunConfig(**chosen.split, **role.settings | ({"steps": steps} if steps else {}), seed=seed,
                                  device=device, lesson=name, role=role.name, group=group,
                                  name=f"lesson {name} · {role.name} · seed {seed}")
             for stage in chosen.stages for role in stage}
    return {role: check(config) for role, config in built.items()}


class LessonRun:
    """A lesson training in stages: its first stage is started (or refused) before `start` returns, the
    rest by a thread as the runs they start from finish."""

    def __init__(self, runner: Runner, name: str, seed: int, device: str, steps: int | None = None,
                 starter: Starter | None = None, checked: dict[str, Checked] | None = None):
        self.runner, self.lesson, self.starter = runner, lesson(name), starter
        self.configs = checked or configs(name, seed, device, steps=steps)
        self.group = next(iter(self.configs.values())).config.group
        self.runs: dict[str, str] = {}
        self.failed: str | None = None  # the first role that did not finish, once the lesson stopped there
        self._start_stage(self.lesson.stages[0])
        self._thread = threading.Thread(target=self._rest, name=f"lesson-{self.group}", daemon=True)
        self._thread.start()

    def _start_stage(self, stage: tuple[Role, ...]):
        run_ids = self.runner.start_together([(self.configs[role.name], self.runs[role.parent] if role.parent else None)
                                              for role in stage], self.starter)
        self.runs.update(zip((role.name for role in stage), run_ids))

    def _finished(self, stage: tuple[Role, ...]) -> bool:
        for role in stage:
            self.runner.wait(self.runs[role.name])
            if self.runner.store.get_run(self.runs[role.name]).status != "finished":
                self.failed = role.name
        return self.failed is None

    def _rest(self):
        stages = self.lesson.stages
        for done, stage in zip(stages, stages[1:]):
            if not self._finished(done):
                return
            self._start_stage(stage)
        self._finished(stages[-1])

    def wait(self) -> dict[str, str]:
        self._thread.join()
        return dict(self.runs)


def start(runner: Runner, name: str, seed: int = 0, device: str = "auto", steps: int | None = None,
          starter: Starter | None = None, checked: dict[str, Checked] | None = None) -> LessonRun:
    """Train a lesson; `checked`: its configs as `configs` gave them, when the caller checked them first."""
    return LessonRun(runner, name, seed, device, steps, starter, checked)


def judge(store: Store, name: str, runs: dict[str, str]) -> Verdict:
    return lesson(name).judge(store, runs)


# The bench's ten-seed spread ------------------------------------------------------------------------------------
SPREAD_FILE = Path(__file__).resolve().parent.parent / "bench" / "results" / "lessons.json"
RELIABLE = 0.9  # the share of seeds on which a lesson must hold to be shown as reliable


def load_spread(path: Path = SPREAD_FILE) -> dict[str, dict]:
    """What `python -m bench.lessons` measured, by lesson: machine, seeds, per seed the verdict's figures,
    whether it held and the seconds a press took; {} before the bench has run."""
    return json.loads(path.read_text())["lessons"] if path.exists() else {}


@dataclass(frozen=True)
class Spread:
    lesson: Lesson
    machine: str
    seeds: list[int]
    effects: list[float]
    outcomes: list[str]  # each seed's, from its figures by the lesson's rule of today
    seconds: list[float]
    means: dict[str, float]  # every figure's mean over the seeds
    page_seconds: float | None  # one press with the Lessons page open (bench/lessons_page.py), where measured

    @classmethod
    def of(cls, lesson_: Lesson, entry: dict) -> "Spread":
        figures = entry["figures"]
        return cls(lesson_, entry["machine"], entry["seeds"], [f[lesson_.effect] for f in figures],
                   [lesson_.outcome(f)[0] for f in figures], entry["seconds"],
                   {key: float(np.mean([f[key] for f in figures])) for key in figures[0]},
                   entry.get("page_seconds", {}).get("seconds"))

    @property
    def holds(self) -> list[bool]:
        return [outcome == SHOWS for outcome in self.outcomes]

    def count(self, outcome: str) -> int:
        return self.outcomes.count(outcome)

    def tally(self) -> str:
        """"it shows it on 7 of 10, no room on 3": the outcomes that occurred, by count."""
        parts = [f"it shows it on {self.count(SHOWS)} of {len(self.outcomes)}"] + [
            f"{'no room' if outcome == NO_ROOM else 'contradicts it'} on {self.count(outcome)}"
            for outcome in (NO_ROOM, CONTRADICTS) if self.count(outcome)]
        return ", ".join(parts)

    def placement(self, seed: int) -> str:
        """Where a run's seed falls among the bench's: "Seed 1 is one of the 3 of 10 bench seeds with no room"."""
        if seed not in self.seeds:
            return f"On the bench's seeds {self.tally()}."
        outcome = self.outcomes[self.seeds.index(seed)]
        which = {SHOWS: "where it shows", NO_ROOM: "with no room to show it", CONTRADICTS: "that contradict it"}
        return (f"On the bench, seed {seed} is one of the {self.count(outcome)} of {len(self.seeds)} seeds "
                f"{which[outcome]}.")

    @property
    def reliable(self) -> bool:
        return self.count(SHOWS) >= RELIABLE * len(self.outcomes)

    @property
    def mean(self) -> float:
        """The effects' mean (a ratio's geometric mean)."""
        mean = self.lesson.scaled(self.effects).mean()
        return float(np.exp(mean) if self.lesson.ratio else mean)

    @property
    def sd(self) -> float:
        """The effects' seed standard deviation (a ratio's: of its log)."""
        return float(self.lesson.scaled(self.effects).std(ddof=1))

    @property
    def strength(self) -> float:
        """How many seed spreads (sd) the mean effect lies from no effect (a ratio's: on the log scale)."""
        scaled = self.lesson.scaled(self.effects)
        return float((scaled.mean() - self.lesson.scaled([self.lesson.no_effect])[0]) / self.sd)


def seed_range(seeds: list[int]) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ", ".join(map(str, seeds))


def here(lesson_: Lesson, spread: Spread) -> str:
    """The card's sentence on what this preset showed over the bench's seeds, from the bench's file."""
    label = lesson_.effect_label[0].upper() + lesson_.effect_label[1:]
    text = (f"On {spread.machine}, seeds {seed_range(spread.seeds)}: {spread.tally()}. {label}: "
            f"{lesson_.shown(spread.mean)} on average"
            + (" (geometric mean), seed spread (sd of its log) " if lesson_.ratio else ", seed spread (sd) ")
            + f"{spread.sd:.3f}, {spread.strength:.1f} spreads from no effect, from "
            f"{lesson_.shown(min(spread.effects))} to {lesson_.shown(max(spread.effects))}; a press took "
            f"{np.mean(spread.seconds):.0f} s from the command line"
            + (f", {spread.page_seconds:.0f} s with this page open." if spread.page_seconds else "."))
    if not spread.reliable:
        text += (f" **At this scale the preset does not show it reliably** (on fewer than {RELIABLE:.0%} of seeds). "
                 + lesson_.shortfall(spread.means))
    return text


# What a preset's data set is, in words, for the card's "What it trains".
DATA_WORDS = {"digits": "scikit-learn's 8x8 grey digits", "moons": "two moons (2-D points)",
              "gap": "two clusters with a gap between them (2-D points)",
              "fashion-mnist": "Fashion-MNIST's 28x28 grey photographs"}


def trains(lesson_: Lesson) -> str:
    """What the preset trains, from its configs: the data, how many labels, the model, each role's steps."""
    built = {role: checked.config for role, checked in configs(lesson_.name, seed=0).items()}
    first = next(iter(built.values()))
    split = load_split(first)
    side = split.x_labeled.shape[-1]
    model = "an MLP" if split.kind == "points" else f"the small CNN, {small_cnn_width(side)} wide"
    roles = ", ".join(f"{role}{'' if role == c.algorithm else f' ({c.algorithm})'} {c.steps:,} steps"
                      + (" at half width" if ALGORITHMS[c.algorithm].width_factor == 0.5 else "")
                      for role, c in built.items())
    return (f"{DATA_WORDS.get(first.dataset, first.dataset)}, {first.labels_per_class} labeled a class "
            f"({len(split.y_labeled)} labeled, {len(split.y_unlabeled):,} unlabeled); {model}; {roles}.")


def scale_note(lesson_: Lesson, spread: Spread) -> str:
    """Why the card's numbers are not the course's: its scale, and the preset's own figures from the bench."""
    figures = ", ".join(f"{label} {spread.means[key]:.0%}" for key, label in lesson_.headline.items())
    return (f"The course's numbers come from CIFAR-10's 32x32 colour photographs on a GPU; this preset is a far "
            f"smaller and easier task, so its numbers differ and only the direction of the effect carries over: "
            f"here {figures} (means of {len(spread.seeds)} seeds).")


def measured(name: str, spreads: dict[str, dict] | None = None) -> str:
    """The lesson's `here` sentence from the bench's file, or "" where the bench has not measured it."""
    spreads = load_spread() if spreads is None else spreads
    return here(lesson(name), Spread.of(lesson(name), spreads[name])) if name in spreads else ""


def lesson_groups(store: Store, name: str) -> dict[str, dict[str, str]]:
    """The lesson's trainings in the store, newest first: group -> role -> run id."""
    groups: dict[str, dict[str, str]] = {}
    for run in store.list_runs():
        if run.config.lesson == name:
            groups.setdefault(run.config.group, {})[run.config.role] = run.id
    return groups
