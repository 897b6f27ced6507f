"""Entropy minimization: supervised, EntMin, Pseudo-Label and FixMatch on one split, side by side."""

import streamlit as st

from sslengine import lessons, plots
from sslengine.config import DATASETS, RunConfig
from views.kit import engine, forms, live, pickers, present, state

FORM = "entropy-form"
METHODS = present.names("supervised", "entmin", "pseudo_label", "fixmatch")
COLORS = dict(zip(METHODS.values(), plots.RUN_COLORS))

st.write(
    "With few labels, a supervised model may draw its boundary anywhere between the labeled points. "
    "Entropy minimization adds the mean prediction entropy on unlabeled points to the loss, so the model "
    "prefers boundaries through low-density gaps; Pseudo-Label (hard labels) and FixMatch (hard labels on "
    "augmented views, above a threshold) push the same way. Watch where each boundary runs against the "
    "unlabeled points and how the entropy histograms pile up at zero. The defaults are the Lessons page's "
    "preset: two tall clusters with a gap between them and one label each, where the supervised line through "
    "the labeled points' midpoint tilts into the clusters. On two moons EntMin mostly locks in wherever the few "
    "labels put the boundary: try it."
)
if sentence := lessons.measured("entropy-boundary"):
    st.markdown(f"**The lesson's preset** (supervised against EntMin, lambda 1): {sentence}")
st.latex(r"\ell = \frac{1}{B}\sum_{b=1}^{B} \mathrm{CE}\!\left(y_b, p(x_b)\right)"
         r" + \lambda \frac{1}{\mu B}\sum_{b=1}^{\mu B} H\!\left(p(u_b)\right),\quad"
         r" H(p) = -\sum_c p_c \log p_c")
present.glossary("lambda_u", "mu", "threshold", "probe set")
store = engine.store()


def form_configs() -> list[RunConfig]:
    values = state.form_values(FORM, ("dataset", "labels_per_class", "noise", "steps", "seed"))
    weight = {"entmin": state.form_value(FORM, "lambda")}
    return forms.together(values, [(algorithm, label, {"lambda_u": weight.get(algorithm, 1.0)})
                                    for algorithm, label in METHODS.items()], f"seed {values['seed']}")


def select_started(run_ids: list[str]):
    state.choose("entropy-group", store.get_run(run_ids[0]).config.group)


with st.expander("Run the four methods", expanded=not present.presenting()):
    with st.form(FORM, border=False):
        a, b, c, d, e, f = st.columns(6)
        a.selectbox("Dataset", DATASETS, index=DATASETS.index("gap"), key=state.form_key(FORM, "dataset"))
        forms.field(b, FORM, "labels_per_class", st.number_input, "Labels per class", 1, 1000, 1)
        c.slider("EntMin weight lambda", 0.0, 5.0, 1.0, 0.1, key=state.form_key(FORM, "lambda"))
        d.slider("Noise (moons, circles; the gap's cluster width)", 0.0, 0.5, 0.25, 0.01,
                 key=state.form_key(FORM, "noise"))
        forms.field(e, FORM, "steps", st.number_input, "Steps", 1, 100_000, 1000, step=100)
        f.number_input("Seed", 0, 2**31 - 1, 0, key=state.form_key(FORM, "seed"))
        forms.other_errors(FORM, {"labels_per_class", "steps"})
        st.form_submit_button("Run all four", type="primary", icon=":material/play_arrow:",
                              on_click=forms.start_runs, args=(FORM, form_configs, select_started))

groups = {group: pickers.newest_by_method(runs) for group, runs in pickers.run_groups(METHODS).items()}
group = pickers.choose("Comparison", groups, "entropy-group", "No comparison yet: press Run all four.",
                      query="group")


@st.fragment(run_every=live.live_every(*groups[group].values(), seconds=live.SNAPSHOT_SECONDS))
def show_group(run_ids: list[str]):
    runs = [store.get_run(run_id) for run_id in run_ids]
    runs.sort(key=lambda run: list(METHODS).index(run.algorithm))
    labels = {run.id: METHODS[run.algorithm] for run in runs}
    for run in runs:
        present.run_status(run, labels[run.id], progress=False)
    if len(runs) < len(METHODS):
        why = (f"the Lessons page's {runs[0].config.lesson} card trains these alone" if runs[0].config.lesson
               else "the others were not run in it")
        st.caption(f"This comparison holds {' and '.join(labels.values())} of the {len(METHODS)} methods: {why}.")
    frames = {labels[run.id]: store.scalars(run.id) for run in runs}
    steps = sorted(set.intersection(*(set(store.snapshot_steps(run.id)) for run in runs)))
    if not steps:
        st.info("Waiting for the first snapshots.")
        return
    step = st.select_slider("Snapshot at step", options=steps, value=steps[-1])
    snapshots = {run.id: engine.snapshot(store.url, run.id, step) for run in runs}
    if "grid_probs" in snapshots[runs[0].id]:
        st.caption("Background: the model's P(class 1); black line: its decision boundary (P = 0.5); stars: labeled "
                   "points; dots: unlabeled points colored by their hidden true class.")
        for column, run in zip(present.chart_columns(len(runs)), runs):
            first = engine.snapshot(store.url, run.id, 0)
            accuracy = frames[labels[run.id]].query("key == 'test_acc' and step <= @step").value
            title = f"{labels[run.id]}: test {accuracy.iloc[-1]:.1%}" if len(accuracy) else labels[run.id]
            present.chart(column, plots.decision_boundary(snapshots[run.id], first, title), key=f"boundary-{run.id}")
    left, right = present.chart_columns(2)
    present.chart(left, plots.entropy_histograms(
        {labels[run.id]: snapshots[run.id]["logits"] for run in runs}, COLORS), key="entropy")
    present.chart(right, plots.runs_over_steps(frames, "test_acc", COLORS), key="accuracy")


show_group([run.id for run in groups[group].values()])
