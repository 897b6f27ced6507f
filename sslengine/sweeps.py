"""Sweeps: a grid of settings times seeds, each point a run in the store, trained as Ray tasks.

Every point is checked (`plan`) before anything is written, then recorded as a queued run under one sweep id. Each
Ray task opens the store by its URL and trains one run through `runner.execute`, exactly as a page's thread
does; so a worker on another host needs only the store's URL (PostgreSQL there) and this package. Ray
(`requirements-scale.txt`) is imported only when a sweep is run.
"""
from __future__ import annotations

import dataclasses
import itertools
import threading
from typing import Callable

from .config import FIELD_TYPES, ConfigError, RunConfig
from .runner import check, execute
from .store import ACTIVE, Starter, Store


# Fields a grid may sweep: RunConfig's numbers (on the command line with dashes), the seed aside.
SWEEPABLE = {name: kind for name, kind in FIELD_TYPES.items() if kind in (int, float) and name != "seed"}


def parse_grid(items: list[str]) -> dict[str, list]:
    """["threshold=0.8,0.9", "labels-per-class=1,2"] -> {"threshold": [0.8, 0.9], "labels_per_class": [1, 2]}."""
    grid = {}
    for item in items:
        name, _, values = item.partition("=")
        field = name.strip().replace("-", "_")
        if field in grid:
            raise ConfigError("grid", f"{name.strip()} is given twice: sweep two different settings")
        if field not in SWEEPABLE:
            raise ConfigError("grid", f"{name!r} cannot be swept; sweepable: "
                                      f"{', '.join(f.replace('_', '-') for f in SWEEPABLE)}")
        try:
            grid[field] = [SWEEPABLE[field](value) for value in values.split(",") if value.strip()]
        except ValueError:
            raise ConfigError("grid", f"{name}={values!r}: each value must be a {SWEEPABLE[field].__name__}") \
                from None
        if not grid[field]:
            raise ConfigError("grid", f"{name} has no values: write {name}=A,B")
    return grid


def expand(base: RunConfig, grid: dict[str, list], seeds: int) -> list[RunConfig]:
    """One config per point of the grid and seed 0 .. seeds - 1, named after its point."""
    if seeds < 1:
        raise ConfigError("seeds", f"must be an integer >= 1, got {seeds!r}")
    configs = []
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values))
        for seed in range(seeds):
            label = " ".join(f"{k}={v}" for k, v in point.items())
            configs.append(dataclasses.replace(base, **point, seed=seed, name=f"{label} seed={seed}"))
    return configs


@dataclasses.dataclass(frozen=True)
class Plan:
    base: RunConfig
    grid: dict[str, list]
    seeds: int
    points: list[RunConfig]  # every grid point times every seed, each checked


def plan(base: RunConfig, grid: dict[str, list], seeds: int) -> Plan:
    """Expand and check every point, touching nothing: raises ConfigError naming the field."""
    return Plan(base, grid, seeds, [check(config).config for config in expand(base, grid, seeds)])


def create_sweep(store: Store, sweep: Plan, starter: Starter | None = None) -> tuple[str, list[str]]:
    """Record a checked sweep and its runs (queued); returns the sweep id and the run ids."""
    spec = {"base": dataclasses.asdict(sweep.base), "grid": sweep.grid, "seeds": sweep.seeds}
    name = f"{sweep.base.algorithm} {sweep.base.dataset} " + " x ".join(f"{k}{v}" for k, v in sweep.grid.items())
    sweep_id = store.create_sweep(name, sweep.base.algorithm, spec)
    return sweep_id, [store.create_run(config, sweep=sweep_id, starter=starter) for config in sweep.points]


def stop_sweep(store: Store, sweep_id: str) -> list[str]:
    """Stop every run of the sweep that has not ended, wherever it trains: queued ones at once, running ones
    at their next log step. Returns their ids."""
    active = [run.id for run in store.sweep_runs(sweep_id) if run.status in ACTIVE]
    for run_id in active:
        store.request_stop(run_id)
    return active


def _train_point(store_url: str, run_id: str) -> str:
    """One Ray task: train a recorded run from its stored config."""
    store = Store(store_url)
    return execute(store, run_id, store.get_run(run_id).config, threading.Event())


def run_on_ray(store: Store, run_ids: list[str], address: str | None = None, max_concurrent: int | None = None,
               on_done: Callable[[str, str], None] = lambda run_id, status: None) -> dict[str, str]:
    """Train the runs as Ray tasks (a local Ray when no address is given), at most `max_concurrent` at once;
    calls on_done(run_id, status) as each ends and returns every run's final status."""
    import ray

    ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    task = ray.remote(num_cpus=1, max_retries=0)(_train_point)
    waiting, running, statuses = list(run_ids), {}, {}
    while waiting or running:
        while waiting and len(running) < (max_concurrent or len(run_ids)):
            run_id = waiting.pop(0)
            running[task.remote(store.url, run_id)] = run_id
        done, _ = ray.wait(list(running), num_returns=1)
        run_id = running.pop(done[0])
        try:
            statuses[run_id] = ray.get(done[0])
        except ray.exceptions.RayError as error:  # the worker died: the run could not record it itself
            statuses[run_id] = "failed"
            store.set_status(run_id, "failed", error=f"Ray: {error}")
        on_done(run_id, statuses[run_id])
    return statuses
