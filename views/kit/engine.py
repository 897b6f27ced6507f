"""The engine's handles the pages share, one of each per server process: the store, the runner, cached
snapshot arrays, and the UMAP layout worker."""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import streamlit as st

from sslengine.layouts import start_worker
from sslengine.runner import Runner, admission_limit, get_runner
from sslengine.store import ACTIVE, RunRecord, Store, resolve_url

LAYOUTS_ENV = "SSL_EXPLORER_LAYOUTS"
LAYOUT_LOG = Path(tempfile.gettempdir()) / f"ssl-explorer-layouts-{os.getpid()}.log"
POLL_SECONDS = 1.0  # how old the shared read of every run's state (`progress`) may be


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    return Store(url)


def store() -> Store:
    """The store of $SSL_EXPLORER_STORE (or the default file), opened once per server process."""
    return _store(resolve_url())


def runner() -> Runner:
    """The server's runner: at most `admission_limit()` runs train at once, the others wait queued."""
    return get_runner(store().url, admission_limit())


@st.cache_data(max_entries=128, show_spinner=False)
def snapshot(url: str, run_id: str, step: int) -> dict:
    """A snapshot's arrays; written once, so cached across reruns and sessions."""
    return _store(url).arrays(run_id, step)


@st.cache_data(max_entries=256, show_spinner=False)
def snapshot_array(url: str, run_id: str, step: int, key: str):
    """One array of a snapshot, for arrays added after the snapshot was written (the UMAP maps)."""
    return _store(url).array(run_id, step, key)


@st.cache_data(ttl=POLL_SECONDS, show_spinner=False)
def progress(url: str) -> tuple[list[RunRecord], dict[str, int]]:
    """Every run and the last step of those in progress: one read of the store a second for all the sessions
    of the server, however many tabs a class opens."""
    runs = _store(url).list_runs()
    return runs, _store(url).last_steps([run.id for run in runs if run.status in ACTIVE])


@st.cache_resource(show_spinner=False)
def _layout_worker(url: str) -> subprocess.Popen | None:
    if os.environ.get(LAYOUTS_ENV, "on") == "off":
        return None
    return start_worker(url, str(LAYOUT_LOG))


def layout_worker() -> subprocess.Popen | None:
    """The store's UMAP process, started with the app so that umap-learn is compiled before it is needed;
    None when $SSL_EXPLORER_LAYOUTS is off (the page tests, a server that should spend no CPU on maps)."""
    return _layout_worker(resolve_url())
