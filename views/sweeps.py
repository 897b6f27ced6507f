"""Sweeps: a grid of settings times seeds, trained as Ray tasks; final accuracies as heat maps."""
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from sslengine import plots
from sslengine.algorithms import ALGORITHMS
from sslengine.config import DATASETS, ConfigError, RunConfig
from sslengine.store import ACTIVE
from sslengine.sweeps import create_sweep, parse_grid, plan
from views.kit import engine, forms, live, pickers, policy, present, sidebar, state

FORM = "sweep-form"
# The settings the form offers to sweep (the command line takes any of sweeps.SWEEPABLE).
AXES = ["threshold", "labels_per_class", "lambda_u", "temperature", "lr", "mu", "ema_decay", "weight_decay",
        "batch_size", "steps"]

st.write(
    "A sweep trains every combination of two settings, several seeds each, as tasks on Ray (a local Ray, or "
    "a cluster when the store is a shared PostgreSQL database). Each cell shows the mean final accuracy "
    "over seeds and its spread: look at whether the best threshold moves as the label budget grows. The "
    "table below opens any cell's runs in Compare. A sweep of more than two settings (from the "
    "command line) maps the two you pick and holds the others at the values you pick."
)
st.latex(r"\text{cell}(a, b) = \frac{1}{S}\sum_{s=1}^{S} \text{acc}(a, b, s)\ \pm\ "
         r"\sqrt{\tfrac{1}{S-1}\textstyle\sum_s (\text{acc}(a, b, s) - \overline{\text{acc}})^2}")
store = engine.store()


def start_sweep():
    """Record the sweep (every point checked first), then train it in a process of its own: Ray's workers
    and driver stay out of the web server."""
    values = {field: state.form_value(FORM, field) for field in
              ("algorithm", "dataset", "steps", "seeds", "axis1", "values1", "axis2", "values2")}
    state.set_form_errors(FORM, {})
    try:
        grid = parse_grid([f"{values[f'axis{i}']}={values[f'values{i}']}" for i in (1, 2)])
        base = RunConfig(algorithm=values["algorithm"], dataset=values["dataset"],
                         steps=values["steps"], device=state.device())
        planned = plan(base, grid, values["seeds"])
        policy.check_start(store, planned.points)
        sweep_id, run_ids = create_sweep(store, planned, policy.starter())
        forms.remember(run_ids)
    except (ConfigError, policy.Refused) as error:
        state.set_form_errors(FORM, {error.field: str(error)})
        return
    log = Path(tempfile.gettempdir()) / f"ssl-explorer-sweep-{sweep_id}.log"  # a failure also marks its runs
    with open(log, "w") as output:
        subprocess.Popen([sys.executable, "-m", "sslengine", "sweep-resume", sweep_id, "--store", store.url],
                         stdout=output, stderr=subprocess.STDOUT)
    state.choose("sweep", sweep_id)


# Open at first, and whenever the last Start was refused: its reason is inside.
with st.expander("Start a sweep", expanded=not store.list_sweeps() or bool(state.form_errors(FORM))):
    with st.form(FORM, border=False):
        a, b, c, d = st.columns(4)
        methods = [name for name in ALGORITHMS if ALGORITHMS[name].has_classifier and not ALGORITHMS[name].parent_must]
        a.selectbox("Method", methods, index=methods.index("fixmatch"), key=state.form_key(FORM, "algorithm"))
        b.selectbox("Dataset", DATASETS, index=DATASETS.index("digits"), key=state.form_key(FORM, "dataset"))
        c.number_input("Steps per run", 1, 100_000, 300, step=100, key=state.form_key(FORM, "steps"))
        d.number_input("Seeds", 1, 10, 2, key=state.form_key(FORM, "seeds"))
        for i, (axis, default) in enumerate((("threshold", "0.7,0.95"), ("labels_per_class", "1,4")), 1):
            name, values = st.columns([1, 2])
            name.selectbox(f"Setting {i}", AXES, index=AXES.index(axis), key=state.form_key(FORM, f"axis{i}"))
            values.text_input("Its values, comma-separated", default, key=state.form_key(FORM, f"values{i}"))
        forms.other_errors(FORM, set())
        has_ray = importlib.util.find_spec("ray") is not None
        if not has_ray:
            st.info("Sweeps train on Ray, the optional extra: `pip install -r requirements-scale.txt`, then reload.")
        st.form_submit_button("Start", type="primary", icon=":material/play_arrow:", on_click=start_sweep,
                              disabled=not has_ray)

sweeps = {sweep["id"]: sweep for sweep in store.list_sweeps()}
sweep_id = pickers.choose("Sweep", sweeps, "sweep",
                         "No sweep yet: press Start, or run `python -m sslengine sweep fixmatch --grid "
                         "threshold=0.7,0.95 --grid labels-per-class=1,4 --seeds 2` and reload.",
                         format_func=lambda i: f"{sweeps[i]['name']} · {i}", query="sweep")


