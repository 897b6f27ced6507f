"""Each lesson's preset at one scale on ten seeds: per seed its verdict and effect, then the hold rate, the effect's
mean and spread, and the seconds a press takes; written to sslengine.lessons.SPREAD_FILE, which the cards draw.

Run: python -m bench.lessons [--scale small|images] [--seeds 0-9] [--lessons NAME ...] [--out PATH] [--markdown]
Every lesson trains through `sslengine.lessons.start`, as the Lessons page and `python -m sslengine lesson` do
(a stage's runs together, on this machine's cores). The reference is one default FixMatch run on digits (the
threshold page's Start, 1 000 steps) timed in the same process: each lesson's seconds are given against it.
The file keeps the entries of lessons and scales not run this time; each entry names the machine it was measured on.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from sslengine import lessons
from sslengine.config import RunConfig
from sslengine.runner import Runner
from sslengine.store import Store


def machine() -> str:
    """The processor's name, its cores and torch's version: what a seed's outcome depends on."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if line.startswith("model name")]
    return f"{names[0] if names else platform.processor() or platform.machine()} ({os.cpu_count()} " \
           f"cores, torch {torch.__version__})"


def seeds(text: str) -> list[int]:
    """'0-9' or '0,3,5' or '4'."""
    if "-" in text:
        first, last = map(int, text.split("-"))
        return list(range(first, last + 1))
    return [int(part) for part in text.split(",")]


def reference_seconds(store: Store) -> float:
    runner = Runner(store)
    started = time.perf_counter()
    runner.wait(runner.start(RunConfig(algorithm="fixmatch")))
    return time.perf_counter() - started


def train(store: Store, name: str, seed: int, scale: str) -> tuple[lessons.Verdict, float]:
    started = time.perf_counter()
    handle = lessons.start(Runner(store), name, seed, scale=scale)
    runs = handle.wait()
    if handle.failed:
        raise RuntimeError(f"{name} seed {seed}: its {handle.failed} run {store.get_run(runs[handle.failed]).error}")
    return lessons.judge(store, name, runs), time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=list(lessons.SCALES), help="default: small")
    parser.add_argument("--seeds", type=seeds, default=list(range(10)), help="default: 0-9")
    parser.add_argument("--lessons", nargs="+", default=list(lessons.LESSONS), choices=list(lessons.LESSONS))
    parser.add_argument("--out", type=Path, default=lessons.SPREAD_FILE)
    parser.add_argument("--no-reference", action="store_true", help="skip the reference run")
    parser.add_argument("--markdown", action="store_true", help="also print bench/README.md's table")
    args = parser.parse_args()
    written = json.loads(args.out.read_text()) if args.out.exists() else {"lessons": {}}
    here = machine()
    with tempfile.TemporaryDirectory() as folder:
        store = Store(str(Path(folder) / "runs.db"))
        reference = None if args.no_reference else reference_seconds(store)
        print(f"{here}; reference: a default FixMatch run on digits (1 000 steps) took "
              f"{reference or float('nan'):.1f} s\n")
        for name in args.lessons:
            lesson = lessons.lesson(name)
            verdicts, times = [], []
            for seed in args.seeds:
                verdict, seconds = train(store, name, seed, args.scale)
                verdicts.append(verdict), times.append(seconds)
                print(f"{name:22s} seed {seed}: {verdict.outcome:18s} "
                      f"effect {verdict.figures[lesson.effect]:+.3f} · {seconds:5.1f} s "
                      f"({seconds / (reference or float('nan')):.2f}x reference) · {verdict.text}", flush=True)
            written["lessons"].setdefault(name, {})[args.scale] = {
                "machine": here, "date": date.today().isoformat(), "seeds": args.seeds, "effect": lesson.effect,
                "outcomes": [verdict.outcome for verdict in verdicts], "holds": [verdict.holds for verdict in verdicts],
                "seconds": times,
                "figures": [verdict.figures for verdict in verdicts], "reference_seconds": reference}
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(written, indent=1) + "\n")  # after each lesson: a long bench keeps its part
            spread = lessons.Spread.of(lesson, args.scale, written["lessons"][name][args.scale])
            print(f"{name:22s} {spread.tally()} · effect {lesson.shown(spread.mean)} "
                  f"sd {spread.sd:.3f} ({spread.strength:.1f} sd from no effect) · "
                  f"{np.mean(times):.1f} s a press\n", flush=True)
    if args.markdown:
        print("| lesson | scale | effect | shows it | mean effect | seed sd | sds from no effect | s a press | "
              "machine |\n|---|---|---|---|---|---|---|---|---|")
        for name, scale, entry in ((name, scale, entry) for name, scales in written["lessons"].items()
                                   for scale, entry in scales.items()):
            lesson = lessons.lesson(name)
            spread = lessons.Spread.of(lesson, scale, entry)
            print(f"| {name} | {scale} | {lesson.effect_label} | {sum(spread.holds)}/{len(spread.holds)} | "
                  f"{lesson.shown(spread.mean)} | {spread.sd:.3f} | {spread.strength:.1f} | "
                  f"{np.mean(spread.seconds):.0f} | {spread.machine} |")


if __name__ == "__main__":
    main()
