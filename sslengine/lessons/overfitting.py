"""(c) Few labels: supervised's training loss to zero while its validation loss rises."""
from __future__ import annotations

from ..store import Store
from .model import CONTRADICTS, FASHION, NO_ROOM, SHOWS, Lesson, Preset, Role, Verdict, decide, final

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


def overfitting_stages(steps: int) -> tuple[tuple[Role, ...], ...]:
    """Supervised with nothing to hold it back (no augmentation, no weight decay) beside FixMatch."""
    return ((Role("supervised", {"algorithm": "supervised", "weak_augment": False, "weight_decay": 0.0,
                                 "steps": steps}),
             Role("fixmatch", {"algorithm": "fixmatch", "steps": steps})),)


LESSON = Lesson(
    "overfitting", "Few labels: training loss to zero, validation loss up",
    course="Supervised on a few CIFAR-10 labels: the training loss falls to about 0 while the validation loss "
           "rises, and accuracy plateaus at 46-47 %.",
    watch="the supervised validation loss turning upward while its training loss sits at zero, and the "
          "semi-supervised run's validation loss beside it",
    presets={
        # Two moons rather than digits: on digits with 5 labels per class the rise was about x1.2, hard to see.
        "small": Preset({"dataset": "moons", "labels_per_class": 3, "noise": 0.1}, overfitting_stages(1000),
                        judge_overfitting, outcome_overfitting),
        "images": Preset(FASHION, overfitting_stages(600), judge_overfitting, outcome_overfitting)},
    headline={"supervised_acc": "supervised's final accuracy"},
    effect="supervised_ratio",
    effect_label="supervised validation loss at its highest over its lowest before it", no_effect=1.0,
    page="compare?runs={supervised},{fixmatch}")
