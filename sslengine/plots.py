"""Plotly figures from data frames and probe arrays, shared by the pages and their tests.

Built with graph_objects rather than plotly.express: a live page redraws every second in the process that
trains, and express costs several times more Python per figure. Every figure sets `uirevision`, so a
redraw keeps the user's zoom and legend choices.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .metrics import confidence_and_prediction, entropy, quantity_quality

CORRECT, WRONG = "#2a9d8f", "#e76f51"
# One color per run wherever runs are shown side by side (Okabe-Ito, readable for color-blind viewers).
RUN_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7")
# The course's O, L and U (plain FixMatch; with SimCLR's loss on the labeled views; on the unlabeled ones) keep
# one color on every page that draws them: the Lessons card, the SimCLR pipeline and Compare.
ROLE_COLORS = {"O": RUN_COLORS[0], "L": RUN_COLORS[2], "U": RUN_COLORS[1]}


def olu_role(algorithm: str, variant: str) -> str | None:
    """O, L or U for FixMatch and FixMatch with SimCLR; None for other methods."""
    return {"fixmatch": "O", "fixmatch_simclr": variant}.get(algorithm)


def run_colors(roles: dict[str, str | None]) -> dict[str, str]:
    """A distinct color for each run label: its role's color (ROLE_COLORS) for the first run of each role, then
    for the others the first of RUN_COLORS that no run took."""
    colors: dict[str, str] = {}
    for label, role in roles.items():
        if role in ROLE_COLORS and ROLE_COLORS[role] not in colors.values():
            colors[label] = ROLE_COLORS[role]
    for label in roles:
        if label not in colors:
            colors[label] = next((c for c in RUN_COLORS if c not in colors.values()), RUN_COLORS[0])
    return {label: colors[label] for label in roles}
LABELS = {
    "test_acc": "test accuracy",
    "student_test_acc": "test accuracy, training model",
    "mask_rate": "mask rate (share the loss used)",
    "mask_rate_at_tau": "share above the fixed tau (what-if)",
    "pseudo_label_acc": "pseudo-label accuracy, all",
    "pseudo_label_acc_passing": "pseudo-label accuracy, passing",
    "unseen_pass_rate": "unseen-class samples passing",
    "dash_confidence": "Dash's threshold, as a confidence exp(-rho)",
    "loss": "loss", "loss_x": "labeled loss", "loss_u": "unlabeled loss",
    "knn_acc": "kNN accuracy", "linear_probe_acc": "linear probe accuracy",
}
# Keys that are shares: drawn on a fixed 0-1 axis, so that a flat line at 1 does not sit mid-chart.
SHARES = {"test_acc", "student_test_acc", "mask_rate", "mask_rate_at_tau", "pseudo_label_acc",
          "pseudo_label_acc_passing", "knn_acc", "linear_probe_acc", "dash_confidence"}
KEY_COLORS = {"test_acc": "#0072B2", "student_test_acc": "#56B4E9", "mask_rate": "#E69F00",
              "mask_rate_at_tau": "#999999", "pseudo_label_acc": "#CC79A7", "pseudo_label_acc_passing": "#009E73",
              "unseen_pass_rate": "#D55E00", "dash_confidence": "#000000"}
_LEGEND_BELOW = dict(orientation="h", yanchor="top", y=-0.22, x=0)


def _layout(figure: go.Figure, title: str, revision: str, **layout) -> go.Figure:
    figure.update_layout(title=title, uirevision=revision, legend=_LEGEND_BELOW,
                         margin=dict(l=50, r=20, t=50, b=40))
    return figure.update_layout(**layout)


def curves_over_steps(scalars: pd.DataFrame, keys: list[str], title: str,
                      names: dict[str, str] | None = None) -> go.Figure:
    """One line per scalar key against step; `names` overrides a key's label."""
    figure = go.Figure()
    for key in keys:
        rows = scalars[scalars.key == key]
        figure.add_trace(go.Scatter(x=rows.step, y=rows.value, name=(names or {}).get(key, LABELS.get(key, key)),
                                    line=dict(color=KEY_COLORS.get(key)),
                                    mode="lines+markers" if len(rows) < 40 else "lines"))
    return _layout(figure, title, title, xaxis_title="step", yaxis_range=[0, 1.02])


