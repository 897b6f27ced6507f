"""Pseudo-labels and threshold: start a FixMatch or Pseudo-Label run, watch it live, and ask what-if
questions of its stored probe logits."""
import numpy as np
import pandas as pd
import streamlit as st
import torch

from sslengine import plots
from sslengine.algorithms import ALGORITHMS
from sslengine.algorithms.base import AT_TAU
from sslengine.config import DATASETS, RunConfig
from sslengine.image_sets import class_names
from sslengine.metrics import (confidence_and_prediction, confusion, passing, pseudo_label_stats,
                              threshold_groups)
from sslengine.store import RunRecord
from views.kit import engine, forms, live, pickers, present, state

FORM = "threshold-form"
# The methods this page shows: those whose presentation names it (a new one appears here by itself), FixMatch
# first, whose rule the others change.
METHODS = dict(sorted(present.names(page="threshold").items(), key=lambda item: item[0] != "fixmatch"))

st.write(
    "FixMatch labels each unlabeled image with the model's own prediction on a weakly augmented view, and "
    "trains the strongly augmented view on that label only when the prediction is confident enough. Watch "
    "the mask rate (how many pass) against the accuracy of those that pass, then drag the threshold and "
    "temperature: the charts recompute from the stored predictions, with no retraining. The other methods "
    "change the rule: FlexMatch and FreeMatch adapt a threshold per class, SoftMatch weighs every label, Dash "
    "lowers a loss threshold as training goes, UDA trains on sharpened soft targets (T = 0.4) and SimMatch "
    "and CoMatch blend in the labels of similar embeddings; the curves show the mask each one's loss used."
)
st.latex(r"\ell_u = \frac{1}{\mu B}\sum_{b=1}^{\mu B} \mathbb{1}\!\left[\max q_b \ge \tau\right]"
         r"\,\mathrm{CE}\!\left(\arg\max q_b,\; f(\mathcal{A}(u_b))\right),\quad "
         r"q_b = \mathrm{softmax}\!\left(f(\alpha(u_b)) / T\right)")
present.glossary("threshold", "temperature", "mu", "lambda_u", "mask rate", "probe set")
store = engine.store()


def form_config() -> list[RunConfig]:
    values = state.form_values(FORM, ("algorithm", "dataset", "labels_per_class", "threshold", "temperature",
                                       "lambda_u", "mu", "steps", "seed"))
    return [RunConfig(**values, device=state.device(),
                      name=f"{METHODS[values['algorithm']]} {values['dataset']} tau={values['threshold']}")]


def select_started(run_ids: list[str]):
    state.choose("threshold-run", run_ids[0])


defaults = RunConfig()
with st.expander("Start a run", expanded=not present.presenting()):
    with st.form(FORM, border=False):
        a, b, c, d = st.columns(4)
        a.selectbox("Method", list(METHODS), format_func=METHODS.get, key=state.form_key(FORM, "algorithm"))
        forms.field(b, FORM, "dataset", st.selectbox, "Dataset", DATASETS, index=DATASETS.index(defaults.dataset))
        forms.field(c, FORM, "labels_per_class", st.number_input, "Labels per class", 1, 1000,
                     defaults.labels_per_class)
        forms.field(d, FORM, "steps", st.number_input, "Steps", 1, 100_000, defaults.steps, step=100)
        a, b, c, d, e = st.columns(5)
        a.slider("Threshold tau", 0.0, 1.0, defaults.threshold, 0.01, key=state.form_key(FORM, "threshold"))
        b.slider("Temperature T", 0.1, 5.0, defaults.temperature, 0.1, key=state.form_key(FORM, "temperature"))
        c.slider("Unlabeled weight lambda_u", 0.0, 5.0, defaults.lambda_u, 0.1, key=state.form_key(FORM, "lambda_u"))
        d.number_input("mu (unlabeled per labeled)", 1, 32, defaults.mu, key=state.form_key(FORM, "mu"))
        e.number_input("Seed", 0, 2**31 - 1, defaults.seed, key=state.form_key(FORM, "seed"))
        forms.other_errors(FORM, {"dataset", "labels_per_class", "steps"})
        st.form_submit_button("Start", type="primary", icon=":material/play_arrow:",
                              on_click=forms.start_runs, args=(FORM, form_config, select_started))

