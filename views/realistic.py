"""Realistic evaluation (Oliver et al., 2018): SSL against supervised as the unlabeled data holds classes the
labels do not; per-class pseudo-labels and thresholds under class imbalance."""
import numpy as np
import streamlit as st

from sslengine import plots, realistic
from sslengine.config import RunConfig
from sslengine.metrics import confidence_and_prediction, confusion
from sslengine.store import RunRecord
from views.kit import engine, forms, live, pickers, present, state

MISMATCH, IMBALANCE = "mismatch-form", "imbalance-form"
THIRD = present.names("flexmatch", "freematch", "softmatch", "adamatch", "comatch", "pseudo_label", "mean_teacher")
NAMES = present.names("supervised", "fixmatch") | THIRD
ADAPTIVE = ("fixmatch", "flexmatch", "freematch")  # the imbalance section: a fixed threshold, then two that adapt

st.write(
    "Oliver et al. found that semi-supervised learning's gain over supervised training shrinks, and can turn "
    "into a loss, when the unlabeled data holds classes that the labeled data does not. Here six digits are "
    "labeled and tested, and a share s of the unlabeled data comes from the other four: one button trains "
    "supervised once and FixMatch and one more method at s = 0, 0.25, 0.5, 0.75 and 1 on the same labeled "
    "split. Look at the gain against s, and at how many unseen-class samples pass the threshold: each is "
    "trained on a label that cannot be right. With these defaults on seeds 0-2 (bench/realistic.py), "
    "FixMatch's gain over supervised fell from +0.073 at s = 0 to +0.035 at 0.75 and to -0.194 at 1, while "
    "the unseen-class samples passing rose from 39 % at s = 0.25 to 80 % at 1."
)
st.latex(r"\text{gain}(s) = \text{acc}_{\text{SSL}}(s) - \text{acc}_{\text{supervised}},\qquad "
         r"s = \frac{|U_{\text{unseen classes}}|}{|U|},\qquad "
         r"\text{unseen passing} = \frac{\#\{u \in U_{\text{unseen}} : \max q_u \ge \tau\}}{|U_{\text{unseen}}|}")
present.glossary("mismatch", "threshold", "imbalance")
store = engine.store()


def by_field(test) -> dict[str, list[RunRecord]]:
    """The groups whose runs were started in one of this page's settings (`test` on a config)."""
    return {group: runs for group, runs in pickers.run_groups(NAMES).items() if all(test(r.config) for r in runs)}


def select(key: str):
    def selected(run_ids: list[str]):
        state.choose(key, store.get_run(run_ids[0]).config.group)
    return selected


# Unseen classes ---------------------------------------------------------------------------------------
st.header("Unseen classes in the unlabeled data")


def mismatch_configs() -> list[RunConfig]:
    values = state.form_values(MISMATCH, ("labels_per_class", "steps", "seed"))
    base = values | {"dataset": "digits", "device": state.device()}
    return realistic.mismatch_configs(base, ("fixmatch", state.form_value(MISMATCH, "third")))


with st.expander("Sweep the mismatch share", expanded=not present.presenting()):
    with st.form(MISMATCH, border=False):
        a, b, c, d = st.columns(4)
        a.selectbox("Beside FixMatch", list(THIRD), format_func=THIRD.get, key=state.form_key(MISMATCH, "third"))
        forms.field(b, MISMATCH, "labels_per_class", st.number_input, "Labels per class", 1, 100, 2)
        forms.field(c, MISMATCH, "steps", st.number_input, "Steps per run", 1, 100_000, 500, step=100)
        d.number_input("Seed", 0, 2**31 - 1, 0, key=state.form_key(MISMATCH, "seed"))
        forms.other_errors(MISMATCH, {"labels_per_class", "steps"})
        st.form_submit_button("Sweep the share (11 runs, one after another)", type="primary",
                              icon=":material/play_arrow:", on_click=forms.start_runs,
                              args=(MISMATCH, mismatch_configs, select("mismatch-group")))

def show_mismatch(group: str):
    runs = by_field(lambda config: config.mismatch is not None).get(group, [])
    done = sum(run.status == "finished" for run in runs)
    st.progress(done / len(runs), text=f"{done} of {len(runs)} runs finished")
    for run in runs:
        present.run_status(run, run.name, progress=False)
    table = realistic.mismatch_table(store, runs)
    if table.empty:
        st.info("Waiting for the first run to finish.")
        return
    table["method"] = table.method.map(NAMES)
    colors = dict(zip(["Supervised", "FixMatch", *sorted(set(table.method) - {"Supervised", "FixMatch"})],
                      plots.RUN_COLORS))
    left, right = present.chart_columns(2)
    present.chart(left, plots.by_share(table, "test_acc", "Test accuracy against the mismatch share", colors,
                                      flat="Supervised"), key="mismatch-accuracy")
    present.chart(right, plots.by_share(table[table.method != "Supervised"], "unseen_pass_rate",
                                       "Unseen-class samples passing the threshold (last fifth of training)",
                                       colors, percent=True), key="mismatch-unseen")
    st.dataframe(table.rename(columns={"test_acc": "test accuracy", "gain": "gain over supervised",
                                       "unseen_pass_rate": "unseen passing"}), hide_index=True,
                 column_config={"test accuracy": st.column_config.NumberColumn(format="%.3f"),
                                "gain over supervised": st.column_config.NumberColumn(format="%+.3f"),
                                "unseen passing": st.column_config.NumberColumn(format="percent")})