def runs_over_steps(frames: dict[str, pd.DataFrame], key: str, colors: dict[str, str]) -> go.Figure:
    """One line per run for one scalar key, each run in its own color."""
    figure = go.Figure()
    for label, scalars in frames.items():
        rows = scalars[scalars.key == key]
        figure.add_trace(go.Scatter(x=rows.step, y=rows.value, name=label, mode="lines",
                                    line=dict(color=colors[label]), showlegend=True))  # one line: whose?
    share = key in SHARES
    return _layout(figure, LABELS.get(key, key), f"runs-{key}", xaxis_title="step",
                   yaxis_range=[0, 1.02] if share else None)


def quantity_quality_curve(logits: np.ndarray, target: np.ndarray, threshold: float,
                           temperature: float) -> go.Figure:
    """Share of pseudo-labels passing and accuracy of those passing, against the threshold."""
    thresholds = np.linspace(0, 1, 101)
    share, accuracy = quantity_quality(logits, target, thresholds, temperature)
    point_share, point_acc = quantity_quality(logits, target, np.array([threshold]), temperature)
    figure = go.Figure([
        go.Scatter(x=thresholds, y=share, name="share passing (quantity)",
                   line=dict(color=KEY_COLORS["mask_rate"])),
        go.Scatter(x=thresholds, y=accuracy, name="accuracy of those passing (quality)",
                   line=dict(color=KEY_COLORS["pseudo_label_acc_passing"])),
        go.Scatter(x=[threshold, threshold], y=[point_share[0], point_acc[0]], mode="markers",
                   marker=dict(size=12, color="black"), name=f"threshold {threshold:.2f}"),
    ])
    return _layout(figure, "Quantity against quality", "quantity-quality", xaxis_title="confidence threshold",
                   yaxis_range=[0, 1.02])


def confidence_histogram(logits: np.ndarray, target: np.ndarray, threshold: float, temperature: float,
                         log_y: bool = True) -> go.Figure:
    """Confidence of the pseudo-labels, correct and wrong side by side in each bin, with the threshold drawn.

    A log count axis keeps the few wrong labels visible beside the tall bar of confident correct ones. Side by
    side, not overlaid: where two translucent bars overlapped their colors mixed into a third.
    """
    confidence, prediction = confidence_and_prediction(logits, temperature)
    correct = prediction == target
    bins = dict(start=0, end=1.0001, size=0.025)
    figure = go.Figure([
        go.Histogram(x=confidence[correct], xbins=bins, name="correct", marker_color=CORRECT),
        go.Histogram(x=confidence[~correct], xbins=bins, name="wrong", marker_color=WRONG),
    ])
    # Written left of the line: at a threshold near 1 a label on its right falls off the chart.
    figure.add_vline(x=threshold, line_dash="dash", annotation_text=f"tau {threshold:.2f}",
                     annotation_position="top left")
    count_axis = dict(type="log", dtick=1) if log_y else dict(type="linear")  # log: powers of ten only
    return _layout(figure, "Confidence of pseudo-labels", "histogram", barmode="group", bargap=0.1,
                   xaxis=dict(title="confidence (max softmax)", range=[0, 1.01]),
                   yaxis=dict(title="count", **count_axis))


def confusion_heatmap(counts: np.ndarray, title: str) -> go.Figure:
    """counts[true, predicted] as a heat map with the numbers written in. No color bar: the numbers say what it
    would, and in a third of the page its width is what keeps three-digit counts at a readable size."""
    classes = [str(c) for c in range(len(counts))]
    figure = go.Figure(go.Heatmap(z=counts, x=classes, y=classes, colorscale="Blues", showscale=False,
                                  text=counts, texttemplate="%{text}",
                                  hovertemplate="true %{y}, pseudo-label %{x}: %{z}<extra></extra>"))
    return _layout(figure, title, "confusion", xaxis=dict(title="pseudo-label", type="category"),
                   yaxis=dict(title="true class", type="category", autorange="reversed"), margin_r=10)


def entropy_histograms(logits: dict[str, np.ndarray], colors: dict[str, str]) -> go.Figure:
    """Prediction entropy on the unlabeled probe, one overlaid histogram per run."""
    figure = go.Figure()
    high = max(np.log(next(iter(logits.values())).shape[-1]), 1e-6)
    for label, values in logits.items():
        figure.add_trace(go.Histogram(x=entropy(values), name=label, marker_color=colors[label], opacity=0.6,
                                      xbins=dict(start=0, end=high * 1.0001, size=high / 30)))
    return _layout(figure, "Prediction entropy on unlabeled data", "entropy", barmode="overlay",
                   xaxis=dict(title="entropy (nats)", range=[0, high * 1.02]), yaxis_title="count")