picked = pickers.choose_run(METHODS, "threshold-run",
                           f"No pseudo-labelling run ({', '.join(METHODS.values())}) in the store yet: press "
                           "Start, or run `python -m sslengine run fixmatch --dataset digits`.",
                           lesson="pseudo-label-quality")
if picked.algorithm != "fixmatch":  # the rule this run's loss used
    st.markdown(f"This run's method, **{METHODS[picked.algorithm]}**, in place of FixMatch's loss above:")
    st.latex(ALGORITHMS[picked.algorithm].presentation.formula)


def live_curves(run: RunRecord, scalars: pd.DataFrame):
    """Test accuracy, mask rate and pseudo-label accuracy, with the series the run's method logs beside them
    as its presentation says (a fixed tau's share beside an adaptive rule, class thresholds, a weight curve)."""
    method = ALGORITHMS[run.algorithm]
    series = method.presentation.series
    charts = {line.chart: line for line in series}
    ema, unseen = ("student_test_acc" in set(scalars.key)), ("unseen_pass_rate" in set(scalars.key))
    adaptive = AT_TAU in series  # its loss's mask is not max q >= tau: show that one beside it
    curves = plots.curves_over_steps(
        scalars, ["test_acc", *["student_test_acc"] * ema, "mask_rate", *["mask_rate_at_tau"] * adaptive,
                  "pseudo_label_acc", "pseudo_label_acc_passing", *["unseen_pass_rate"] * unseen,
                  *[line.key for line in series if line.chart == "curves" and line != AT_TAU]],
        "Test accuracy, mask rate and pseudo-label accuracy over steps",
        names={line.key: line.label for line in series if line.label} | ({"test_acc": "test accuracy, EMA model"}
                                                                           if ema else {}))
    st.caption("The mask rate and the accuracy of the labels passing are those of the mask (or weight) "
               f"{METHODS[run.algorithm]}'s loss used at each step"
               + (", and the grey line is the share a fixed tau would have passed, for comparison."
                  if adaptive else "."))
    if ema:
        st.caption("The mask rate and pseudo-label curves, and the snapshots below, come from the training model: "
                   "the one that makes the pseudo-labels. Test accuracy is given for it and for the EMA of its "
                   f"weights (decay {run.config.ema_decay}), which FixMatch evaluates and which lags the training "
                   "model at first.")
    if "per class" in charts:  # FlexMatch, FreeMatch: thresholds adapt per class
        left, right = present.chart_columns(2)
        present.chart(left, curves, key="curves")
        present.chart(right, plots.class_thresholds(scalars, run.config.threshold), key="class-thresholds")
    elif "weights" in charts:  # SoftMatch: a weight for every pseudo-label instead of a mask
        left, right = present.chart_columns(2)
        present.chart(left, curves, key="curves")
        last = scalars[scalars.step == scalars.step.max()].set_index("key").value
        confidence = torch.linspace(0, 1, 201)
        present.chart(right, plots.confidence_weights(
            confidence.numpy(), method.weights(confidence, last).numpy(), run.config.threshold,
            f"Weight against confidence at step {scalars.step.max()} ({charts['weights'].label.format(**last)})"),
            key="confidence-weights")
    else:
        present.chart(st, curves, key="curves")
    if method.presentation.about:
        st.caption(method.presentation.about)


