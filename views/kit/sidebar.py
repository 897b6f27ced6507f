"""The sidebar every page draws: presenter mode, the device for new runs, the runs in progress anywhere with
their stop buttons and queue places, and the image sets."""
from __future__ import annotations

from collections import Counter, defaultdict

import streamlit as st

from sslengine import image_sets
from sslengine.device import available_devices, resolve_device
from sslengine.runner import admission_order
from sslengine.store import ACTIVE, RunRecord
from sslengine.sweeps import stop_sweep
from views.kit import engine, live, policy, present, state

SIDEBAR_QUEUED = 5  # queued runs of other sessions listed one by one; more are counted


def sidebar():
    live.begin()
    with st.sidebar:
        st.toggle("Presenter mode", key=state.PRESENTER, help="larger text and charts, one chart per row, start "
                                                               "forms and the sidebar folded: for a projector")
        if present.presenting():
            st.html(present.PRESENTER_CSS)
        st.caption(f"Store: `{engine.store().url}`")
        st.selectbox("Device for new runs", available_devices(), key=state.DEVICE,
                     help=f"auto picks {resolve_device('auto')} here; torch uses {engine.runner().torch_threads} "
                          "CPU thread(s), leaving a core to the web server")
        _runs_in_progress(live.runs_state(engine.progress(engine.store().url)[0]))
        _image_sets()


@st.fragment(run_every=2 * live.LIVE_SECONDS)
def _runs_in_progress(at_page_run: live.RunsState):
    """Runs in progress anywhere (this server, the command line), each with a stop button; a sweep's queued
    runs as one line per sweep, which may hold dozens. It is also the page's watcher (`live`)."""
    runs, steps = engine.progress(engine.store().url)
    live.rerun_if_outdated(runs, at_page_run)
    active = [run for run in runs if run.status in ACTIVE]
    st.subheader("In progress")
    if not active:
        st.caption("No run in progress.")
    waiting = Counter(run.sweep for run in active if run.sweep and run.status == "queued")
    places = queue_places(runs)
    mine = set(policy.started())
    others_queued = [run.id for run in active if run.id in places and run.id not in mine]
    for run in active:
        if (run.sweep in waiting and run.status == "queued") or run.id in others_queued[SIDEBAR_QUEUED:]:
            continue
        step = steps.get(run.id, 0)
        where = f"queued, {ordinal(places[run.id])} in line" if run.id in places else f"step {step}/{run.config.steps}"
        st.progress(min(step / run.config.steps, 1.0), text=f"{present.plain(run.name)} · {where}")
        st.button("Stop", key=f"stop-{run.id}", on_click=stop, args=(run.id,),
                  disabled=run.stop_requested or not policy.may_change(run),
                  help="stops within one step (runs of another process: at their next log step)"
                       if policy.may_change(run) else "a student stops only the runs they started")
    if len(others_queued) > SIDEBAR_QUEUED:
        more = len(others_queued) - SIDEBAR_QUEUED
        st.caption(f"{more} more run{'s' * (more > 1)} queued: the Runs page lists them")
    for sweep_id, queued in waiting.items():
        st.caption(f"Sweep {sweep_id}: {queued} more run{'s' * (queued > 1)} queued")
        mine = policy.may_stop_sweep(run.id for run in runs if run.sweep == sweep_id)  # the poll holds every run
        st.button("Stop sweep", key=f"stop-sweep-{sweep_id}", on_click=stop_whole_sweep, args=(sweep_id,),
                  disabled=not mine, help="its queued runs stop at once, running ones at their next log step"
                  if mine else "a student stops only the sweeps they started")
    if message := state.sidebar_refusal():
        st.error(present.plain(message), icon=":material/error:")


def stop_whole_sweep(sweep_id: str):
    """Stop a sweep's runs, if this session may (the button is disabled otherwise; asked again here)."""
    try:
        policy.check_stop_sweep(run.id for run in engine.store().sweep_runs(sweep_id))
    except policy.Refused as error:
        state.refuse_in_sidebar(str(error))
        return
    stop_sweep(engine.store(), sweep_id)
    engine.progress.clear()


def stop(run_id: str):
    """Stop a run, if this session may (its button is disabled otherwise; asked again here)."""
    try:
        policy.check_change(engine.store().get_run(run_id), "stop")
    except policy.Refused as error:
        state.refuse_in_sidebar(str(error))
        return
    engine.runner().stop(run_id)
    engine.progress.clear()  # the sidebar shows the stop at its next tick, not a second later


def queue_places(runs: list[RunRecord]) -> dict[str, int]:
    """Each queued run's place in its server's line (1: next), read from the store by the rule its server
    admits them by (`admission_order`: in turns by student, oldest first)."""
    lines = defaultdict(list)
    for run in sorted((run for run in runs if not run.sweep), key=lambda r: r.created):
        lines[(run.host, run.pid)].append(run)
    places = {}
    for line in lines.values():
        admitted = Counter(run.turn for run in line if run.started is not None)
        order = admission_order([(run.id, run.turn, 1) for run in line if run.status == "queued"], admitted)
        places |= {run_id: place for place, run_id in enumerate(order, 1)}
    return places


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


@st.fragment(run_every=2 * live.LIVE_SECONDS)
def _image_sets():
    """The downloadable image sets and their state, read from the cache folder (so any server sees it)."""
    with st.expander("Image sets"):
        st.caption(f"Downloaded on request from their official addresses, checked against their MD5 sums, "
                   f"into `{image_sets.cache_root()}`; Fashion-MNIST is also read where Debian's "
                   "dataset-fashion-mnist package installs it (`apt-get install dataset-fashion-mnist`).")
        for name in image_sets.IMAGE_SETS:
            where = image_sets.state(name)
            shown = where if where.startswith(("downloaded", "installed")) else where.split(":")[0]
            st.markdown(f"**{name}** · {present.plain(shown)}")
            if where.startswith(("not downloaded", "failed")):
                st.button(f"Download {name}", key=f"download-{name}", icon=":material/download:",
                          on_click=image_sets.download_in_background, args=(name,))
            if where.startswith("failed"):
                st.error(where, icon=":material/error:")