def decision_boundary(snapshot: dict[str, np.ndarray], first: dict[str, np.ndarray], title: str,
                      height: int = 330) -> go.Figure:
    """P(class 1) over the grid (the argmax class for more classes), the 0.5 contour, the unlabeled probe
    points by true class and the labeled points as large outlined markers.

    `first` is the run's step-0 snapshot, which holds the grid and the points; `snapshot` the probabilities.
    """
    grid, probs = first["grid"], snapshot["grid_probs"]
    side = int(round(np.sqrt(len(grid))))
    xs, ys = grid[:side, 0], grid[::side, 1]
    binary = probs.shape[1] == 2
    z = (probs[:, 1] if binary else probs.argmax(1)).reshape(side, side)
    figure = go.Figure(go.Contour(x=xs, y=ys, z=z, colorscale="RdBu_r", zmin=0, zmax=1 if binary else None,
                                  contours=dict(start=0, end=1, size=0.1) if binary else None,
                                  opacity=0.6, showscale=False, hoverinfo="skip", name="P(class 1)"))
    if binary:
        figure.add_trace(go.Contour(x=xs, y=ys, z=z, contours=dict(start=0.5, end=0.5, coloring="none"),
                                    line=dict(width=3, color="black"), showscale=False, hoverinfo="skip",
                                    name="boundary"))
    probe_x, target = first["probe_x"], snapshot["target"]
    figure.add_trace(go.Scattergl(x=probe_x[:, 0], y=probe_x[:, 1], mode="markers", name="unlabeled",
                                  marker=dict(size=4, color=target, colorscale="RdBu_r", opacity=0.7)))
    figure.add_trace(go.Scatter(x=first["labeled_x"][:, 0], y=first["labeled_x"][:, 1], mode="markers",
                                name="labeled", marker=dict(size=14, color=first["labeled_y"],
                                                            colorscale="RdBu_r", symbol="star",
                                                            line=dict(width=2, color="black"))))
    return _layout(figure, title, f"boundary-{title}", showlegend=False, height=height,
                   xaxis=dict(range=[xs[0], xs[-1]]), yaxis=dict(range=[ys[0], ys[-1]]))


def accuracy_by_run(table: pd.DataFrame) -> go.Figure:
    """Latest test accuracy of each run in `table` (columns name, id, algorithm, test accuracy), one bar
    color per algorithm."""
    figure = go.Figure()
    for algorithm, rows in table.dropna(subset=["test accuracy"]).groupby("algorithm", sort=True):
        figure.add_trace(go.Bar(x=rows["test accuracy"], y=rows["name"] + " · " + rows["id"].str[:6],
                                orientation="h", name=algorithm))
    return _layout(figure, "Latest test accuracy", "accuracy-by-run", xaxis=dict(title="test accuracy",
                                                                                  range=[0, 1]),
                   height=120 + 24 * len(table), yaxis=dict(autorange="reversed"),
                   legend=dict(orientation="v", x=1.02, y=1))


def class_thresholds(scalars: pd.DataFrame, tau: float) -> go.Figure:
    """Per-class thresholds (keys threshold_<class>) over steps, with the fixed tau they adapt from."""
    figure = go.Figure()
    keys = sorted({key for key in scalars.key.unique() if key.startswith("threshold_")},
                  key=lambda key: int(key.removeprefix("threshold_")))
    for key in keys:
        rows = scalars[scalars.key == key]
        figure.add_trace(go.Scatter(x=rows.step, y=rows.value, name=f"class {key.removeprefix('threshold_')}",
                                    mode="lines"))
    figure.add_hline(y=tau, line_dash="dash", annotation_text=f"fixed tau {tau:.2f}")
    return _layout(figure, "Per-class thresholds over steps", "class-thresholds", xaxis_title="step",
                   yaxis_range=[0, 1.02], legend=dict(orientation="v", x=1.02, y=1))


def by_share(table: pd.DataFrame, key: str, title: str, colors: dict[str, str], flat: str | None = None,
             percent: bool = False) -> go.Figure:
    """One line per method of `key` against the mismatch share (columns method, share, key); the method
    `flat`, trained once for every share, as a dashed level line."""
    figure = go.Figure()
    for method, rows in table.groupby("method", sort=False):
        if method == flat:
            figure.add_hline(y=rows[key].iloc[0], line_dash="dash", line_color=colors.get(method),
                             annotation_text=f"{method}: {rows[key].iloc[0]:.3f}")
            continue
        figure.add_trace(go.Scatter(x=rows.share, y=rows[key], name=method, mode="lines+markers",
                                    line_color=colors.get(method)))
    return _layout(figure, title, f"by-share-{key}", xaxis=dict(title="share of unseen-class samples in the "
                                                                     "unlabeled data", range=[-0.03, 1.03]),
                   yaxis=dict(tickformat=".0%" if percent else None))


