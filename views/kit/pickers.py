"""Choosing what a page shows: a run, or a group of runs started together, kept in the page's URL so that a
link (the Runs page's Open, a bookmark) picks it."""
from __future__ import annotations

from typing import Callable

import streamlit as st

from sslengine.algorithms import ALGORITHMS
from sslengine.store import RunRecord, UnknownRun
from views.kit import engine, present, state

COMPARE_MAX = 4  # runs the Compare page lays side by side


def choose(label: str, options: dict, key: str, when_empty: str, format_func: Callable = str,
           query: str | None = None):
    """A selectbox over `options` whose choice stays valid as they change; with none, says what to do (the
    `when_empty` text) and ends the page there. With `query` the choice is also the URL's ?query=..., so that
    a link (the Runs page's Open, a bookmark) picks it; a link to something the page does not hold is named."""
    if not options:
        st.info(when_empty)
        st.stop()
    # Streamlit drops a widget's state on pages that do not draw it, so on arrival (and when the chosen one
    # is gone) the link decides.
    if state.chosen(key) not in options:
        asked = st.query_params.get(query) if query else None
        if asked not in options:  # a short run id, as the pages show them
            asked = full_id(asked)
        if asked is not None and asked not in options:
            st.warning(present.plain(f"{query}: this page has no {label.lower()} {asked!r} (the Runs page lists "
                                     "every run); showing the newest instead."))
        state.choose(key, asked if asked in options else next(iter(options)))
    chosen = st.selectbox(label, list(options), format_func=format_func, key=key)
    if query:
        st.query_params[query] = chosen
    return chosen


def choose_run(methods, key: str, when_empty: str, lesson: str | None = None) -> RunRecord:
    """A picker over the store's runs of these methods, newest first, that a link's ?run= picks too. Given the
    page's `lesson`, runs other lessons trained come after the rest: opened from the sidebar, the threshold page
    showed the over-fitting lesson's two-moons run, right everywhere, rather than a pseudo-labelling one."""
    listed = [run for run in engine.store().list_runs() if run.algorithm in methods]
    if lesson is not None:
        listed.sort(key=lambda run: run.config.lesson not in ("", lesson))  # stable: newest first within each
    runs = {run.id: run for run in listed}
    return runs[choose("Run", runs, key, when_empty, format_func=lambda i: run_label(runs[i]), query="run")]


def full_id(run_id: str | None) -> str | None:
    """A run's full id from the short one the pages show (its first 6 characters), else the text as given."""
    if not run_id:
        return run_id
    try:
        return engine.store().resolve_id(run_id)
    except UnknownRun:
        return run_id


def run_label(run: RunRecord) -> str:
    # No status here: a keyed selectbox keeps the labels it first drew, so a status would go stale.
    return f"{run.name} · {run.id}"


def run_groups(methods, marked_by: tuple[str, ...] = ()) -> dict[str, list[RunRecord]]:
    """Runs started together (the same config.group) among these methods, by group, newest first; with
    `marked_by`, only the groups that hold a run of one of those methods (a pipeline is the group of a
    pretraining run)."""
    groups: dict[str, list[RunRecord]] = {}
    for run in engine.store().list_runs():
        if run.config.group and run.algorithm in methods:
            groups.setdefault(run.config.group, []).append(run)
    return {group: runs for group, runs in groups.items()
            if not marked_by or any(run.algorithm in marked_by for run in runs)}


def newest_by_method(runs: list[RunRecord]) -> dict[str, RunRecord]:
    """A group's newest run of each method (the list newest first, as `run_groups` gives it)."""
    newest: dict[str, RunRecord] = {}
    for run in runs:
        newest.setdefault(run.algorithm, run)
    return newest


def page_of(run: RunRecord) -> tuple[str, dict[str, str]]:
    """Where the Open button takes a run: the page its method's presentation names, and the query that picks
    the run there (its id, or the group it was started with). Runs of no such page, or outside a group, open
    alone in Compare."""
    shown = ALGORITHMS[run.algorithm].presentation
    if shown.page is not None and shown.query == "run":
        return f"views/{shown.page}.py", {"run": run.id}
    if shown.page is not None and run.config.group:
        return f"views/{shown.page}.py", {shown.query: run.config.group}
    return "views/compare.py", {"runs": run.id}
