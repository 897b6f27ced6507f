"""Starts, stops and watches runs in background threads; one instance per process and store.

Everything a run produces goes to the store; callers (pages, the CLI) watch the store, not the thread.
"""
from __future__ import annotations

import dataclasses
import os
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Hashable

from .algorithms import ALGORITHMS
from .config import ConfigError, RunConfig
from .device import configure_threads, resolve_device
from .errors import Diverged
from .splits import load_split
from .store import HEARTBEAT_SECONDS, Starter, Store, UnknownRun, resolve_url
from .train import train

MAX_TRAINING_ENV = "SSL_EXPLORER_MAX_TRAINING"


@dataclasses.dataclass(frozen=True)
class Checked:
    """A config that passed every check of its own (`check`). The runner starts these as they are and checks
    only a plain RunConfig, so a run's input is validated once, where its caller first asks: a form before
    the policy, the command line before it opens the store, a lesson for all its stages at once."""
    config: RunConfig


def check(config: RunConfig | Checked) -> Checked:
    """Every check a run's input gets, with no side effect: raises ConfigError naming the field."""
    if isinstance(config, Checked):
        return config
    config.validate()
    resolve_device(config.device)
    load_split(config)  # the label budget against the classes' sizes
    return Checked(config)


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
    marked failed with its message, without taking the process down. A heartbeat goes to the store while it
    trains. A run stopped while it was queued (the store then recorded it stopped) is not trained; a run
    deleted before or while it trains ends with nothing more written ("deleted")."""
    try:
        if store.stop_requested(run_id):
            return "stopped"
    except UnknownRun:
        return "deleted"
    trained = threading.Event()
    heart = threading.Thread(target=_beat, args=(store, run_id, trained), name=f"heartbeat-{run_id}", daemon=True)
    try:
        store.set_status(run_id, "running", device=str(resolve_device(config.device)))
        heart.start()
        status = train(config, store, run_id, stop)
    except UnknownRun:
        status = "deleted"
    except Diverged as error:
        status = "failed"
        store.set_status(run_id, status, error=str(error))
    except Exception as error:
        traceback.print_exc()
        status = "failed"
        store.set_status(run_id, status, error=f"{type(error).__name__}: {error}")
    else:
        store.set_status(run_id, status)
    finally:
        trained.set()
    return status


def _beat(store: Store, run_id: str, trained: threading.Event):
    while not trained.wait(HEARTBEAT_SECONDS):
        store.beat([run_id])


def admission_limit() -> int:
    """Runs a server trains at once: $SSL_EXPLORER_MAX_TRAINING, else one per two cores; the rest wait queued."""
    value = os.environ.get(MAX_TRAINING_ENV, str(max(1, (os.cpu_count() or 1) // 2)))
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(MAX_TRAINING_ENV, f"must be a whole number >= 1, got {value!r}")
    return int(value)


def admission_order(waiting: list[tuple[Hashable, str | None, int]], admitted: Counter) -> list[Hashable]:
    """Waiting items (item, owner, its number of runs), oldest first, in the order a server admits them: in
    turns by owner, next always the owner with the fewest runs admitted so far (`admitted`: by this server,
    training or ended), ties to the owner whose next item has waited longest. So a student who queued twenty
    runs holds up a classmate's one by at most the run in training, not by nineteen. The pages draw each
    queued run's place in line from the same function and the store."""
    counts, heads = Counter(admitted), {}
    for position, (item, owner, size) in enumerate(waiting):
        heads.setdefault(owner, deque()).append((position, item, size))
    order = []
    while heads:
        owner = min(heads, key=lambda o: (counts[o], heads[o][0][0]))
        _, item, size = heads[owner].popleft()
        order.append(item)
        counts[owner] += size
        if not heads[owner]:
            del heads[owner]
    return order