@st.fragment(run_every=live.live_every(picked, seconds=live.SNAPSHOT_SECONDS))
def what_if(run_id: str, was_live: bool):
    run = store.get_run(run_id)
    steps = store.snapshot_steps(run_id)
    if not steps:
        st.info("This run has no probe snapshot yet.")
        return
    st.subheader("What if: threshold and temperature over one snapshot")
    left, right = st.columns([3, 1])
    follow = right.toggle("Follow the newest snapshot", value=True, key=f"follow-{run_id}",
                          disabled=not was_live) and was_live
    followed = state.followed(run_id)  # the run ended while followed: to its end
    state.set_followed(run_id, follow)
    if follow or followed or state.chosen(state.step_key(run_id)) not in steps:
        state.choose(state.step_key(run_id), steps[-1])
    step = left.select_slider("Snapshot at step", options=steps, key=state.step_key(run_id), disabled=follow)
    a, b, c = st.columns([2, 2, 1])
    threshold = a.slider("Threshold tau (what-if)", 0.0, 1.0, float(run.config.threshold), 0.01,
                         key=f"tau-{run_id}")
    temperature = b.slider("Temperature T (what-if)", 0.1, 5.0, float(run.config.temperature), 0.1,
                           key=f"temperature-{run_id}")
    log_y = c.toggle("Log counts", value=True, key="log-y")

    arrays = engine.snapshot(store.url, run_id, step)
    logits, target = arrays["logits"], arrays["target"]
    stats = pseudo_label_stats(logits, target, threshold, temperature)
    columns = st.columns(4 if "unseen_pass_rate" in stats else 3)
    columns[0].metric("Share passing", f"{stats['mask_rate']:.1%}")
    columns[1].metric("Accuracy of those passing", "-" if np.isnan(stats["pseudo_label_acc_passing"])
                      else f"{stats['pseudo_label_acc_passing']:.1%}")
    columns[2].metric("Accuracy of all argmax labels", f"{stats['pseudo_label_acc']:.1%}")
    if "unseen_pass_rate" in stats:  # mismatch: classes held out of the labels, which no pseudo-label can be
        columns[3].metric("Unseen-class samples passing", f"{stats['unseen_pass_rate']:.1%}",
                          help="samples of the classes held out of the labeled data: every one that passes is "
                               "trained on a wrong label")
    a, b, c = present.chart_columns(3)
    present.chart(a, plots.quantity_quality_curve(logits, target, threshold, temperature), key="qq")
    present.chart(b, plots.confidence_histogram(logits, target, threshold, temperature, log_y), key="hist")
    confidence, prediction = confidence_and_prediction(logits, temperature)
    passed = passing(confidence, threshold)
    seen = passed & (target < logits.shape[1])  # the confusion has rows for the model's classes only
    counts = confusion(target[seen], prediction[seen], logits.shape[1])
    present.chart(c, plots.confusion_heatmap(counts, f"Pseudo-labels passing: {passed.sum()} of {len(passed)}"),
                   key="confusion")
    present.chart(st, plots.accuracy_by_class(counts, "Accuracy of the passing pseudo-labels, by class"),
                    key="accuracy-by-class")
    first = engine.snapshot(store.url, run_id, 0)
    if "probe_images" in first:
        image_grid(first["probe_images"], logits, target, threshold, temperature,
                   class_names(run.dataset, max(logits.shape[1], int(target.max()) + 1)))


GRID_PER_GROUP = 10  # one row at the page's width
GROUPS = {"right": ("Confident and right", plots.CORRECT),
          "wrong": ("Confident and wrong: these fool the threshold", plots.WRONG),
          "below": ("Below the threshold: not trained on", None)}


def image_grid(images: np.ndarray, logits: np.ndarray, target: np.ndarray, threshold: float, temperature: float,
               names: list[str]):
    """The probe images in each group the what-if tau and T make, with their pseudo-label and true class."""
    st.subheader("Which images pass, and which fool the threshold")
    st.caption("Unlabeled images of the probe set as the pseudo-labeller saw them (one weak view), most confident "
               "first, each with its pseudo-label, its confidence and its true class, which training never sees. "
               "The red-framed ones pass tau with a wrong label: the model trains on that mistake.")
    confidence, prediction = confidence_and_prediction(logits, temperature)
    for group, members in threshold_groups(logits, target, threshold, temperature).items():
        title, frame = GROUPS[group]
        st.markdown(f"**{title}** · {len(members)} of {len(logits)}")
        shown = members[:GRID_PER_GROUP]
        if not len(shown):
            st.caption("None at this threshold and temperature.")
            continue
        st.image([plots.image_tile(images[i], frame=frame) for i in shown], width=80,
                 caption=[f"{names[prediction[i]]} {confidence[i]:.1%} · true {names[target[i]]}" for i in shown])


was_live = live.live_every(picked) is not None
live.follow(picked, live_curves)
what_if(picked.id, was_live)
