"""Who may do what, in one place: every page asks here before it starts, stops, renames, deletes or exports.

The role comes from `_access.gate` ("instructor" on localhost, else from the secret given). The instructor
may do everything. A student starts runs, lessons and sweeps, each refused past the session's queue limit,
and stops, renames and deletes only what their browser session started: a sweep is theirs when every one of
its runs is. Sending runs to an MLflow server is the instructor's alone, and only to the URIs this server
allows, so nothing a visitor types makes the server write files or reach another address.
"""
from __future__ import annotations

import os
from collections.abc import Iterable

import streamlit as st

from sslengine.config import ConfigError
from sslengine.store import RunRecord, Store

MAX_QUEUED_ENV = "SSL_EXPLORER_MAX_QUEUED"
MLFLOW_URIS_ENV = "SSL_EXPLORER_MLFLOW_URIS"
STARTED = "started-runs"  # session state: the ids of the runs this browser session started
STARTED_LESSONS = "started-lessons"  # and the groups of its lessons, whose later stages start without it


def role() -> str:
    """"instructor" (everything) or "student" (their own runs; no export to a server-side destination)."""
    return st.session_state.get("role", "instructor")


def started() -> list[str]:
    return st.session_state.get(STARTED, [])


def record(run_ids: Iterable[str]):
    st.session_state[STARTED] = [*started(), *run_ids]


def record_lesson(group: str):
    """A lesson this session started: its later stages (distill's teacher and student), which its thread starts
    as the stage before ends, are the session's too."""
    st.session_state[STARTED_LESSONS] = [*st.session_state.get(STARTED_LESSONS, []), group]


def may_change(run: RunRecord) -> bool:
    """A student renames, stops and deletes only the runs this browser session started, a lesson's later
    stages included."""
    return (role() == "instructor" or run.id in started()
            or bool(run.config.lesson) and run.config.group in st.session_state.get(STARTED_LESSONS, []))


def may_stop_sweep(run_ids: Iterable[str]) -> bool:
    """A student stops a sweep only when every run of it (these ids) is theirs."""
    return role() == "instructor" or set(run_ids) <= set(started())


def check_stop_sweep(run_ids: Iterable[str]):
    if not may_stop_sweep(run_ids):
        raise ConfigError("sweep", "a student stops only the sweeps they started")


def check_session_queue(store: Store, new: int):
    """A student's session may keep at most $SSL_EXPLORER_MAX_QUEUED (default 4) runs waiting, a sweep's runs
    and a lesson's first stage included: a class pressing Start again and again would otherwise pile work up.
    The instructor is not held to it (the Realistic evaluation page starts eleven runs)."""
    if role() != "student":
        return
    limit = int(os.environ.get(MAX_QUEUED_ENV, "4"))
    mine = set(started())
    waiting = [run.id for run in store.list_runs() if run.id in mine and run.status == "queued"]
    if len(waiting) + new > limit:
        raise ConfigError("queue", f"this session has {len(waiting)} run{'s' * (len(waiting) != 1)} waiting, asks "
                                   f"for {new} more and may keep at most {limit}: stop one in the sidebar, or wait "
                                   "for it to start")


def check_mlflow_uri(uri: str) -> str:
    """A tracking URI the page may send to: only the instructor, only an http(s) server named in
    $SSL_EXPLORER_MLFLOW_URIS (comma-separated; empty by default), never a folder or a database file on this
    server. The command line keeps every destination."""
    allowed = [entry.strip().rstrip("/") for entry in os.environ.get(MLFLOW_URIS_ENV, "").split(",") if entry.strip()]
    if role() != "instructor":
        raise ConfigError("mlflow_uri", "sending to MLflow is for the instructor; download the files instead")
    if not uri.startswith(("http://", "https://")):
        raise ConfigError("mlflow_uri", f"{uri!r} is not an http(s) tracking server: a folder or a sqlite: URI "
                                        "would be written on this server; use the command line's export")
    if uri.rstrip("/") not in allowed:
        raise ConfigError("mlflow_uri", f"{uri!r} is not among this server's allowed tracking URIs "
                                        f"(${MLFLOW_URIS_ENV}: {', '.join(allowed) or 'none set'})")
    return uri