def cell_table(sweep: dict) -> tuple[pd.DataFrame, list[str]]:
    """One row per run: its swept values, status and final accuracies (finished runs only: a stopped or
    running run's last value is not a final one)."""
    axes = list(sweep["spec"]["grid"])
    rows = []
    for run in store.sweep_runs(sweep["id"]):
        final = store.final_scalars(run.id) if run.status == "finished" else {}
        rows.append({**{axis: getattr(run.config, axis) for axis in axes}, "run_id": run.id, "status": run.status,
                     "test_acc": final.get("test_acc", np.nan),
                     "pseudo_label_acc": final.get("pseudo_label_acc", np.nan)})
    return pd.DataFrame(rows), axes


def progress(runs: pd.DataFrame, sweep_id: str) -> int:
    """How far the sweep is, with its Stop button and its failures; returns how many runs are still active."""
    ended = runs.status[~runs.status.isin(ACTIVE)].value_counts().sort_index()
    active = len(runs) - ended.sum()
    bar, button = st.columns([5, 1], vertical_alignment="bottom")
    bar.progress(ended.sum() / len(runs), text=f"{ended.sum()} of {len(runs)} runs ended"
                 + (f" ({', '.join(f'{n} {status}' for status, n in ended.items())})" if len(ended) else "")
                 + f" · {active} queued or running")
    mine = policy.may_stop_sweep(runs.run_id)
    button.button("Stop sweep", icon=":material/stop:", disabled=not active or not mine, key="stop-sweep",
                  on_click=sidebar.stop_whole_sweep, args=(sweep_id,),
                  help="Queued runs stop at once, running ones at their next log step, wherever they train."
                  if mine else "A student stops only the sweeps they started.")
    for _, run in runs[runs.status == "failed"].iterrows():
        st.error(f"Run {run.run_id} failed: {present.plain(store.get_run(run.run_id).error)}")
    return active


def map_axes(runs: pd.DataFrame, axes: list[str]) -> tuple[pd.DataFrame, str, str]:
    """The two settings across and down the map, and the runs it shows: with one setting, seeds go down;
    with more than two, the reader picks two and holds each other one at a value."""
    if not axes:  # seeds only: one cell
        return runs.assign(setting="as configured", seeds="all"), "setting", "seeds"
    if len(axes) < 2:
        return runs.assign(seeds="all"), axes[0], "seeds"
    if len(axes) == 2:
        return runs, axes[0], axes[1]
    columns = st.columns(len(axes))
    x = columns[0].selectbox("Across", axes, key="sweep-x")
    y = columns[1].selectbox("Down", [axis for axis in axes if axis != x], key="sweep-y")
    for column, axis in zip(columns[2:], [axis for axis in axes if axis not in (x, y)]):
        runs = runs[runs[axis] == column.selectbox(f"{axis} held at", sorted(runs[axis].unique()),
                                                   key=f"sweep-hold-{axis}")]
    return runs, x, y


def cells_of(runs: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """One row per (x, y): mean and spread over seeds of the finished runs' accuracies, and its runs."""
    return runs.groupby([x, y]).agg(test_acc_mean=("test_acc", "mean"), test_acc_std=("test_acc", "std"),
                                    pseudo_label_acc_mean=("pseudo_label_acc", "mean"),
                                    pseudo_label_acc_std=("pseudo_label_acc", "std"),
                                    finished=("status", lambda status: f"{(status == 'finished').sum()} of "
                                                                       f"{len(status)}"),
                                    run_ids=("run_id", list)).reset_index()


@st.fragment(run_every=live.live_every(*store.sweep_runs(sweep_id), seconds=2 * live.LIVE_SECONDS))
def show(sweep_id: str):
    runs, axes = cell_table(sweeps[sweep_id])
    active = progress(runs, sweep_id)
    runs, x, y = map_axes(runs, axes)
    cells = cells_of(runs, x, y)
    if (runs.status == "finished").any():
        left, right = present.chart_columns(2)
        present.chart(left, plots.sweep_heatmap(cells, x, y, "test_acc", "Final test accuracy, mean ± std over "
                                                                       "seeds"), key="sweep-test")
        present.chart(right, plots.sweep_heatmap(cells, x, y, "pseudo_label_acc",
                                               "Final pseudo-label accuracy (all argmax labels)"), key="sweep-pl")
    elif active:
        st.info("No run of this sweep has finished yet: the heat maps show final accuracies, so they fill in as "
                "runs finish. Each running run's progress is in the sidebar.")
    else:
        st.info("No run of this sweep finished, so there is no final accuracy to map. Open its runs in Compare "
                "to see how far they got.")
    most = pickers.COMPARE_MAX
    cells["open"] = ["/compare?runs=" + ",".join(ids[:most]) for ids in cells.run_ids]
    if (cells.run_ids.str.len() > most).any():
        st.caption(f"Compare lays out at most {most} runs: a cell with more opens its first {most} seeds.")
    st.dataframe(cells[[x, y, "test_acc_mean", "test_acc_std", "finished", "open"]], hide_index=True,
                 width="stretch",
                 column_config={"open": st.column_config.LinkColumn("runs", display_text="open in Compare")})


show(sweep_id)
