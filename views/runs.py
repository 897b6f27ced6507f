"""Runs: every run in the store, from this page or the command line; filter, stop, rename, delete, open,
export."""
import os

import pandas as pd
import streamlit as st

from sslengine import plots
from sslengine.errors import ConfigError
from sslengine.export import as_zip, available, export
from sslengine.store import ACTIVE, RunRecord
from views.kit import engine, live, pickers, policy, present, sidebar, state


st.write("Every run in the store, started here or with `python -m sslengine run ...`. Select rows to open, "
         "compare, stop, rename, delete or export them (files, TensorBoard, MLflow).")
store = engine.store()


# Widths that fit every column in a 1 400 px window beside the sidebar; a long name or error shows whole on
# hover. The year is left out of `created`: the tooltip and the sort keep it.
COLUMNS = {
    "id": st.column_config.TextColumn(width=96), "name": st.column_config.TextColumn(width=320),
    "algorithm": st.column_config.TextColumn(width=104), "dataset": st.column_config.TextColumn(width=64),
    "labels/class": st.column_config.NumberColumn("labels", width=52, help="labels per class"),
    "status": st.column_config.TextColumn(width=74),
    "test accuracy": st.column_config.NumberColumn("test acc", format="%.3f", width=64),
    "step": st.column_config.NumberColumn(width=50),
    "wall_seconds": st.column_config.NumberColumn("s", width=50, help="wall time from the start of training"),
    "created": st.column_config.DatetimeColumn(format="MM-DD HH:mm", width=92),
    "error": st.column_config.TextColumn(width=90),
}


@st.fragment(run_every=live.live_every(*store.list_runs()))
def runs_table():
    runs = store.list_runs()
    if not runs:
        st.info("No runs yet. Start one on the Pseudo-labels and threshold page, or with "
                "`python -m sslengine run fixmatch --dataset digits`.")
        return
    a, b, c = st.columns(3)
    algorithms = a.multiselect("Algorithm", sorted({run.algorithm for run in runs}), key="filter-algorithm")
    datasets = b.multiselect("Dataset", sorted({run.dataset for run in runs}), key="filter-dataset")
    statuses = c.multiselect("Status", sorted({run.status for run in runs}), key="filter-status")
    shown = [run for run in runs if (not algorithms or run.algorithm in algorithms)
             and (not datasets or run.dataset in datasets) and (not statuses or run.status in statuses)]
    table = pd.DataFrame([{
        "id": run.id, "name": run.name, "algorithm": run.algorithm, "dataset": run.dataset,
        "labels/class": run.config.labels_per_class, "status": run.status,
        "test accuracy": store.final_scalars(run.id).get("test_acc"),
        "step": store.last_step(run.id),
        "wall_seconds": None if run.wall_seconds is None else round(run.wall_seconds, 1),
        "created": pd.Timestamp(run.created, unit="s"), "error": run.error or "",
    } for run in shown], columns=["id", "name", "algorithm", "dataset", "labels/class", "status",
                                  "test accuracy", "step", "wall_seconds", "created", "error"])
    st.caption("Click a column header to sort.")
    event = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
                         key="runs-table", column_config=COLUMNS)
    selected = [shown[i] for i in event.selection.rows]
    if selected:
        actions(selected)
    present.chart(st, plots.accuracy_by_run(table), key="accuracy-by-run")


def stop_all(run_ids: list[str]):
    for run_id in run_ids:
        sidebar.stop(run_id)


