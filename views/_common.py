"""What every page shares: the cached store and runner, the sidebar, run pickers and start forms."""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from sslengine import datasets, plots
from sslengine.config import ConfigError, RunConfig
from sslengine.device import available_devices, resolve_device
from sslengine.layouts import pca_2d, start_worker
from sslengine.runner import Runner, admission_limit, admission_order, check, check_parent, get_runner
from sslengine.store import ACTIVE, RunRecord, Store, UnknownRun, resolve_url
from sslengine.sweeps import stop_sweep
from views import _policy as policy

# Pages tick this often while a run they show is in progress; one tick is a few small store reads.
LIVE_SECONDS = 1.0
# Heavier views (several figures over a snapshot) follow a live run less often: the page draws in the
# process that trains, and every second it holds the GIL is taken from training.
SNAPSHOT_SECONDS = 3.0
COMPARE_MAX = 4  # runs the Compare page lays side by side
LAYOUTS_ENV = "SSL_EXPLORER_LAYOUTS"
LAYOUT_LOG = Path(tempfile.gettempdir()) / f"ssl-explorer-layouts-{os.getpid()}.log"


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


def embedding_figure(run_id: str, step: int, held: set[str], title: str) -> go.Figure:
    """A snapshot's probe embeddings in 2-D, by true class with the labeled images as stars: its UMAP once the
    layout process has written one, PCA until then. `title` may name the method as {method}."""
    url = store().url
    first, shown = snapshot(url, run_id, 0), snapshot(url, run_id, step)
    if "umap" in held and "umap_error" not in held:
        layout, method = snapshot_array(url, run_id, step, "umap"), "UMAP"
    else:
        layout, method = pca_2d(shown["embedding"]), "PCA (UMAP is being computed)"
    target = np.concatenate([shown["target"], first["labeled_y"]])
    images = np.concatenate([first["probe_x"], first["labeled_x"]])
    hover = [plots.image_as_text(image) if image.ndim == 3 else f"({image[0]:.2f}, {image[1]:.2f})"
             for image in images]
    return plots.embedding_map(layout, target, len(first["labeled_y"]), hover, title.format(method=method))


@st.cache_resource(show_spinner=False)
def _layout_worker(url: str) -> subprocess.Popen | None:
    if os.environ.get(LAYOUTS_ENV, "on") == "off":
        return None
    return start_worker(url, str(LAYOUT_LOG))


def layout_worker() -> subprocess.Popen | None:
    """The store's UMAP process, started with the app so that umap-learn is compiled before it is needed;
    None when $SSL_EXPLORER_LAYOUTS is off (the page tests, a server that should spend no CPU on maps)."""
    return _layout_worker(resolve_url())


# Terms a class meets, explained where they appear (`glossary`).
GLOSSARY = {
    "threshold": "threshold tau: a pseudo-label is trained on only if the model's top class probability is at "
                 "least tau (the mask); tau decides how many pass",
    "temperature": "temperature T: the logits are divided by T before the softmax that gives the pseudo-labels; "
                   "T > 1 flattens the probabilities (fewer pass a given tau), T < 1 sharpens them. It applies to "
                   "the confidence test as well as to soft labels. Sharpening (MixMatch, UDA), the contrastive "
                   "losses and distillation each have a temperature of their own",
    "mu": "mu: unlabeled images per labeled one in a batch (B labeled, mu B unlabeled)",
    "lambda_u": "lambda_u: the weight of the unlabeled loss against the labeled one",
    "mask rate": "mask rate: the share of unlabeled samples whose pseudo-label passes tau",
    "probe set": "probe set: a fixed 1 000 unlabeled samples under one weak view; their true labels are hidden "
                 "from training and only score the pseudo-labels",
    "ema": "EMA decay alpha: after every step the averaged weights become alpha times themselves plus "
           "(1 - alpha) times the trained ones; alpha near 1 is a slow, smooth average",
    "nt-xent": "NT-Xent: SimCLR's loss, a softmax over cosine similarities divided by T in which each view must "
               "pick out the other view of its own image among all views of the batch",
    "mismatch": "mismatch share s: the share of the unlabeled data drawn from classes the labeled and test data "
                "do not hold (here the last four digits); every such sample that passes tau trains on a wrong label",
    "imbalance": "imbalance ratio r: the largest class over the smallest, labeled and unlabeled alike; class c of "
                 "C keeps r^(-c/(C-1)) of its samples",
    "target": "target (momentum) network: the EMA of the trained network's weights, decay m; it gets no "
              "gradient, and a bar over a vector is that vector divided by its length",
    "knn": "kNN accuracy: each test image takes the majority class of its 20 nearest train images in the "
           "embedding (cosine); the labels are a monitor, never trained on",
}


