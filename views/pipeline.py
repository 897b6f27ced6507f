"""SimCLR pipeline: pretrain without labels, fine-tune on the few labels, distill into a smaller student,
each stage against FixMatch from scratch; and FixMatch with SimCLR's loss added (O / L / U)."""

import pandas as pd
import streamlit as st

from sslengine import lessons, plots
from sslengine.algorithms import ALGORITHMS
from sslengine.config import DATASETS, RunConfig
from sslengine.store import RunRecord
from views.kit import engine, forms, live, pickers, present, state

PIPELINE, OLU = "pipeline-form", "olu-form"
PRETRAINERS = {name: method.presentation.name for name, method in ALGORITHMS.items()  # what learns a representation
               if method.learns_representation and not method.has_classifier}
STAGES = {**{method: f"{name} (linear probe)" for method, name in PRETRAINERS.items()}, "finetune": "fine-tuned",
          "distill": "distilled student", "fixmatch": "FixMatch from scratch"}
# One colour per role: a pipeline pretrains with one method, whichever it is.
STAGE_COLORS = {stage: plots.RUN_COLORS[max(0, i - len(PRETRAINERS) + 1)] for i, stage in enumerate(STAGES.values())}

st.write(
    "SimCLRv2's recipe for few labels: pretrain a representation on all images without labels, fine-tune it "
    "on the labeled ones starting from the first layer of the projection head, then let the fine-tuned "
    "network label the unlabeled images with softened predictions for a student half its width. Compare "
    "each stage's test accuracy with FixMatch trained from scratch on the same labels."
)
# Each stage's steps default to the distillation lesson's preset, which the sentence below measures.
PRESET = {role.name: role.settings for stage in lessons.lesson("distill").preset("small").stages for role in stage}
if sentence := lessons.measured("distill"):
    st.markdown(f"**These defaults as the Lessons page's distillation preset** (student against teacher): {sentence}")
st.latex(r"\text{fine-tune: } \mathrm{CE}\big(y, h(g_1(e(x)))\big)\qquad"
         r"\text{distill: } -\sum_y p_T(y\mid u;\tau)\,\log p_S(y\mid u;\tau),\quad "
         r"p(y\mid u;\tau) = \mathrm{softmax}(f(u)/\tau)")
store = engine.store()


def split_fields(form: str, steps: int, steps_label: str = "Steps"):
    a, b, c, d = st.columns(4)
    a.selectbox("Dataset", DATASETS, index=DATASETS.index("digits"), key=state.form_key(form, "dataset"))
    forms.field(b, form, "labels_per_class", st.number_input, "Labels per class", 1, 1000, 2)
    c.number_input(steps_label, 1, 100_000, steps, step=100, key=state.form_key(form, "steps"))
    d.number_input("Seed", 0, 2**31 - 1, 0, key=state.form_key(form, "seed"))


def final_accuracy(run: RunRecord) -> float | None:
    return store.final_scalars(run.id).get("test_acc")


# Pretrain, fine-tune, distill --------------------------------------------------------------------------
st.header("Pretrain, fine-tune, distill")


def pipeline_configs() -> list[RunConfig]:
    values = state.form_values(PIPELINE, ("dataset", "labels_per_class", "steps", "seed"))
    baseline = {"steps": state.form_value(PIPELINE, "baseline_steps")}
    pretrainer = state.form_value(PIPELINE, "pretrainer")
    return forms.together(values, [(pretrainer, PRETRAINERS[pretrainer], {}),
                                    ("fixmatch", "FixMatch from scratch", baseline)], "pipeline")


def select_group(key: str):
    """An on-started callback that shows the group of the runs just started in the selectbox `key`."""
    def select(run_ids: list[str]):
        state.choose(key, store.get_run(run_ids[0]).config.group)
    return select


with st.expander("Pretrain (with the FixMatch baseline on the same labels)", expanded=not present.presenting()):
    with st.form(PIPELINE, border=False):
        split_fields(PIPELINE, PRESET["simclr"]["steps"], "Pretraining steps")
        a, b, _, _ = st.columns(4)
        a.selectbox("Pretrain with", list(PRETRAINERS), format_func=PRETRAINERS.get,
                    key=state.form_key(PIPELINE, "pretrainer"),
                    help="SimCLR, BYOL and MoCo v3 are on the Embeddings page; the rest of the pipeline is the same. "
                         "BYOL needs more steps than SimCLR: at 300 its probe scored 0.675 on seed 0, at 1 000 0.889")
        # FixMatch's own default, as on the threshold page: a baseline cut to the pretraining's steps is weak.
        b.number_input("FixMatch baseline steps", 1, 100_000, RunConfig().steps, step=100,
                       key=state.form_key(PIPELINE, "baseline_steps"))
        forms.other_errors(PIPELINE, {"labels_per_class"})
        st.form_submit_button("Pretrain", type="primary", icon=":material/play_arrow:",
                              on_click=forms.start_runs, args=(PIPELINE, pipeline_configs,
                                                                select_group("pipeline-group")))

def newest_finished(runs: list[RunRecord], algorithms: tuple[str, ...]) -> RunRecord | None:
    return next((run for run in runs if run.algorithm in algorithms and run.status == "finished"), None)


