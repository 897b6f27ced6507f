"""Plotly figures from data frames and probe arrays, shared by the pages and their tests."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from .probes import confidence_and_prediction, quantity_quality

CORRECT, WRONG = "#2a9d8f", "#e76f51"


def curves_over_steps(scalars: pd.DataFrame, keys: list[str], title: str) -> go.Figure:
    """Lines of the given scalar keys against step; `uirevision` keeps the user's zoom across redraws."""
    frame = scalars[scalars.key.isin(keys)]
    figure = px.line(frame, x="step", y="value", color="key", title=title, markers=len(frame) < 40)
    figure.update_layout(uirevision=title, yaxis_range=[0, 1.02], legend_title_text="")
    return figure


def quantity_quality_curve(logits: np.ndarray, target: np.ndarray, threshold: float,
                           temperature: float) -> go.Figure:
    """Share of pseudo-labels passing and accuracy of those passing, against the threshold."""
    thresholds = np.linspace(0, 1, 101)
    share, accuracy = quantity_quality(logits, target, thresholds, temperature)
    figure = go.Figure([
        go.Scatter(x=thresholds, y=share, name="share passing (quantity)"),
        go.Scatter(x=thresholds, y=accuracy, name="accuracy of those passing (quality)"),
    ])
    point_share, point_acc = quantity_quality(logits, target, np.array([threshold]), temperature)
    figure.add_trace(go.Scatter(x=[threshold, threshold], y=[point_share[0], point_acc[0]], mode="markers",
                                marker=dict(size=12, color="black"), name=f"threshold {threshold:.2f}"))
    figure.update_layout(title="Quantity against quality", xaxis_title="confidence threshold",
                         yaxis_range=[0, 1.02], uirevision="quantity-quality")
    return figure


def confidence_histogram(logits: np.ndarray, target: np.ndarray, threshold: float,
                         temperature: float) -> go.Figure:
    """Confidence of the pseudo-labels, correct and wrong stacked, with the threshold drawn."""
    confidence, prediction = confidence_and_prediction(logits, temperature)
    frame = pd.DataFrame({"confidence": confidence,
                          "pseudo-label": np.where(prediction == target, "correct", "wrong")})
    figure = px.histogram(frame, x="confidence", color="pseudo-label", nbins=40, range_x=[0, 1],
                          color_discrete_map={"correct": CORRECT, "wrong": WRONG},
                          category_orders={"pseudo-label": ["correct", "wrong"]},
                          title="Confidence of pseudo-labels")
    figure.add_vline(x=threshold, line_dash="dash", annotation_text="threshold")
    figure.update_layout(barmode="stack", uirevision="histogram")
    return figure
