"""Fashion-MNIST at 4 labels per class: every semi-supervised method beside supervised on the same labels and on all.

Run: python -m bench.fashion [--device auto] [--seeds 0 1 2] [--steps 1200] [--workers 1] [--methods NAME ...] [--fp32]
Reads Debian's dataset-fashion-mnist (or the set in the cache). Runs go to a pool of processes: on a GPU, many at
once share it; on a CPU keep --workers 1, or the seconds measure the sharing. --fp32 turns the bf16 autocast off
(CUDA's, and that of a CPU with bf16 units: `train.trains_in_bf16`), so figures compare with an fp32 run's. Prints
bench/README.md's table (final accuracy on all 10 000 test images, mean and each seed, and seconds of training) and
writes bench/results/fashion.json.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from sslengine import train
from sslengine.algorithms import ALGORITHMS
from sslengine.config import RunConfig
from sslengine.runner import Runner
from sslengine.store import Store

OUT = Path(__file__).resolve().parent / "results" / "fashion.json"
ALL_LABELS = 5_999  # a class: the most the split allows, one image of each class left unlabeled
SEMI = tuple(name for name, method in ALGORITHMS.items()
             if method.has_classifier and method.parent_must is None and name != "supervised")


def rows(methods: list[str]) -> list[tuple[str, dict]]:
    """(row, config fields) for each line of the table: supervised first, then the methods as given."""
    return ([("supervised, same labels", dict(algorithm="supervised")),
             ("supervised, all labels", dict(algorithm="supervised", labels_per_class=ALL_LABELS))]
            + [(name, dict(algorithm=name)) for name in methods])


def start_worker(threads: int, fp32: bool):
    torch.set_num_threads(threads)
    if fp32:
        plain = train.autocast
        train.autocast = lambda device, bf16: plain(device, False)


def run_one(task: tuple[str, dict]) -> dict:
    row, fields = task
    store = Store(str(Path(tempfile.mkdtemp()) / "fashion.db"))
    config = RunConfig(**{"dataset": "fashion-mnist", "labels_per_class": 4, "max_snapshots": 3, **fields})
    runner = Runner(store)
    run_id = runner.start(config)
    runner.wait(run_id)
    run, final = store.get_run(run_id), store.final_scalars(run_id)
    if run.status != "finished":
        raise RuntimeError(f"{row}, seed {config.seed}: {run.status}: {run.error}")
    return {"row": row, "seed": config.seed, "accuracy": final["test_acc"], "seconds": final["seconds"],
            "wall_seconds": final["wall_seconds"]}


def table(results: list[dict], order: list[str]) -> str:
    lines = ["| method | accuracy (mean) | each seed | seconds (mean) |", "|---|---|---|---|"]
    for row in order:
        mine = sorted((r for r in results if r["row"] == row), key=lambda r: r["seed"])
        if mine:
            accuracy = [r["accuracy"] for r in mine]
            lines.append(f"| {row} | {statistics.mean(accuracy):.3f} | {' '.join(f'{a:.3f}' for a in accuracy)} | "
                         f"{statistics.mean(r['seconds'] for r in mine):.0f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--methods", nargs="+", default=list(SEMI), choices=SEMI, metavar="METHOD",
                        help=f"default: all of {', '.join(SEMI)}")
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast (on CUDA, or a CPU with bf16 units)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    order = rows(args.methods)
    tasks = [(row, {**fields, "seed": seed, "steps": args.steps, "device": args.device})
             for row, fields in order for seed in args.seeds]
    started = time.perf_counter()
    threads = max(1, (os.cpu_count() or 1) // args.workers)
    with multiprocessing.get_context("spawn").Pool(args.workers, start_worker, (threads, args.fp32)) as pool:
        results = []
        for result in pool.imap_unordered(run_one, tasks):
            results.append(result)
            print(f"{result['row']}, seed {result['seed']}: {result['accuracy']:.3f} in {result['seconds']:.0f} s",
                  flush=True)
    device = torch.cuda.get_device_name() if args.device in ("auto", "cuda") and torch.cuda.is_available() else "CPU"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"device": device, "torch": torch.__version__, "fp32": args.fp32,
                                    "workers": args.workers, "steps": args.steps, "seeds": args.seeds,
                                    "date": time.strftime("%Y-%m-%d"), "seconds": time.perf_counter() - started,
                                    "results": results}, indent=1) + "\n")
    print(table(results, [row for row, _ in order]))


if __name__ == "__main__":
    main()
