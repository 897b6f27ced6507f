"""Realistic evaluation (Oliver et al., 2018): does SSL still gain when the unlabeled data holds classes the
labeled data does not?

One sweep is one labeled split (the first 60 % of the classes) and the mismatch share s of the unlabeled data
drawn from the other classes, for s in SHARES: supervised once (it never sees the unlabeled data, so one run
serves every share) and each SSL method at every share. The gain at s is acc_SSL(s) - acc_supervised. Shared
by the Realistic evaluation page and bench/realistic.py.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .config import RunConfig
from .runner import Checked, Runner, check
from .store import RunRecord, Store

SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
UNSEEN_TAIL = 0.2  # the unseen pass rate of a run: its mean over the last fifth of training, batches being noisy


def mismatch_configs(base: dict, methods: tuple[str, ...], shares=SHARES) -> list[Checked]:
    """The sweep's configs, checked, under one group: supervised at the first share, each method at each."""
    group = f"mismatch {base.get('dataset', 'digits')} {base.get('labels_per_class', 2)}/class seed " \
            f"{base.get('seed', 0)} {time.strftime('%H:%M:%S')}"
    points = [("supervised", shares[0]), *((method, share) for method in methods for share in shares)]
    return [check(RunConfig(algorithm=method, mismatch=share, group=group,
                            name=f"{method} mismatch {share:g} · {group}", **base)) for method, share in points]


def start_mismatch(runner: Runner, base: dict, methods: tuple[str, ...], shares=SHARES) -> list[str]:
    """Record every run of the sweep (all checked first), queued in order; the runner trains them."""
    return [runner.start(config) for config in mismatch_configs(base, methods, shares)]


def mismatch_table(store: Store, runs: list[RunRecord]) -> pd.DataFrame:
    """One row per finished run: method, share, test accuracy, its gain over supervised, unseen pass rate."""
    rows = []
    for run in runs:
        if run.status != "finished":
            continue
        frame = store.scalars_by_step(run.id)
        tail = frame[frame.index >= (1 - UNSEEN_TAIL) * run.config.steps]
        unseen = tail["unseen_pass_rate"].mean() if "unseen_pass_rate" in tail else np.nan
        rows.append({"method": run.algorithm, "share": run.config.mismatch, "unseen_pass_rate": unseen,
                     "test_acc": frame["test_acc"].dropna().iloc[-1], "run": run.id})
    table = pd.DataFrame(rows, columns=["method", "share", "test_acc", "unseen_pass_rate", "run"])
    supervised = table.loc[table.method == "supervised", "test_acc"]
    table["gain"] = table.test_acc - (supervised.iloc[0] if len(supervised) else np.nan)
    return table.sort_values(["method", "share"], ignore_index=True)