def confidence_weights(confidence: np.ndarray, weights: np.ndarray, tau: float, title: str) -> go.Figure:
    """A pseudo-label's weight in the loss against its confidence (SoftMatch's), beside a fixed tau's 0/1 mask."""
    figure = go.Figure([go.Scatter(x=confidence, y=weights, name="SoftMatch weight", mode="lines"),
                        go.Scatter(x=confidence, y=(confidence >= tau).astype(float), name=f"FixMatch, tau {tau:g}",
                                   mode="lines", line_dash="dash")])
    return _layout(figure, title, "confidence-weights", xaxis_title="confidence max q",
                   yaxis=dict(title="weight in the loss", range=[0, 1.05]))


def accuracy_by_class(counts: np.ndarray, title: str) -> go.Figure:
    """From counts[true, pseudo-label]: the share of each pseudo-label class that is right, and how many."""
    given = counts.sum(axis=0)
    with np.errstate(invalid="ignore"):
        accuracy = np.diag(counts) / given
    figure = go.Figure(go.Bar(x=[str(c) for c in range(len(counts))], y=accuracy, marker_color=CORRECT,
                              text=[f"{n}" for n in given], textposition="outside", cliponaxis=False,
                              hovertemplate="pseudo-label %{x}: %{y:.1%} right of %{text}<extra></extra>"))
    # The axis ends at 1, the most an accuracy can be; the counts above the bars draw past it.
    return _layout(figure, title, "accuracy-by-class", xaxis=dict(title="pseudo-label", type="category"),
                   yaxis=dict(title="accuracy (bar label: how many)", range=[0, 1]), margin=dict(t=70))


def series_over_steps(series: list[tuple[str, pd.DataFrame, str, str, str]], title: str) -> go.Figure:
    """Lines of (label, scalars, key, color, dash) against step: several keys of several runs in one chart."""
    figure = go.Figure()
    for label, scalars, key, color, dash in series:
        rows = scalars[scalars.key == key]
        figure.add_trace(go.Scatter(x=rows.step, y=rows.value, name=label, mode="lines",
                                    line=dict(color=color, dash=dash)))
    return _layout(figure, title, f"series-{title}", xaxis_title="step")


CLASS_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
                "#999999", "#882255")
_SHADES = " ░▒▓█"


_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as PIL's grey conversion
HOVER_MAX_SIDE = 16  # characters: larger images are averaged down in blocks


def image_tile(image: np.ndarray, side: int = 84, frame: str | None = None) -> np.ndarray:
    """A uint8 image (C, H, W) as an RGB picture of about `side` pixels, each pixel a square block (so 8x8 digits
    stay sharp), with a 3-pixel frame of the color `frame` ("#rrggbb") around it."""
    rgb = np.repeat(image, 3, axis=0) if len(image) == 1 else image
    scale = max(1, round(side / max(image.shape[1:])))
    tile = rgb.transpose(1, 2, 0).repeat(scale, axis=0).repeat(scale, axis=1)
    if frame:
        color = [int(frame[i:i + 2], 16) for i in (1, 3, 5)]
        tile = np.pad(tile, ((3, 3), (3, 3), (0, 0)))
        tile[:3], tile[-3:], tile[:, :3], tile[:, -3:] = color, color, color, color
    return np.ascontiguousarray(tile, dtype=np.uint8)


def image_as_text(image: np.ndarray) -> str:
    """An image (C, H, W) in [0, 1] as rows of shade characters, for a hover label (plotly's cannot hold
    pictures): colour as its luminance, sides above HOVER_MAX_SIDE averaged down."""
    grey = np.tensordot(_LUMA, image, axes=1) if len(image) == 3 else image[0]
    block = -(-max(grey.shape) // HOVER_MAX_SIDE)
    if block > 1:
        h, w = grey.shape[0] // block * block, grey.shape[1] // block * block
        grey = grey[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3))
    levels = np.clip((grey * len(_SHADES)).astype(int), 0, len(_SHADES) - 1)
    return "<br>".join("".join(_SHADES[level] * 2 for level in row) for row in levels)