class Runner:
    """Trains runs in threads, in at most `max_training` slots at once (None: no limit); the others wait as
    queued, admitted in turns by who started them (`admission_order`, `Starter.turn`). A run takes a slot, or
    runs started together share one."""

    def __init__(self, store: Store, max_training: int | None = None):
        self.store = store
        self.max_training = max_training
        self._stops: dict[str, threading.Event] = {}
        self._done: dict[str, threading.Event] = {}
        self._waiting: deque[dict[str, RunConfig]] = deque()  # each: the runs that take one slot
        self._slots: list[set[str]] = []  # each: the runs of a slot still training
        self._turns: dict[str, str | None] = {}  # each waiting or training run's turn (`Starter.turn`)
        self._admitted: Counter = Counter()  # runs admitted so far, by turn
        self._keeper: threading.Thread | None = None  # beats for the waiting runs while there are any
        self._lock = threading.Lock()
        self.torch_threads = configure_threads()  # shown by the pages; set once, not on every redraw

    def start(self, config: RunConfig | Checked, parent: str | None = None, starter: Starter | None = None) -> str:
        """Validate (unless `check` has), record the run as queued, start its thread when a slot is free, and
        return its id at once.

        Raises ConfigError, before anything is written, for bad input.
        """
        return self.start_together([(config, parent)], starter)[0]

    def start_together(self, jobs: list[tuple[RunConfig | Checked, str | None]],
                       starter: Starter | None = None) -> list[str]:
        """Runs (config, parent) that take one slot and train at once, as a lesson's stage, whose verdict
        compares them: serialised, its three runs took three times as long. All are checked before any is
        recorded."""
        configs = [check(config).config for config, _ in jobs]
        checked = [(config, check_parent(self.store, config, parent)) for config, (_, parent) in zip(configs, jobs)]
        run_ids = [self.store.create_run(config, parent, starter=starter) for config, parent in checked]
        self.store.beat(run_ids, "queued")
        with self._lock:
            for run_id in run_ids:
                self._stops[run_id], self._done[run_id] = threading.Event(), threading.Event()
                self._turns[run_id] = starter.turn if starter else None
            self._waiting.append({run_id: config for run_id, (config, _) in zip(run_ids, checked)})
            if self._keeper is None:
                self._keeper = threading.Thread(target=self._keep_waiting_alive, name="queued-heartbeat", daemon=True)
                self._keeper.start()
        self._admit()
        return run_ids

    def _keep_waiting_alive(self):
        """The waiting runs' heartbeat: if this process dies, they are marked interrupted as its training ones are,
        not left queued until another process on its host opens the store."""
        while True:
            time.sleep(HEARTBEAT_SECONDS)
            with self._lock:
                waiting = [run_id for slot in self._waiting for run_id in slot]
                if not waiting:
                    self._keeper = None
                    return
            self.store.beat(waiting, "queued")

    def _admit(self):
        with self._lock:
            while self._waiting and (self.max_training is None or len(self._slots) < self.max_training):
                turns = [self._turns[next(iter(slot))] for slot in self._waiting]  # a slot's runs share one
                first = admission_order([(i, turn, len(slot)) for i, (turn, slot) in
                                         enumerate(zip(turns, self._waiting))], self._admitted)[0]
                slot = self._waiting[first]
                del self._waiting[first]
                self._admitted[turns[first]] += len(slot)
                self._slots.append(set(slot))
                for run_id, config in slot.items():
                    threading.Thread(target=self._run, args=(run_id, config, self._stops[run_id]),
                                     name=f"run-{run_id}", daemon=True).start()

    def _run(self, run_id: str, config: RunConfig, stop: threading.Event):
        try:
            execute(self.store, run_id, config, stop)
        finally:
            with self._lock:
                slot = next(slot for slot in self._slots if run_id in slot)
                slot.discard(run_id)
                if not slot:
                    self._slots.remove(slot)
                self._stops.pop(run_id, None)
                self._turns.pop(run_id, None)
                self._done.pop(run_id).set()
            self._admit()

    def stop(self, run_id: str):
        """Stop within one step if the run is ours (at once if it waits), else at its next log step through the
        store."""
        run_id = self.store.resolve_id(run_id)
        with self._lock:
            stop = self._stops.get(run_id)
            for slot in [slot for slot in self._waiting if run_id in slot]:  # it never trains
                del slot[run_id]
                if not slot:
                    self._waiting.remove(slot)
                self._stops.pop(run_id)
                self._turns.pop(run_id, None)
                self._done.pop(run_id).set()
        if stop is not None:
            stop.set()
        self.store.request_stop(run_id)

    def wait(self, run_id: str, timeout: float | None = None) -> bool:
        """True once the run has ended here (or if it is not ours)."""
        with self._lock:
            done = self._done.get(run_id)
        return True if done is None else done.wait(timeout)

    def active(self) -> list[str]:
        with self._lock:
            return [run_id for slot in [*self._slots, *self._waiting] for run_id in slot]


_runners: dict[str, Runner] = {}
_runners_lock = threading.Lock()


def get_runner(location: str | None = None, max_training: int | None = None) -> Runner:
    """The process-wide runner for a store location (a path, a URL, or the default); `max_training` is set
    by the first caller (the dashboard: `admission_limit()`; the command line: none)."""
    url = resolve_url(location)
    with _runners_lock:
        if url not in _runners:
            _runners[url] = Runner(Store(url), max_training)
        return _runners[url]
