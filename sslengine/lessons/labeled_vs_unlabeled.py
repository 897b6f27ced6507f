"""(b) The contrastive loss on the unlabeled views (U), none (O) or the labeled images (L)."""
from __future__ import annotations

from ..store import Store
from .model import (CONTRADICTS, FASHION, NO_ROOM, SHOWS, Lesson, Preset, Role, Verdict, decide, final, seconds,
                    test_size, tie_margin)


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


def views_stages(steps: int) -> tuple[tuple[Role, ...], ...]:
    """O, L and U side by side, `steps` each."""
    return ((Role("O", {"algorithm": "fixmatch", "steps": steps}),
             Role("L", {"algorithm": "fixmatch_simclr", "variant": "L", "steps": steps}),
             Role("U", {"algorithm": "fixmatch_simclr", "variant": "U", "steps": steps})),)


LESSON = Lesson(
    "labeled-vs-unlabeled", "The contrastive loss on unlabeled or on labeled images",
    course="FixMatch with SimCLR's loss on CIFAR-10: on the unlabeled views (U) 92.4 %, plain FixMatch (O) "
           "88.1 %, on the labeled images (L) 53.2 %, and L trains slowest.",
    watch="the final accuracies and seconds of U, O and L",
    presets={
        # 500 steps: three 1 000-step runs side by side took 80-100 s a press on a 2-core AMD EPYC.
        "small": Preset({"dataset": "digits", "labels_per_class": 2}, views_stages(500), judge_views, outcome_views,
                        views_shortfall),
        "images": Preset(FASHION, views_stages(600), judge_views, outcome_views, views_shortfall)},
    headline={"acc_U": "U", "acc_O": "O", "acc_L": "L"},
    effect="u_minus_o",
    effect_label="U minus O test accuracy",
    page="compare?runs={O},{L},{U}")
