"""(e) The distilled student against its fine-tuned teacher (SimCLRv2)."""
from __future__ import annotations

from ..store import Store
from .model import (CONTRADICTS, FASHION, NO_ROOM, SHOWS, Lesson, Preset, Role, Verdict, decide, final, test_size,
                    tie_margin)


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


def distill_stages(pretrain: int, steps: int) -> tuple[tuple[Role, ...], ...]:
    """SimCLR for `pretrain` steps, then its fine-tuned teacher and the distilled student, `steps` each."""
    return ((Role("simclr", {"algorithm": "simclr", "steps": pretrain}),),
            (Role("teacher", {"algorithm": "finetune", "steps": steps}, parent="simclr"),),
            (Role("student", {"algorithm": "distill", "steps": steps}, parent="teacher"),))


LESSON = Lesson(
    "distill", "The distilled student and its teacher",
    course="SimCLRv2: a student distilled from the fine-tuned teacher on unlabeled images matches or beats "
           "the teacher.",
    watch="the student's accuracy against the teacher's",
    presets={
        # Fine-tune and distill 500 steps each: at 1 000 a press took 62-66 s on a 2-core AMD EPYC.
        "small": Preset({"dataset": "digits", "labels_per_class": 2}, distill_stages(300, 500), judge_distill,
                        outcome_distill, distill_shortfall),
        "images": Preset(FASHION, distill_stages(600, 600), judge_distill, outcome_distill, distill_shortfall)},
    headline={"acc_teacher": "the teacher's test accuracy", "acc_student": "the student's"},
    effect="student_minus_teacher", effect_label="student minus teacher test accuracy",
    page="compare?runs={simclr},{teacher},{student}")
