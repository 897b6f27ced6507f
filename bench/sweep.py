"""Sweep benchmark: `python -m bench.sweep [--steps N]` (about 2 minutes on 2 cores).

The points of `sweep fixmatch --dataset digits --grid threshold=0.7,0.95 --seeds 2` trained as Ray tasks on a
local Ray (one task per core), against the same points one after another in one process (the page's runner,
one torch thread each, as on the command line). Printed: both wall times and their ratio, the Ray time
including starting Ray.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sslengine.config import RunConfig
from sslengine.runner import Runner
from sslengine.store import Store
from sslengine.sweeps import create_sweep, plan, run_on_ray

GRID, SEEDS = {"threshold": [0.7, 0.95]}, 2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    base = RunConfig(algorithm="fixmatch", dataset="digits", steps=args.steps)

    store = Store(str(Path(tempfile.mkdtemp()) / "sequential.db"))
    _, run_ids = create_sweep(store, plan(base, GRID, SEEDS))
    runner = Runner(store)
    started = time.perf_counter()
    for run_id in run_ids:  # the recorded configs, trained as a page would, one at a time
        config = store.get_run(run_id).config
        runner.wait(runner.start(config))
    sequential = time.perf_counter() - started

    store = Store(str(Path(tempfile.mkdtemp()) / "ray.db"))
    _, run_ids = create_sweep(store, plan(base, GRID, SEEDS))
    started = time.perf_counter()
    statuses = run_on_ray(store, run_ids)
    on_ray = time.perf_counter() - started
    assert set(statuses.values()) == {"finished"}, statuses
    print(f"{len(run_ids)} FixMatch runs on digits, {args.steps} steps each")
    print(f"one after another: {sequential:6.1f} s")
    print(f"Ray, local:        {on_ray:6.1f} s (including starting Ray)  {sequential / on_ray:.2f}x")


if __name__ == "__main__":
    main()
