"""(d) Entropy minimization moves the decision boundary into the low-density gap."""
from __future__ import annotations

from ..metrics import near_boundary_share, near_tie_share
from ..store import Store
from .model import (CONTRADICTS, FASHION, NO_ROOM, SHOWS, Lesson, Preset, Role, Verdict, decide, final, test_size,
                    tie_margin)

NEAR_MARGIN, IN_GAP_MAX = 0.15, 0.01
# Images: no distance to the boundary means anything in pixel space, so an image is near it where its two
# likeliest classes' probabilities lie within TIE_MARGIN of each other (two classes: p within 0.15 of one half).
TIE_MARGIN = 0.3


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


def near_tie(store: Store, run_id: str) -> tuple[float, int]:
    """The share of unlabeled probe images near the run's final boundary (TIE_MARGIN), and how many it counted."""
    logits = store.arrays(run_id, store.snapshot_steps(run_id)[-1])["logits"]
    return near_tie_share(logits, TIE_MARGIN), len(logits)


def judge_entropy_images(store: Store, runs: dict[str, str]) -> Verdict:
    """On images no gap can be drawn: EntMin leaves fewer unlabeled images near its boundary than supervised,
    beyond the probe's sampling noise, at no cost in accuracy beyond the test set's."""
    acc = {role: final(store, run_id) for role, run_id in runs.items()}
    near = {role: near_tie(store, run_id) for role, run_id in runs.items()}
    text = (f"unlabeled images whose two likeliest classes lie within {TIE_MARGIN:.1f}: EntMin "
            f"{near['entmin'][0]:.1%}, supervised {near['supervised'][0]:.1%}; test accuracy: EntMin "
            f"{acc['entmin']:.1%}, supervised {acc['supervised']:.1%}")
    figures = ({f"acc_{r}": v for r, v in acc.items()} | {f"near_{r}": v for r, (v, _) in near.items()}
               | {"near_drop": near["supervised"][0] - near["entmin"][0], "n_probe": near["entmin"][1],
                  "n_test": test_size(store, runs["entmin"])})
    return decide(outcome_entropy_images, figures, text)


def outcome_entropy_images(f: dict[str, float]) -> tuple[str, str]:
    near_noise = tie_margin(f["near_supervised"], f["near_entmin"], int(f["n_probe"]))
    acc_noise = tie_margin(f["acc_supervised"], f["acc_entmin"], int(f["n_test"]))
    if f["near_supervised"] <= IN_GAP_MAX:
        return NO_ROOM, (f"supervised already leaves {f['near_supervised']:.1%} of the unlabeled images near its "
                         f"boundary (at most {IN_GAP_MAX:.0%} is none): EntMin has nothing to move")
    if f["near_drop"] >= near_noise and f["acc_entmin"] >= f["acc_supervised"] - acc_noise:
        return SHOWS, ""
    if f["near_drop"] < near_noise:
        return CONTRADICTS, (f"EntMin leaves {f['near_entmin']:.1%} of the images near its boundary against "
                             f"supervised's {f['near_supervised']:.1%}, not fewer beyond the noise "
                             f"(+-{near_noise:.1%})")
    return CONTRADICTS, (f"EntMin's boundary leaves the data, but at a cost in accuracy: {f['acc_entmin']:.1%} "
                         f"against supervised's {f['acc_supervised']:.1%} (+-{acc_noise:.1%})")


def entropy_shortfall(means: dict[str, float]) -> str:
    return (f"With one label a cluster, where the two labels fall decides where supervised's boundary runs: on "
            f"some seeds it already runs through the gap, and EntMin has nothing to move. Where it has, EntMin "
            f"empties the margin: {means['near_entmin']:.1%} of the points near its boundary on average, against "
            f"supervised's {means['near_supervised']:.1%}.")


def entropy_stages(steps: int) -> tuple[tuple[Role, ...], ...]:
    return ((Role("supervised", {"algorithm": "supervised", "steps": steps}),
             Role("entmin", {"algorithm": "entmin", "lambda_u": 1.0, "steps": steps})),)


LESSON = Lesson(
    "entropy-boundary", "Entropy minimization and the low-density gap",
    course="Entropy minimization pushes the decision boundary away from the unlabeled data, into the "
           "low-density gap between the classes.",
    watch="where each boundary runs against the unlabeled points: supervised's line through the two labeled "
          "points' midpoint tilts into the clusters, EntMin's leaves them for the gap",
    presets={
        # Two tall clusters and one label each (splits.GAP_*): on two moons EntMin locked in wherever the labels
        # put the boundary, and cut a moon on most seeds.
        "small": Preset({"dataset": "gap", "labels_per_class": 1, "noise": 0.25}, entropy_stages(1000),
                        judge_entropy, outcome_entropy, entropy_shortfall),
        "images": Preset(FASHION, entropy_stages(600), judge_entropy_images, outcome_entropy_images,
                         watch="the entropy histograms: EntMin piles the unlabeled images' entropy at zero where "
                               "supervised leaves a tail of unsure ones; and whether test accuracy pays for it")},
    headline={"acc_supervised": "supervised's test accuracy", "acc_entmin": "EntMin's"},
    effect="near_drop",
    effect_label="share of unlabeled samples near the boundary, supervised minus EntMin",
    page="entropy?group={group}")
