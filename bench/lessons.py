"""Each lesson's preset on seeds 0, 1 and 2: its figures per seed, their mean, the verdict, and wall seconds.

Run: python -m bench.lessons [--seeds 0 1 2] [--lessons NAME ...] [--markdown]
Every lesson trains through `sslengine.lessons.start`, as the Lessons page and `python -m sslengine lesson` do
(a stage's runs together, on this machine's cores). The reference is one default FixMatch run on digits (the
threshold page's Start, 1 000 steps) timed in the same process: each lesson's seconds are given against it.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from sslengine import lessons
from sslengine.config import RunConfig
from sslengine.runner import Runner
from sslengine.store import Store


def reference_seconds(store: Store) -> float:
    runner = Runner(store)
    started = time.perf_counter()
    runner.wait(runner.start(RunConfig(algorithm="fixmatch")))
    return time.perf_counter() - started


def train(store: Store, name: str, seed: int) -> tuple[lessons.Verdict, float]:
    started = time.perf_counter()
    handle = lessons.start(Runner(store), name, seed)
    runs = handle.wait()
    if handle.failed:
        raise RuntimeError(f"{name} seed {seed}: its {handle.failed} run {store.get_run(runs[handle.failed]).error}")
    return lessons.judge(store, name, runs), time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lessons", nargs="+", default=list(lessons.LESSONS), choices=list(lessons.LESSONS))
    parser.add_argument("--markdown", action="store_true", help="also print the README's table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Store(str(Path(folder) / "runs.db"))
        reference = reference_seconds(store)
        print(f"reference: a default FixMatch run on digits (1 000 steps) took {reference:.1f} s\n")
        rows = []
        for name in args.lessons:
            verdicts, times = [], []
            for seed in args.seeds:
                verdict, seconds = train(store, name, seed)
                verdicts.append(verdict), times.append(seconds)
                print(f"{name:22s} seed {seed}: {'holds' if verdict.holds else 'does not hold':13s} "
                      f"{seconds:5.1f} s ({seconds / reference:.2f}x reference) · {verdict.text}", flush=True)
            keys = verdicts[0].figures
            means = {key: float(np.mean([verdict.figures[key] for verdict in verdicts])) for key in keys}
            holds = lessons.lesson(name).across_seeds(verdicts)
            print(f"{name:22s} mean of {len(verdicts)} seeds: {'HOLDS' if holds else 'DOES NOT HOLD'} · "
                  + ", ".join(f"{key} {value:.3f}" for key, value in means.items()) + f" · {np.mean(times):.1f} s\n")
            rows.append((name, verdicts, holds, times))
    if args.markdown:
        print("| lesson | seed | verdict | seconds |\n|---|---|---|---|")
        for name, verdicts, holds, times in rows:
            for seed, verdict, seconds in zip(args.seeds, verdicts, times):
                print(f"| {name} | {seed} | {verdict.text} | {seconds:.0f} |")
            print(f"| {name} | all | **{'holds' if holds else 'does not hold'}** over the seeds | "
                  f"{np.mean(times):.0f} |")


if __name__ == "__main__":
    main()