def embedding_map(layout: np.ndarray, target: np.ndarray, n_labeled: int, hover: list[str], title: str,
                  extent: float = 2.8) -> go.Figure:
    """The probe points by true class, the last `n_labeled` rows (the labeled samples) as outlined stars.
    Fixed axes, so that maps of successive steps (aligned in sslengine.layouts) overlay."""
    figure = go.Figure()
    probe = len(layout) - n_labeled
    for c in np.unique(target):
        for labeled, rows in ((False, np.arange(probe)), (True, np.arange(probe, len(layout)))):
            rows = rows[target[rows] == c]
            marker = (dict(size=15, symbol="star", line=dict(width=1.5, color="black")) if labeled
                      else dict(size=6, opacity=0.75))
            figure.add_trace(go.Scattergl(
                x=layout[rows, 0], y=layout[rows, 1], mode="markers", name=f"{c}{' labeled' if labeled else ''}",
                legendgroup=str(c), showlegend=not labeled, marker=marker | dict(color=CLASS_COLORS[c % 10]),
                text=[hover[i] for i in rows],
                hovertemplate=f"class {c}{' (labeled)' if labeled else ''}<br>%{{text}}<extra></extra>"))
    axis = dict(range=[-extent, extent], showticklabels=False, zeroline=False, title=None)
    return _layout(figure, title, "embedding-map", xaxis=axis, yaxis=axis | dict(scaleanchor="x"), height=560,
                   hoverlabel=dict(font_family="monospace"), legend=dict(orientation="v", x=1.02, y=1))


def stage_accuracy(table: pd.DataFrame, colors: dict[str, str]) -> go.Figure:
    """Final test accuracy of each run of a pipeline (columns stage, id, test accuracy, status), one bar
    color per stage, the value on the bar."""
    figure = go.Figure()
    for stage, rows in table.groupby("stage", sort=False):
        figure.add_trace(go.Bar(
            x=rows["test accuracy"], y=stage + " · " + rows["id"].str[:6], orientation="h", name=stage,
            marker_color=colors[stage], textposition="auto",
            text=[f"{accuracy:.3f}" if pd.notna(accuracy) else status
                  for accuracy, status in zip(rows["test accuracy"], rows["status"])]))
    return _layout(figure, "Test accuracy by stage", "stage-accuracy", height=140 + 30 * len(table),
                   xaxis=dict(title="test accuracy", range=[0, 1]), yaxis=dict(autorange="reversed"),
                   legend=dict(orientation="v", x=1.02, y=1))


def sweep_heatmap(cells: pd.DataFrame, x: str, y: str, key: str, title: str) -> go.Figure:
    """Mean of `key` over seeds in each (x, y) cell of a sweep, with mean +- std written in (the mean alone
    where one seed has a value: a spread needs two)."""
    mean = cells.pivot(index=y, columns=x, values=f"{key}_mean")
    spread = cells.pivot(index=y, columns=x, values=f"{key}_std").reindex_like(mean)
    text = [["" if not np.isfinite(m) else f"{m:.3f} ± {s:.3f}" if np.isfinite(s) else f"{m:.3f}"
             for m, s in zip(row_m, row_s)] for row_m, row_s in zip(mean.to_numpy(), spread.to_numpy())]
    figure = go.Figure(go.Heatmap(
        z=mean.to_numpy(), x=[str(v) for v in mean.columns], y=[str(v) for v in mean.index], text=text,
        texttemplate="%{text}", colorscale="Viridis", zmin=0, zmax=1,
        hovertemplate=f"{x} %{{x}}, {y} %{{y}}: %{{text}}<extra></extra>"))
    return _layout(figure, title, f"sweep-{key}", xaxis=dict(title=x, type="category"),
                   yaxis=dict(title=y, type="category"))


