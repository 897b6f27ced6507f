"""Starts, stops and watches runs in background threads; one instance per process and store.

Everything a run produces goes to the store; callers (pages, the CLI) watch the store, not the thread.
"""
from __future__ import annotations

import threading
import traceback

from .algorithms import ALGORITHMS
from .config import ConfigError, RunConfig
from .data import load_split
from .device import configure_threads, resolve_device
from .store import Store, UnknownRun, resolve_url
from .train import train


def check(config: RunConfig) -> RunConfig:
    """Every check a run's input gets, with no side effect: raises ConfigError naming the field."""
    config.validate()
    resolve_device(config.device)
    load_split(config)  # the label budget against the classes' sizes
    return config


def check_parent(store: Store, config: RunConfig, parent: str | None) -> str | None:
    """The parent run's full id, if the method starts from one and it can: raises ConfigError otherwise."""
    must = ALGORITHMS[config.algorithm].parent_must
    if must is None:
        if parent:
            raise ConfigError("parent", f"{config.algorithm} trains from scratch and takes no parent run")
        return None
    if not parent:
        raise ConfigError("parent", f"{config.algorithm} starts from a run that can {must}: give its id")
    try:
        run = store.get_run(store.resolve_id(parent))
    except UnknownRun:
        raise ConfigError("parent", f"no run {parent!r} in the store {store.url}") from None
    method = ALGORITHMS[run.algorithm]
    able = method.learns_representation if must == "learn a representation" else method.has_classifier
    if not able:
        raise ConfigError("parent", f"run {run.id} ({run.algorithm}) cannot {must}")
    if run.dataset != config.dataset:
        raise ConfigError("dataset", f"must be the parent run's, {run.dataset!r}, got {config.dataset!r}")
    if not store.has_checkpoint(run.id):
        raise ConfigError("parent", f"run {run.id} has no saved weights yet (it is {run.status})")
    return run.id


def execute(store: Store, run_id: str, config: RunConfig, stop: threading.Event) -> str:
    """Train a recorded run to its end and record how it ended; returns the final status. Whatever runs it (a
    thread here, a Ray worker on another host) goes through this, so a run fails the same way everywhere:
    marked failed with its message, without taking the process down. A run stopped while it was queued (the
    store then recorded it stopped) is not trained."""
    if store.stop_requested(run_id):
        return "stopped"
    try:
        store.set_status(run_id, "running", device=str(resolve_device(config.device)))
        status = train(config, store, run_id, stop)
    except Exception as error:
        traceback.print_exc()
        status = "failed"
        store.set_status(run_id, status, error=f"{type(error).__name__}: {error}")
    else:
        store.set_status(run_id, status)
    return status


class Runner:
    def __init__(self, store: Store):
        self.store = store
        self._stops: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self.torch_threads = configure_threads()  # shown by the pages; set once, not on every redraw

    def start(self, config: RunConfig, parent: str | None = None) -> str:
        """Validate, record the run as queued, start its thread, and return its id at once.

        Raises ConfigError, before anything is written, for bad input.
        """
        check(config)
        parent = check_parent(self.store, config, parent)
        run_id = self.store.create_run(config, parent)
        stop = threading.Event()
        thread = threading.Thread(target=self._run, args=(run_id, config, stop), name=f"run-{run_id}",
                                  daemon=True)
        with self._lock:
            self._stops[run_id], self._threads[run_id] = stop, thread
        thread.start()
        return run_id

    def _run(self, run_id: str, config: RunConfig, stop: threading.Event):
        try:
            execute(self.store, run_id, config, stop)
        finally:
            with self._lock:
                self._stops.pop(run_id, None)
                self._threads.pop(run_id, None)

    def stop(self, run_id: str):
        """Stop within one step if the run is ours, else at its next log step through the store."""
        run_id = self.store.resolve_id(run_id)
        with self._lock:
            stop = self._stops.get(run_id)
        if stop is not None:
            stop.set()
        self.store.request_stop(run_id)

    def wait(self, run_id: str, timeout: float | None = None) -> bool:
        """True once the run's thread has ended (or if it is not ours)."""
        with self._lock:
            thread = self._threads.get(run_id)
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def active(self) -> list[str]:
        with self._lock:
            return list(self._threads)


_runners: dict[str, Runner] = {}
_runners_lock = threading.Lock()


def get_runner(location: str | None = None) -> Runner:
    """The process-wide runner for a store location (a path, a URL, or the default)."""
    url = resolve_url(location)
    with _runners_lock:
        if url not in _runners:
            _runners[url] = Runner(Store(url))
        return _runners[url]