def next_stage(form: str, algorithm: str, parent: RunRecord | None, runs: list[RunRecord], group: str):
    """The button that starts the next stage from the newest finished run of the one before, on the split
    the pipeline's runs share."""
    split = runs[0].config
    label = {"finetune": "Fine-tune", "distill": "Distill"}[algorithm]

    def configs() -> list[RunConfig]:
        setting = "finetune_mode" if algorithm == "finetune" else "distill_temperature"
        values = state.form_values(form, (setting, "steps"))
        return [RunConfig(algorithm=algorithm, dataset=split.dataset, labels_per_class=split.labels_per_class,
                          seed=split.seed, group=group, device=state.device(), name=f"{label} · {group}",
                          **values)]

    with st.form(form, border=False):
        if algorithm == "finetune":
            st.radio("Fine-tune", ["full", "linear"], horizontal=True, key=state.form_key(form, "finetune_mode"),
                     format_func={"full": "all layers", "linear": "linear probe (frozen)"}.get)
        else:
            st.slider("Temperature tau", 0.5, 5.0, RunConfig(algorithm="distill").distill_temperature, 0.5,
                      key=state.form_key(form, "distill_temperature"),
                      help="divides both networks' logits before the softmax: tau > 1 passes on more of the "
                           "teacher's second choices")
        st.number_input("Steps", 1, 100_000, PRESET["teacher" if algorithm == "finetune" else "student"]["steps"],
                        step=100, key=state.form_key(form, "steps"))
        forms.other_errors(form, set())
        st.form_submit_button(label, disabled=parent is None, icon=":material/play_arrow:",
                              help=None if parent else "waits for the stage before to finish",
                              on_click=forms.start_runs,
                              args=(form, configs, lambda run_ids: None, parent.id if parent else None))


pipelines = pickers.run_groups(STAGES, marked_by=tuple(PRETRAINERS))
if not pipelines:
    st.info("No pipeline yet: press Pretrain, or run `python -m sslengine run simclr --group G`, then "
            "`run finetune --parent ID` and `run distill --parent ID`.")
else:
    group = pickers.choose("Pipeline", pipelines, "pipeline-group", "", query="group")

    @st.fragment(run_every=live.live_every(*pipelines[group]))
    def show_pipeline(group: str):
        runs = pickers.run_groups(STAGES, marked_by=tuple(PRETRAINERS)).get(group, [])
        for run in runs:
            present.run_status(run, run.name, progress=False)
        left, right = st.columns(2)
        with left:
            next_stage("finetune-form", "finetune", newest_finished(runs, tuple(PRETRAINERS)), runs, group)
        with right:
            next_stage("distill-form", "distill", newest_finished(runs, ("finetune",)), runs, group)
        table = pd.DataFrame([{"stage": STAGES[run.algorithm], "run": run.name, "id": run.id,
                               "test accuracy": final_accuracy(run), "status": run.status} for run in runs])
        present.chart(st, plots.stage_accuracy(table, STAGE_COLORS), key="stages")
        series = [(f"{STAGES[run.algorithm]} · {run.id[:6]}", store.scalars(run.id), "test_acc",
                   STAGE_COLORS[STAGES[run.algorithm]], "solid") for run in runs]
        present.chart(st, plots.series_over_steps(series, "Test accuracy over steps (pretraining: its linear probe)"),
                        key="stage-curves")

    show_pipeline(group)


# O / L / U ---------------------------------------------------------------------------------------------
st.header("FixMatch with SimCLR: O, L, U")
st.write("O is plain FixMatch; L adds SimCLR's loss between two views of the labeled images, U between the "
         "weak and strong views of the unlabeled ones that FixMatch draws anyway.")
VARIANTS = {"O": ("fixmatch", "U"), "L": ("fixmatch_simclr", "L"), "U": ("fixmatch_simclr", "U")}
OLU_METHODS = ("fixmatch", "fixmatch_simclr")


def olu_configs() -> list[RunConfig]:
    values = state.form_values(OLU, ("dataset", "labels_per_class", "steps", "seed"))
    return forms.together(values, [(algorithm, name, {"variant": variant})
                                    for name, (algorithm, variant) in VARIANTS.items()], "O / L / U")


with st.expander("Run the three", expanded=False):
    with st.form(OLU, border=False):
        split_fields(OLU, 1000)
        forms.other_errors(OLU, {"labels_per_class"})
        st.form_submit_button("Run O, L and U", type="primary", icon=":material/play_arrow:",
                              on_click=forms.start_runs, args=(OLU, olu_configs, select_group("olu-group")))

comparisons = pickers.run_groups(OLU_METHODS, marked_by=("fixmatch_simclr",))
olu_group = pickers.choose("Comparison", comparisons, "olu-group",
                          "No comparison yet: press Run O, L and U (about four minutes on a CPU for all three).",
                          query="olu")


@st.fragment(run_every=live.live_every(*comparisons[olu_group]))
def show_olu(group: str):
    runs = pickers.run_groups(OLU_METHODS, marked_by=("fixmatch_simclr",)).get(group, [])
    variant = {run.id: plots.olu_role(run.algorithm, run.config.variant) for run in runs}
    for run in runs:
        present.run_status(run, run.name, progress=False)
    frames = {run.id: store.scalars(run.id) for run in runs}
    left, right = present.chart_columns(2)
    present.chart(left, plots.series_over_steps(
        [(variant[run.id], frames[run.id], "test_acc", plots.ROLE_COLORS[variant[run.id]], "solid") for run in runs],
        "Test accuracy over steps"), key="olu-accuracy")
    present.chart(right, plots.series_over_steps(
        [(variant[run.id], frames[run.id], "knn_acc", plots.ROLE_COLORS[variant[run.id]], "solid") for run in runs
         if variant[run.id] != "O"], "kNN accuracy of the embedding (L and U)"), key="olu-knn")
    st.dataframe(pd.DataFrame([{"variant": variant[run.id], "test accuracy": final_accuracy(run),
                                "status": run.status, "run": run.name, "id": run.id} for run in runs]),
                 hide_index=True)


show_olu(olu_group)