def pseudo_label_gap(curves: pd.DataFrame, early_until: int) -> go.Figure:
    """All-argmax and passing pseudo-label accuracy (columns of `curves`, indexed by step) with the gap between
    them shaded, and the first `early_until` steps marked. Empty until the run logs its first training step (step 0
    holds only the test figures)."""
    rows = curves.reindex(columns=["pseudo_label_acc", "pseudo_label_acc_passing"]).dropna()
    figure = go.Figure()
    figure.add_vrect(x0=0, x1=early_until, fillcolor="#999999", opacity=0.12, line_width=0,
                     annotation_text="first tenth", annotation_position="top left")
    figure.add_trace(go.Scatter(x=rows.index, y=rows.pseudo_label_acc, name=LABELS["pseudo_label_acc"],
                                mode="lines", line=dict(color=KEY_COLORS["pseudo_label_acc"])))
    figure.add_trace(go.Scatter(x=rows.index, y=rows.pseudo_label_acc_passing, fill="tonexty",
                                fillcolor="rgba(0, 158, 115, 0.18)", name=LABELS["pseudo_label_acc_passing"],
                                mode="lines", line=dict(color=KEY_COLORS["pseudo_label_acc_passing"])))
    return _layout(figure, "Pseudo-labels right: all against those passing the threshold", "pseudo-label-gap",
                   xaxis_title="step", yaxis=dict(range=[0, 1.02], tickformat=".0%"))


def final_accuracies(labels: list[str], accuracies: list[float], notes: list[str], colors: list[str],
                     title: str) -> go.Figure:
    """One bar per run with its final accuracy, and a note (its seconds, its role) on the bar. The axis runs from 0
    to 1: cut at the lowest bar, 0.911 against 0.872 looked twice as tall; the numbers on the bars give the gap."""
    figure = go.Figure(go.Bar(x=labels, y=accuracies, marker_color=colors, textposition="outside",
                              text=[f"{accuracy:.3f}{note}" for accuracy, note in zip(accuracies, notes)],
                              cliponaxis=False))
    return _layout(figure, title, f"final-{title}", showlegend=False, yaxis=dict(range=[0, 1], title="test accuracy"))


# A lesson verdict's outcomes (sslengine.lessons.SHOWS, NO_ROOM, CONTRADICTS) as the strip draws them.
OUTCOME_STYLE = {"shows it": ("shows it", CORRECT), "no room to show it": ("no room to show it", "#999999"),
                 "contradicts it": ("contradicts it", WRONG)}


def effect_spread(effects: list[float], outcomes: list[str], seeds: list[int], label: str, machine: str,
                  this_run: tuple[int, float] | None = None, no_effect: float = 0.0, log_x: bool = False) -> go.Figure:
    """A strip of one lesson's effect on the bench's seeds (green where it shows the lesson, grey where the seed
    left no room, red where it contradicts it), a line at `no_effect`, and this run's (seed, effect) as a large
    black diamond: where one press falls among them. `log_x` for a ratio, whose seeds spread on a log scale."""
    rows = (np.arange(len(effects)) % 3 - 1) * 0.3  # three rows, so that seeds with one effect stay apart
    figure = go.Figure()
    for outcome, (name, color) in OUTCOME_STYLE.items():
        mask = np.asarray(outcomes) == outcome
        if mask.any():
            figure.add_trace(go.Scatter(
                x=np.asarray(effects)[mask], y=rows[mask], mode="markers", name=f"bench seed, {name}",
                marker=dict(size=13, color=color, opacity=0.75, line=dict(width=1, color="white")),
                text=[f"seed {seed}" for seed in np.asarray(seeds)[mask]], hovertemplate="%{text}: %{x:+.3f}"))
    figure.add_vline(x=no_effect, line=dict(color="#777777", dash="dot"))
    # an annotation's x on a log axis is the value's log10 (a line's is the value)
    figure.add_annotation(x=np.log10(no_effect) if log_x else no_effect, y=0, yref="paper", text="no effect",
                          showarrow=False, xanchor="left", yanchor="bottom", font=dict(color="#777777"))
    if this_run is not None:
        seed, effect = this_run
        figure.add_trace(go.Scatter(x=[effect], y=[0], mode="markers", name=f"this run (seed {seed})",
                                    marker=dict(size=20, symbol="diamond", color="black"),
                                    hovertemplate="this run: %{x:+.3f}"))
        # Above the three rows of seeds, with a line down to the diamond: written beside it, dots hid the label.
        figure.add_annotation(x=np.log10(effect) if log_x else effect, y=0, text="this run", showarrow=True,
                              arrowhead=0, ax=0, ay=-48, font=dict(color="black"))
    return _layout(figure, f"Effect on the bench's {len(effects)} seeds ({machine})", f"spread-{label}", height=280,
                   xaxis=dict(title=label, zeroline=False, type="log" if log_x else "linear"),
                   yaxis=dict(visible=False, range=[-0.8, 1.0]),
                   legend=dict(orientation="h", x=0, y=-0.55), margin=dict(l=20, r=20, t=50, b=90))