sweeps = by_field(lambda config: config.mismatch is not None)
if not sweeps:  # the page goes on to its second section
    st.info("No sweep yet: press Sweep the share, or run `python -m bench.realistic` for the table in bench/README.md.")
else:
    group = pickers.choose("Sweep", sweeps, "mismatch-group", "", query="sweep")
    st.fragment(run_every=live.live_every(*sweeps[group], seconds=live.SNAPSHOT_SECONDS))(show_mismatch)(group)


# Imbalance ---------------------------------------------------------------------------------------------
st.header("Imbalanced classes: per-class pseudo-labels and thresholds")
st.write("With a long tail, the rare classes are predicted with less confidence: a fixed threshold passes few "
         "of their pseudo-labels, while FlexMatch and FreeMatch lower each class's threshold as it learns. "
         "Compare the thresholds over steps and how right each class's passing pseudo-labels are.")


def imbalance_configs() -> list[RunConfig]:
    values = state.form_values(IMBALANCE, ("labels_per_class", "imbalance", "steps", "seed"))
    return forms.together(values | {"dataset": "digits"},
                           [(method, NAMES[method], {}) for method in ADAPTIVE], f"imbalance {values['imbalance']:g}")


with st.expander("Train the three", expanded=False):
    with st.form(IMBALANCE, border=False):
        a, b, c, d = st.columns(4)
        forms.field(a, IMBALANCE, "imbalance", st.number_input, "Imbalance ratio r", 1.0, 100.0, 10.0, step=1.0)
        forms.field(b, IMBALANCE, "labels_per_class", st.number_input, "Labels, largest class", 1, 100, 10)
        forms.field(c, IMBALANCE, "steps", st.number_input, "Steps", 1, 100_000, 1000, step=100)
        d.number_input("Seed", 0, 2**31 - 1, 0, key=state.form_key(IMBALANCE, "seed"))
        forms.other_errors(IMBALANCE, {"imbalance", "labels_per_class", "steps"})
        st.form_submit_button("Train FixMatch, FlexMatch and FreeMatch", type="primary",
                              icon=":material/play_arrow:", on_click=forms.start_runs,
                              args=(IMBALANCE, imbalance_configs, select("imbalance-group")))

def imbalance_only(config: RunConfig) -> bool:
    return config.imbalance != 1 and config.mismatch is None


imbalanced = by_field(imbalance_only)
group = pickers.choose("Comparison", imbalanced, "imbalance-group",
                      "No comparison yet: press Train the three (about a minute for each on a CPU).", query="imbalance")


@st.fragment(run_every=live.live_every(*imbalanced[group], seconds=live.SNAPSHOT_SECONDS))
def show_imbalance(group: str):
    runs = pickers.newest_by_method(by_field(imbalance_only).get(group, []))
    for method in ADAPTIVE:
        if method not in runs:
            continue
        run = runs[method]
        present.run_status(run, NAMES[method])
        steps = store.snapshot_steps(run.id)
        if not steps:
            continue
        arrays = engine.snapshot(store.url, run.id, steps[-1])
        logits, target = arrays["logits"], arrays["target"]
        confidence, prediction = confidence_and_prediction(logits, run.config.temperature)
        scalars = store.scalars(run.id)
        left, right = present.chart_columns(2)
        thresholds = np.full(logits.shape[1], run.config.threshold)
        if scalars.key.str.startswith("threshold_").any():  # each class's own, as the method last set them
            last = scalars[scalars.step == scalars.step.max()].set_index("key").value
            thresholds = np.array([last.get(f"threshold_{c}", run.config.threshold) for c in range(len(thresholds))])
            present.chart(left, plots.class_thresholds(scalars, run.config.threshold), key=f"thresholds-{method}")
        else:
            left.caption(f"{NAMES[method]} keeps one threshold, tau = {run.config.threshold:g}, for every class.")
        passing = confidence >= thresholds[prediction]
        counts = confusion(target[passing], prediction[passing], logits.shape[1])
        present.chart(right, plots.accuracy_by_class(
            counts, f"{NAMES[method]}: passing pseudo-labels by class ({passing.mean():.0%} pass)"),
            key=f"by-class-{method}")
        profile = np.bincount(target, minlength=logits.shape[1])
        st.caption(f"{NAMES[method]}'s probe set by class (unlabeled samples, on the imbalance profile): " +
                   ", ".join(f"{c}: {n}" for c, n in enumerate(profile)))


show_imbalance(group)