def glossary(*terms: str):
    """One short line under a page's formula that explains its terms."""
    st.caption(" · ".join(GLOSSARY[term] for term in terms))


# Presenter mode: for a projector at the back of a room.
PRESENTER_CSS = """<style>
  .stMainBlockContainer p, .stMainBlockContainer li { font-size: 1.3rem; }
  .stMainBlockContainer [data-testid="stCaptionContainer"] p { font-size: 1.1rem; }
  .stMainBlockContainer h1 { font-size: 3.2rem; }
  .stMainBlockContainer h2, .stMainBlockContainer h3 { font-size: 2.1rem; }
</style>"""
PRESENTER_SCALE = 1.35  # of each chart's height, its fonts from 12 to 18 px


def presenting() -> bool:
    return st.session_state.get("presenter", False)


def chart(where, figure: go.Figure, **kwargs):
    """`where.plotly_chart`, larger for a projector in presenter mode."""
    if presenting():
        figure.update_layout(font_size=18, title_font_size=24, legend_font_size=17,
                             height=round((figure.layout.height or 450) * PRESENTER_SCALE),
                             margin_l=max(figure.layout.margin.l or 0, 90))  # room for an 18 px axis title
        figure.update_xaxes(tickfont_size=16, title_font_size=18)  # Streamlit's theme sets these apart
        figure.update_yaxes(tickfont_size=16, title_font_size=18)
    return where.plotly_chart(figure, **kwargs)


def chart_columns(n: int) -> list:
    """Columns for a row of charts: in presenter mode one chart per row, at full width."""
    return [st.container() for _ in range(n)] if presenting() else st.columns(n)


def live_every(*runs: RunRecord, seconds: float = LIVE_SECONDS) -> float | None:
    """A fragment's `run_every`: tick while any of the runs trains, else stay still. A queued run's page does
    not tick: the sidebar's watcher runs the page again when the run starts (these runs are the page's own)."""
    st.session_state.setdefault("page-runs", set()).update(run.id for run in runs)
    return seconds if any(run.status == "running" for run in runs) else None


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
    if st.session_state.get(key) not in options:
        asked = st.query_params.get(query) if query else None
        if asked not in options:  # a short run id, as the pages show them
            asked = full_id(asked)
        if asked is not None and asked not in options:
            st.warning(plain(f"{query}: this page has no {label.lower()} {asked!r} (the Runs page lists every run); "
                             "showing the newest instead."))
        st.session_state[key] = asked if asked in options else next(iter(options))
    chosen = st.selectbox(label, list(options), format_func=format_func, key=key)
    if query:
        st.query_params[query] = chosen
    return chosen


def choose_run(methods, key: str, when_empty: str, lesson: str | None = None) -> RunRecord:
    """A picker over the store's runs of these methods, newest first, that a link's ?run= picks too. Given the
    page's `lesson`, runs other lessons trained come after the rest: opened from the sidebar, the threshold page
    showed the over-fitting lesson's two-moons run, right everywhere, rather than a pseudo-labelling one."""
    listed = [run for run in store().list_runs() if run.algorithm in methods]
    if lesson is not None:
        listed.sort(key=lambda run: run.config.lesson not in ("", lesson))  # stable: newest first within each
    runs = {run.id: run for run in listed}
    return runs[choose("Run", runs, key, when_empty, format_func=lambda i: run_label(runs[i]), query="run")]


def full_id(run_id: str | None) -> str | None:
    """A run's full id from the short one the pages show (its first 6 characters), else the text as given."""
    if not run_id:
        return run_id
    try:
        return store().resolve_id(run_id)
    except UnknownRun:
        return run_id


# What makes Markdown of plain text: emphasis, code, links and images ("[", "!["), HTML, headings, tables,
# strike-through, maths, and Streamlit's ":emoji:" and ":color[...]" directives.
_MARKDOWN = re.compile(r"[\\`*_\[\]<>#|~$]|!(?=\[)|:(?=[A-Za-z])")


def plain(text: str | None) -> str:
    """Text a user typed (a run's name) or a message quoting it, escaped for the Markdown that Streamlit's
    messages, progress bars and labels render: an image link in a name stays text, fetched by no browser."""
    return _MARKDOWN.sub(lambda match: "\\" + match.group(0), text or "")


def run_label(run: RunRecord) -> str:
    # No status here: a keyed selectbox keeps the labels it first drew, so a status would go stale.
    return f"{run.name} · {run.id}"


