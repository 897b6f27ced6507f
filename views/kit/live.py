"""How a page follows runs that train: the refresh protocol, whole in this module.

1. A page run begins (`begin`, from the sidebar, before the page draws): it shows no run yet.
2. Each live view names the runs it shows when it asks for its tick (`live_every`, a fragment's `run_every`):
   LIVE_SECONDS while one of them trains, nothing while all are queued or ended.
3. The sidebar's fragment polls every run's state (`engine.progress`, one store read a second for the whole
   server) and compares it with the states it was drawn with (`rerun_if_outdated`). When a run was added,
   changed status or was deleted, wherever (this server, another tab, the command line), the whole page runs
   again: its pickers list the new run, and each fragment's `run_every`, fixed when the page ran, starts or
   stops the ticking. At once for the page's runs and this session's own; for the others at most every
   OTHERS_SECONDS, or thirty open pages would each run again at every change of thirty runs.
"""
from __future__ import annotations

from typing import Callable

import pandas as pd
import streamlit as st

from sslengine.store import RunRecord
from views.kit import engine, policy, present, state

# Pages tick this often while a run they show is in progress; one tick is a few small store reads.
LIVE_SECONDS = engine.POLL_SECONDS
# Heavier views (several figures over a snapshot) follow a live run less often: the page draws in the
# process that trains, and every second it holds the GIL is taken from training.
SNAPSHOT_SECONDS = 3.0
# A run that this page does not show, nor this session started, changes the page's pickers at most this often.
OTHERS_SECONDS = 15.0

RunsState = tuple[tuple[str, str], ...]  # (id, status) of every run


def begin():
    state.begin_page_run()


def live_every(*runs: RunRecord, seconds: float = LIVE_SECONDS) -> float | None:
    """A fragment's `run_every`: tick while any of the runs trains, else stay still. A queued run's page does
    not tick: the sidebar's watcher runs the page again when the run starts (these runs are the page's own)."""
    state.add_page_runs(run.id for run in runs)
    return seconds if any(run.status == "running" for run in runs) else None


def follow(run: RunRecord, draw: Callable[[RunRecord, pd.DataFrame], None]):
    """A run's live view: its status lines, then `draw(run, scalars)`, again every LIVE_SECONDS while it trains."""
    @st.fragment(run_every=live_every(run))
    def live(run_id: str):
        now = engine.store().get_run(run_id)
        present.run_status(now)
        draw(now, engine.store().scalars(run_id))

    live(run.id)


def runs_state(runs: list[RunRecord]) -> RunsState:
    return tuple((run.id, run.status) for run in runs)


def page_outdated(now: RunsState, at_page_run: RunsState, own: set[str], age: float) -> bool:
    """Whether a page drawn `age` seconds ago from the runs `at_page_run` should run again: at once when one
    of its `own` runs changed, at most every OTHERS_SECONDS for the others."""
    changed = {run_id for run_id, _ in set(now) ^ set(at_page_run)}
    return bool(changed & own) or (bool(changed) and age >= OTHERS_SECONDS)


def rerun_if_outdated(runs: list[RunRecord], at_page_run: RunsState):
    """The watcher's step: run the whole page again when `runs` have changed since it ran (see above)."""
    own = state.page_runs() | set(policy.started())
    if page_outdated(runs_state(runs), at_page_run, own, state.page_age()):
        st.rerun()
