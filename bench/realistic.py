"""Realistic evaluation on digits (Oliver et al., 2018): FixMatch's gain over supervised as the share of
unseen-class samples in the unlabeled data grows, on 3 seeds.

Run: python -m bench.realistic [--seeds 3] [--steps 500] [--methods fixmatch ...]
Six digits are labeled and tested, the unlabeled data holds the share s from the other four. Printed per
method and share: test accuracy and gain over supervised (mean and per seed), and the share of unseen-class
samples passing the threshold; the reference is supervised on the same labeled split, in the same process.
"""
from __future__ import annotations

import argparse
import tempfile

import pandas as pd

from sslengine.realistic import mismatch_table, start_mismatch
from sslengine.runner import Runner
from sslengine.store import Store


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--labels-per-class", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=["fixmatch"])
    args = parser.parse_args()
    runner = Runner(Store(f"{tempfile.mkdtemp()}/realistic.db"))
    tables = []
    for seed in range(args.seeds):
        base = dict(dataset="digits", labels_per_class=args.labels_per_class, steps=args.steps, seed=seed)
        run_ids = start_mismatch(runner, base, tuple(args.methods))
        for run_id in run_ids:
            runner.wait(run_id)
        tables.append(mismatch_table(runner.store, [runner.store.get_run(i) for i in run_ids]).assign(seed=seed))
    table = pd.concat(tables)
    supervised = table[table.method == "supervised"]
    print(f"digits, 6 labeled classes, {args.labels_per_class} labels per class, {args.steps} steps, "
          f"{args.seeds} seeds; supervised {supervised.test_acc.mean():.3f} "
          f"({' / '.join(f'{a:.3f}' for a in supervised.test_acc)})")
    print("| method | mismatch share | test accuracy | gain over supervised (per seed) | unseen passing |")
    print("|---|---|---|---|---|")
    for (method, share), rows in table[table.method != "supervised"].groupby(["method", "share"]):
        print(f"| {method} | {share:g} | {rows.test_acc.mean():.3f} | {rows.gain.mean():+.3f} "
              f"({' / '.join(f'{g:+.3f}' for g in rows.gain)}) | "
              f"{'-' if rows.unseen_pass_rate.isna().all() else f'{rows.unseen_pass_rate.mean():.1%}'} |")
    for method in args.methods:
        rows = table[table.method == method]
        gains = rows.pivot(index="seed", columns="share", values="gain")
        smaller = (gains[0.75] < gains[0.0]).sum()
        print(f"{method}: gain at 0.75 below the gain at 0 on {smaller} of {args.seeds} seeds")


if __name__ == "__main__":
    main()
