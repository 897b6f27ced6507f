"""Pseudo-labels and threshold: a what-if over the stored probe logits of a FixMatch or Pseudo-Label run."""
import numpy as np
import streamlit as st

from sslengine import plots
from sslengine.probes import pseudo_label_stats
from sslengine.store import Store

st.title("Pseudo-labels and threshold")
st.write(
    "FixMatch labels each unlabeled image with the model's own prediction on a weakly augmented view, and "
    "trains the strongly augmented view on it only when that prediction is confident enough. Drag the "
    "threshold and temperature: the charts recompute from the stored predictions, with no retraining, how "
    "many pseudo-labels would pass and how many of those are wrong."
)
st.latex(r"\ell_u = \frac{1}{\mu B}\sum_{b=1}^{\mu B} \mathbb{1}\!\left[\max q_b \ge \tau\right]"
         r"\,\mathrm{CE}\!\left(\arg\max q_b,\; f(\mathcal{A}(u_b))\right),\quad "
         r"q_b = \mathrm{softmax}\!\left(f(\alpha(u_b)) / T\right)")

store = Store()
runs = [run for run in store.list_runs() if run.algorithm in ("fixmatch", "pseudo_label")]
if not runs:
    st.info("No FixMatch or Pseudo-Label run in the store yet. Start one with "
            "`python -m sslengine run fixmatch --dataset digits`.")
    st.stop()

run = st.selectbox("Run", runs, format_func=lambda r: f"{r.name} ({r.status}, {r.id})")
if run.status == "failed":
    st.error(f"This run failed: {run.error}")
scalars = store.scalars(run.id)
st.plotly_chart(plots.curves_over_steps(
    scalars, ["test_acc", "mask_rate", "pseudo_label_acc", "pseudo_label_acc_passing"],
    "Accuracy, mask rate and pseudo-label accuracy over steps"))

steps = store.snapshot_steps(run.id)
if not steps:
    st.info("This run has no probe snapshot yet.")
    st.stop()
step = st.select_slider("Snapshot at step", options=steps, value=steps[-1])
left, right = st.columns(2)
threshold = left.slider("Threshold tau (what-if)", 0.0, 1.0, float(run.config.threshold), 0.01)
temperature = right.slider("Temperature T (what-if)", 0.1, 5.0, float(run.config.temperature), 0.1)

snapshot = store.arrays(run.id, step)
logits, target = snapshot["logits"], snapshot["target"]
stats = pseudo_label_stats(logits, target, threshold, temperature)
a, b, c = st.columns(3)
a.metric("Share passing", f"{stats['mask_rate']:.1%}")
b.metric("Accuracy of those passing",
         "-" if np.isnan(stats["pseudo_label_acc_passing"]) else f"{stats['pseudo_label_acc_passing']:.1%}")
c.metric("Accuracy of all argmax labels", f"{stats['pseudo_label_acc']:.1%}")
left, right = st.columns(2)
left.plotly_chart(plots.quantity_quality_curve(logits, target, threshold, temperature))
right.plotly_chart(plots.confidence_histogram(logits, target, threshold, temperature))