def sidebar():
    st.session_state["page-runs"] = set()  # the runs this page run shows (`live_every` names them)
    st.session_state["page-ran"] = time.monotonic()
    with st.sidebar:
        st.toggle("Presenter mode", key="presenter", help="larger text and charts, one chart per row, start forms "
                                                           "and the sidebar folded: for a projector")
        if presenting():
            st.html(PRESENTER_CSS)
        st.caption(f"Store: `{store().url}`")
        st.selectbox("Device for new runs", available_devices(), key="device",
                     help=f"auto picks {resolve_device('auto')} here; torch uses {runner().torch_threads} "
                          "CPU thread(s), leaving a core to the web server")
        _runs_in_progress(runs_state(progress(store().url)[0]))
        _image_sets()


@st.cache_data(ttl=LIVE_SECONDS, show_spinner=False)
def progress(url: str) -> tuple[list[RunRecord], dict[str, int]]:
    """Every run and the last step of those in progress: one read of the store a second for all the sessions
    of the server, however many tabs a class opens."""
    runs = _store(url).list_runs()
    return runs, _store(url).last_steps([run.id for run in runs if run.status in ACTIVE])


def runs_state(runs: list[RunRecord]) -> tuple[tuple[str, str], ...]:
    return tuple((run.id, run.status) for run in runs)


# A run that this page does not show, nor this session started, changes the page's pickers at most this often.
OTHERS_SECONDS = 15.0
SIDEBAR_QUEUED = 5  # queued runs of other sessions listed one by one; more are counted


@st.fragment(run_every=2 * LIVE_SECONDS)
def _runs_in_progress(at_page_run: tuple[tuple[str, str], ...]):
    """Runs in progress anywhere (this server, the command line), each with a stop button; a sweep's queued
    runs as one line per sweep, which may hold dozens.

    When a run is added, changes status or is deleted, wherever (here, another tab, the command line), the
    whole page runs again: its pickers list the new run, and each fragment's `run_every`, fixed when the page
    ran, starts or stops the live ticking. At once for the runs the page shows and this session's own; for
    the others at most every OTHERS_SECONDS, or thirty open pages would each run again at every change of
    thirty runs."""
    runs, steps = progress(store().url)
    own = st.session_state.get("page-runs", set()) | set(policy.started())
    if page_outdated(runs_state(runs), at_page_run, own, time.monotonic() - st.session_state.get("page-ran", 0)):
        st.rerun()
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
        state = f"queued, {ordinal(places[run.id])} in line" if run.id in places else f"step {step}/{run.config.steps}"
        st.progress(min(step / run.config.steps, 1.0), text=f"{plain(run.name)} · {state}")
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
    if message := st.session_state.pop("sidebar-refusal", None):
        st.error(plain(message), icon=":material/error:")


def page_outdated(now: tuple[tuple[str, str], ...], at_page_run: tuple[tuple[str, str], ...], own: set[str],
                  age: float) -> bool:
    """Whether a page drawn `age` seconds ago from the runs `at_page_run` ((id, status) pairs) should run
    again: at once when one of its `own` runs changed, at most every OTHERS_SECONDS for the others."""
    changed = {run_id for run_id, _ in set(now) ^ set(at_page_run)}
    return bool(changed & own) or (bool(changed) and age >= OTHERS_SECONDS)


def stop_whole_sweep(sweep_id: str):
    """Stop a sweep's runs, if this session may (the button is disabled otherwise; asked again here)."""
    try:
        policy.check_stop_sweep(run.id for run in store().sweep_runs(sweep_id))
    except policy.Refused as error:
        st.session_state["sidebar-refusal"] = str(error)
        return
    stop_sweep(store(), sweep_id)
    progress.clear()


def stop(run_id: str):
    """Stop a run, if this session may (its button is disabled otherwise; asked again here)."""
    try:
        policy.check_change(store().get_run(run_id), "stop")
    except policy.Refused as error:
        st.session_state["sidebar-refusal"] = str(error)
        return
    runner().stop(run_id)
    progress.clear()  # the sidebar shows the stop at its next tick, not a second later


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


