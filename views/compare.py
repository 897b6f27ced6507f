"""Compare: up to four runs side by side, one color per run in every chart."""
import dataclasses
import itertools

import numpy as np
import pandas as pd
import streamlit as st

from sslengine import plots
from sslengine.metrics import pseudo_label_stats
from sslengine.train import CLOCKS
from views.kit import engine, live, pickers, present, state

st.write(
    "Lay up to four runs side by side: each keeps its color in every chart. The table lists their "
    "settings with the ones that differ marked; the histograms, boundaries and embedding maps are taken at "
    "matched steps (each run's latest snapshot at or before the chosen step)."
)
st.latex(r"\text{mask rate} = \frac{1}{N}\sum_{i=1}^{N} \mathbb{1}[\max_c p_c(u_i) \ge \tau],\qquad"
         r"\text{pseudo-label accuracy} = \frac{\sum_i \mathbb{1}[\max p(u_i) \ge \tau]\,"
         r"\mathbb{1}[\hat y_i = y_i]}{\sum_i \mathbb{1}[\max p(u_i) \ge \tau]}")
store = engine.store()
PICKED = "compare-runs"  # the multiselect's key
runs = {run.id: run for run in store.list_runs()}
if not runs:
    st.info("No run in the store yet: start some on the other pages or with `python -m sslengine run ...`.")
    st.stop()

if state.is_chosen(PICKED):  # deleted runs leave the choice
    state.choose(PICKED, [run_id for run_id in state.chosen(PICKED) if run_id in runs])
else:  # arriving (Streamlit drops the widget's state on other pages): the link decides
    asked = [pickers.full_id(run_id) for run_id in st.query_params.get("runs", "").split(",") if run_id]
    if missing := [run_id for run_id in asked if run_id not in runs]:
        st.warning(present.plain(f"runs: no run {', '.join(map(repr, missing))} in this store (the Runs page lists "
                                "them all)."))
    known = [run_id for run_id in asked if run_id in runs][:pickers.COMPARE_MAX]
    state.choose(PICKED, known or list(runs)[:2])
chosen = st.multiselect(f"Runs (1 to {pickers.COMPARE_MAX})", list(runs),
                        format_func=lambda i: pickers.run_label(runs[i]), max_selections=pickers.COMPARE_MAX,
                        key=PICKED)
st.query_params["runs"] = ",".join(chosen)
if not chosen:
    st.info("Choose the runs to lay side by side.")
    st.stop()


@st.fragment(run_every=live.live_every(*(runs[run_id] for run_id in chosen),
                                         seconds=live.SNAPSHOT_SECONDS))
def show(run_ids: list[str]):
    chosen_runs = [store.get_run(run_id) for run_id in run_ids]
    labels = {run.id: f"{run.name} ({run.id[:6]})" for run in chosen_runs}
    colors = plots.run_colors({labels[run.id]: plots.olu_role(run.algorithm, run.config.variant)
                               for run in chosen_runs})
    for run in chosen_runs:
        present.run_status(run, labels[run.id], progress=False)

    configs = pd.DataFrame({labels[run.id]: {k: str(v) for k, v in dataclasses.asdict(run.config).items()}
                            for run in chosen_runs})
    configs.insert(0, "differs", configs.nunique(axis=1) > 1)
    st.dataframe(configs.style.apply(lambda row: ["background-color: #fde2d6" if row.differs else ""] * len(row),
                                     axis=1), width="stretch", height=min(38 + 35 * len(configs), 400))

    frames = {labels[run.id]: store.scalars(run.id) for run in chosen_runs}
    # The total loss sums other terms for other methods: across methods only the labeled loss compares.
    loss = "loss" if len({run.algorithm for run in chosen_runs}) == 1 else "loss_x"
    keys = [key for key in ("test_acc", "mask_rate", "pseudo_label_acc_passing", "knn_acc", loss)
            if any((frame.key == key).any() for frame in frames.values())]
    if loss == "loss_x":
        st.caption("These runs train different methods, whose total losses add different terms: the loss chart "
                   "shows the labeled loss, which every one of them computes alike.")
    learnt = {label: frame[~frame.key.isin(CLOCKS)].reset_index(drop=True) for label, frame in frames.items()}
    for first, second in itertools.combinations(frames, 2):
        if learnt[first].equals(learnt[second]):
            st.caption(present.plain(f"{first} and {second} logged the same values at every step (the same "
                                    "settings and seed): one line hides the other on each chart."))
    png = {"toImageButtonOptions": {"format": "png", "scale": 2}}
    for row in range(0, len(keys), 2):
        for column, key in zip(present.chart_columns(2), keys[row:row + 2]):
            present.chart(column, plots.runs_over_steps(frames, key, colors), key=f"compare-{key}", config=png)
    csv = store.scalars_of(run_ids).to_csv(index=False)
    st.download_button("Download the scalars (CSV)", csv, file_name="scalars.csv",
                       mime="text/csv", icon=":material/download:")
    st.caption("Each chart's camera button saves it as PNG.")

    snapshot_steps = {run.id: store.snapshot_steps(run.id) for run in chosen_runs}
    if not all(snapshot_steps.values()):
        return
    all_steps = sorted(set().union(*snapshot_steps.values()))
    step = st.select_slider("Matched step", options=all_steps, value=all_steps[-1])
    matched = {run.id: max([s for s in snapshot_steps[run.id] if s <= step], default=snapshot_steps[run.id][0])
               for run in chosen_runs}
    snapshots = {run.id: engine.snapshot(store.url, run.id, matched[run.id]) for run in chosen_runs}
    classified = [run for run in chosen_runs if "logits" in snapshots[run.id]]  # SimCLR has embeddings only
    if classified:
        threshold = st.slider("Threshold tau (what-if, all runs)", 0.0, 1.0, 0.95, 0.01, key="compare-tau")
    for column, run in zip(present.chart_columns(max(len(classified), 1)), classified):
        stats = pseudo_label_stats(snapshots[run.id]["logits"], snapshots[run.id]["target"], threshold)
        passing = stats["pseudo_label_acc_passing"]
        column.metric(present.plain(f"{labels[run.id]} @ step {matched[run.id]}"), f"{stats['mask_rate']:.1%} pass",
                      "-" if np.isnan(passing) else f"{passing:.1%} of those correct", delta_color="off",
                      delta_arrow="off")  # a share, not a change
    if len({snapshots[run.id]["logits"].shape[1] for run in classified}) == 1:
        present.chart(st, plots.entropy_histograms({labels[run.id]: snapshots[run.id]["logits"]
                                                  for run in classified}, colors), key="compare-entropy",
                        config=png)
    if all("grid_probs" in snapshots[run.id] for run in chosen_runs):
        for column, run in zip(present.chart_columns(len(chosen_runs)), chosen_runs):
            present.chart(column, plots.decision_boundary(snapshots[run.id],
                                                        engine.snapshot(store.url, run.id, 0), labels[run.id]),
                                key=f"compare-boundary-{run.id}", config=png)
    if all("embedding" in snapshots[run.id] for run in chosen_runs):
        columns = present.chart_columns(len(chosen_runs))
        for number, (column, run) in enumerate(zip(columns, chosen_runs), 1):
            held = store.array_keys(run.id)[matched[run.id]]
            figure = present.embedding_figure(run.id, matched[run.id], held,
                                             f"{{method}} · {labels[run.id]} @ step {matched[run.id]}")
            # Class colors are the same in every map: one legend, on the last.
            figure.update_layout(height=460, showlegend=number == len(chosen_runs), title_font_size=13)
            present.chart(column, figure, key=f"compare-map-{run.id}", config=png)


show(chosen)
