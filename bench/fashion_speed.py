"""FixMatch on Fashion-MNIST in class time: `python -m bench.fashion_speed [--steps 1600] [--longer 5] [--seeds 0 1 2]`

On each seed, one after another in this process: the run as the engine trains it (bf16 autocast where
`train.trains_in_bf16` chooses it), the same run in fp32 as the code trained it before that choice (the ratio
of their seconds, same process, same machine), and the engine's run `--longer` times as long. Prints each run's
final accuracy on all 10 000 test images, its training seconds and its wall seconds (test passes and snapshots
included), and whether the short run came within 2 points of the long one's mean in 120 wall seconds or fewer;
writes bench/results/fashion_speed.json. FixMatch's defaults at 4 labels a class; about 40 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from bench.fashion import run_one
from sslengine import train
from sslengine.train import cpu_has_bf16

OUT = Path(__file__).resolve().parent / "results" / "fashion_speed.json"
CLASS_SECONDS, WITHIN = 120, 0.02


def fixmatch(seed: int, steps: int, fp32: bool = False) -> dict:
    """One FixMatch run's figures; `fp32` trains it with the autocast off, as before `trains_in_bf16`."""
    plain = train.autocast
    if fp32:
        train.autocast = lambda device, bf16: plain(device, False)
    try:
        return run_one(("fixmatch", {"algorithm": "fixmatch", "seed": seed, "steps": steps, "device": "cpu"}))
    finally:
        train.autocast = plain


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1600)
    parser.add_argument("--longer", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    runs = {"engine": [], "fp32": [], "longer": []}
    for seed in args.seeds:
        for kind, steps, fp32 in (("engine", args.steps, False), ("fp32", args.steps, True),
                                  ("longer", args.longer * args.steps, False)):
            result = fixmatch(seed, steps, fp32) | {"steps": steps}
            runs[kind].append(result)
            print(f"{kind}, {steps} steps, seed {seed}: {result['accuracy']:.3f}, {result['seconds']:.0f} s training,"
                  f" {result['wall_seconds']:.0f} s wall", flush=True)

    def mean(kind, key):
        return statistics.mean(r[key] for r in runs[kind])

    summary = {kind: {key: mean(kind, key) for key in ("accuracy", "seconds", "wall_seconds")} for kind in runs}
    short, longer = summary["engine"], summary["longer"]
    summary["speedup_over_fp32"] = summary["fp32"]["seconds"] / short["seconds"]
    summary["holds"] = (short["accuracy"] >= longer["accuracy"] - WITHIN
                        and max(r["wall_seconds"] for r in runs["engine"]) <= CLASS_SECONDS)
    print("| run | steps | accuracy (mean) | each seed | training s | wall s |\n|---|---|---|---|---|---|")
    for kind in runs:
        each = " ".join(f"{r['accuracy']:.3f}" for r in runs[kind])
        print(f"| {kind} | {runs[kind][0]['steps']} | {summary[kind]['accuracy']:.3f} | {each} | "
              f"{summary[kind]['seconds']:.0f} | {summary[kind]['wall_seconds']:.0f} |")
    print(f"bf16 over fp32, training seconds: {summary['speedup_over_fp32']:.2f}x; within {WITHIN:.0%} of "
          f"{args.longer}x longer in {CLASS_SECONDS} s: {'yes' if summary['holds'] else 'no'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cpu_has_bf16": cpu_has_bf16(), "threads": torch.get_num_threads(),
                                    "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
                                    "runs": runs, "summary": summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