@st.fragment(run_every=2 * LIVE_SECONDS)
def _image_sets():
    """The downloadable image sets and their state, read from the cache folder (so any server sees it)."""
    with st.expander("Image sets"):
        st.caption(f"Downloaded on request from their official addresses, checked against their MD5 sums, "
                   f"into `{datasets.cache_root()}`; Fashion-MNIST is also read where Debian's "
                   "dataset-fashion-mnist package installs it (`apt-get install dataset-fashion-mnist`).")
        for name in datasets.IMAGE_SETS:
            state = datasets.state(name)
            where = state if state.startswith(("downloaded", "installed")) else state.split(":")[0]
            st.markdown(f"**{name}** · {plain(where)}")
            if state.startswith(("not downloaded", "failed")):
                st.button(f"Download {name}", key=f"download-{name}", icon=":material/download:",
                          on_click=datasets.download_in_background, args=(name,))
            if state.startswith("failed"):
                st.error(state, icon=":material/error:")


# Start forms ------------------------------------------------------------------------------------------
def start_runs(form: str, build: Callable[[], list[RunConfig]], on_started: Callable[[list[str]], None],
               parent: str | None = None):
    """A form's submit callback: check every config (and the parent run they start from) first, start them
    all only if all pass.

    A ConfigError is kept for `field_error` to show under the field it names; nothing is written then.
    """
    st.session_state[f"{form}-errors"] = {}
    try:
        configs = [check(config) for config in build()]
        for config in configs:
            check_parent(store(), config, parent)
        policy.check_start(store(), configs)
    except (ConfigError, policy.Refused) as error:
        st.session_state[f"{form}-errors"] = {error.field: str(error)}
        return
    on_started(remember([runner().start(config, parent, policy.starter()) for config in configs]))


def remember(run_ids: list[str]) -> list[str]:
    """The runs this browser session started: its own, for the policy and the sidebar."""
    policy.record(run_ids)
    progress.clear()  # so that the sidebar's watcher sees them at once, not a second later
    return run_ids


def together(values: dict, runs: list[tuple[str, str, dict]], *words: str) -> list[RunConfig]:
    """One press's runs: `runs` holds each one's (algorithm, label, own settings) over the shared `values`;
    all take one config.group, named by their split, `words` and the time, and each is '<label> · <group>'."""
    group = " ".join([f"{values['dataset']} {values['labels_per_class']}/class", *words, time.strftime("%H:%M:%S")])
    return [RunConfig(algorithm=algorithm, **(values | own), device=device_choice(), group=group,
                      name=f"{label} · {group}") for algorithm, label, own in runs]


def form_values(form: str, fields: tuple[str, ...]) -> dict:
    """The submitted values of a form's widgets, keyed `<form>-<field>`."""
    return {field: st.session_state[f"{form}-{field}"] for field in fields}


def run_groups(methods, marked_by: tuple[str, ...] = ()) -> dict[str, list[RunRecord]]:
    """Runs started together (the same config.group) among these methods, by group, newest first; with
    `marked_by`, only the groups that hold a run of one of those methods (a pipeline is the group of a
    pretraining run)."""
    groups: dict[str, list[RunRecord]] = {}
    for run in store().list_runs():
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


def run_status(run: RunRecord, label: str = "This run", progress: bool = True):
    """A run's lines at the head of a view: its error when it failed, and its progress bar."""
    if run.status == "failed":
        st.error(f"{plain(label)} failed: {plain(run.error)}")
    if progress:
        step = store().last_step(run.id) or 0
        prefix = "" if label == "This run" else f"{plain(label)} · "
        st.progress(min(step / run.config.steps, 1.0),
                    text=f"{prefix}{run.status} · step {step} of {run.config.steps}")


def follow(run: RunRecord, draw: Callable[[RunRecord, pd.DataFrame], None]):
    """A run's live view: its status lines, then `draw(run, scalars)`, again every LIVE_SECONDS while it trains."""
    @st.fragment(run_every=live_every(run))
    def live(run_id: str):
        now = store().get_run(run_id)
        run_status(now)
        draw(now, store().scalars(run_id))

    live(run.id)


def field(where, form: str, name: str, widget: Callable, label: str, *args, **kwargs):
    """A form's widget keyed `<form>-<name>` in `where`, with the last submit's error on `name` right under it."""
    with where:
        value = widget(label, *args, key=f"{form}-{name}", **kwargs)
        field_error(form, name)
    return value


def field_error(form: str, field: str):
    """The message of the last submit's error on this field, right under it."""
    message = st.session_state.get(f"{form}-errors", {}).get(field)
    if message:  # it may quote what was typed
        st.error(plain(message), icon=":material/error:")


def other_errors(form: str, shown: set[str]):
    """Errors on fields the form does not show (the device chosen in the sidebar)."""
    for field, message in st.session_state.get(f"{form}-errors", {}).items():
        if field not in shown:
            st.error(plain(message), icon=":material/error:")


def device_choice() -> str:
    return st.session_state.get("device", "auto")