def actions(selected):
    ids = [run.id for run in selected]
    a, b, c, d = st.columns(4)
    if a.button("Open", disabled=len(selected) != 1, help="in the page that shows this method"):
        page, query = pickers.page_of(selected[0])
        st.switch_page(page, query_params=query)
    if b.button("Compare", disabled=not 2 <= len(selected) <= pickers.COMPARE_MAX,
                help=f"2 to {pickers.COMPARE_MAX} runs"):
        st.switch_page("views/compare.py", query_params={"runs": ",".join(ids)})
    in_progress = [run.id for run in selected if run.status in ACTIVE and policy.may_change(run)]
    c.button("Stop", disabled=not in_progress, on_click=stop_all, args=(in_progress,))
    if d.button(f"Delete {len(selected)}", type="secondary"):
        state.ask_delete(ids)
    refusals = [policy.refusal(run, "delete") for run in selected]
    if state.delete_asked() == ids and any(refusals):
        for refusal in filter(None, refusals):
            st.error(present.plain(refusal))
    elif state.delete_asked() == ids:
        if in_progress:
            st.warning("Stop these runs before deleting them: "
                       f"{', '.join(present.plain(run.name) for run in selected if run.id in in_progress)}")
        else:
            st.warning(f"Delete {', '.join(present.plain(run.name) for run in selected)} and everything they logged? "
                       "This cannot be undone.")
            yes, no = st.columns(2)
            if yes.button("Yes, delete", type="primary") and not any(policy.refusal(run, "delete")
                                                                      for run in selected):  # asked again
                for run_id in ids:
                    store.delete_run(run_id)
                state.forget_delete()
                st.rerun()
            if no.button("Cancel"):
                state.forget_delete()
                st.rerun()
    if len(selected) == 1:
        with st.form("rename", border=False):
            name = st.text_input("New name", value=selected[0].name, max_chars=200)
            if st.form_submit_button("Rename"):
                if refusal := policy.refusal(selected[0], "rename"):
                    st.error(present.plain(refusal))
                elif not name.strip():
                    st.error("name: must not be empty")
                else:
                    store.rename(ids[0], name.strip())
                    st.rerun()
        export_run(selected[0])


def export_run(run):
    """The run for the tools people keep runs in: files and TensorBoard event files as downloads, or a run
    sent to an MLflow tracking server."""
    with st.expander(f"Export {present.plain(run.name)}"):
        if run.status in ACTIVE:
            st.info(f"This run is {run.status}: it can be exported once it has ended.")
            return
        extra = "needs the scale extra: pip install -r requirements-scale.txt"
        files, board = st.columns(2)
        files.download_button("Files (zip): scalars.csv, run.json, snapshots", lambda: as_zip(store, run.id, "csv"),
                              file_name=f"{run.id}.zip", mime="application/zip", icon=":material/download:",
                              on_click="ignore", key="export-csv")
        board.download_button("TensorBoard event files (zip)", lambda: as_zip(store, run.id, "tensorboard"),
                              file_name=f"{run.id}-tensorboard.zip", mime="application/zip",
                              icon=":material/download:", on_click="ignore", key="export-tensorboard",
                              disabled=not available("tensorboard"),
                              help=extra if not available("tensorboard") else "unzip, then tensorboard --logdir .")
        if policy.role() != "instructor":
            st.caption("Sending to an MLflow server is for the instructor; the downloads are yours.")
            return
        with st.form("export-mlflow", border=False):
            uri, experiment = st.columns(2)
            uri.text_input("MLflow tracking URI", os.environ.get("MLFLOW_TRACKING_URI", ""),
                           key=state.form_key("mlflow", "uri"),
                           placeholder="http://host:5000, one of $SSL_EXPLORER_MLFLOW_URIS")
            experiment.text_input("Experiment", "ssl-explorer", key=state.form_key("mlflow", "experiment"))
            sent = st.form_submit_button("Send to MLflow", disabled=not available("mlflow"),
                                         help=extra if not available("mlflow") else None)
        if sent:
            try:
                uri = policy.check_mlflow_uri(state.form_value("mlflow", "uri").strip())
                with st.spinner("Sending to MLflow..."):
                    where = export(store, run.id, "mlflow", uri,
                                   state.form_value("mlflow", "experiment").strip() or "ssl-explorer")
                st.success(present.plain(f"Sent: {where}"))
            except (ConfigError, policy.Refused) as error:
                st.error(present.plain(str(error)))


runs_table()
