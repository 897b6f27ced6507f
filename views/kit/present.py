"""How the pages present: the glossary under formulas, user text kept plain, charts (larger in presenter
mode, for a projector), a run's status lines, and a snapshot's embedding map."""
from __future__ import annotations

import re

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from sslengine import plots
from sslengine.algorithms import ALGORITHMS
from sslengine.layouts import pca_2d
from sslengine.store import RunRecord
from views.kit import engine, state

# Terms a class meets, explained where they appear (`glossary`).
GLOSSARY = {
    "threshold": "threshold tau: a pseudo-label is trained on only if the model's top class probability is at "
                 "least tau (the mask); tau decides how many pass",
    "temperature": "temperature T: the logits are divided by T before the softmax that gives the pseudo-labels; "
                   "T > 1 flattens the probabilities (fewer pass a given tau), T < 1 sharpens them. It applies to "
                   "the confidence test as well as to soft labels. Sharpening (MixMatch, UDA), the contrastive "
                   "losses and distillation each have a temperature of their own",
    "mu": "mu: unlabeled images per labeled one in a batch (B labeled, mu B unlabeled)",
    "lambda_u": "lambda_u: the weight of the unlabeled loss against the labeled one",
    "mask rate": "mask rate: the share of unlabeled samples whose pseudo-label passes tau",
    "probe set": "probe set: a fixed 1 000 unlabeled samples under one weak view; their true labels are hidden "
                 "from training and only score the pseudo-labels",
    "ema": "EMA decay alpha: after every step the averaged weights become alpha times themselves plus "
           "(1 - alpha) times the trained ones; alpha near 1 is a slow, smooth average",
    "nt-xent": "NT-Xent: SimCLR's loss, a softmax over cosine similarities divided by T in which each view must "
               "pick out the other view of its own image among all views of the batch",
    "mismatch": "mismatch share s: the share of the unlabeled data drawn from classes the labeled and test data "
                "do not hold (here the last four digits); every such sample that passes tau trains on a wrong label",
    "imbalance": "imbalance ratio r: the largest class over the smallest, labeled and unlabeled alike; class c of "
                 "C keeps r^(-c/(C-1)) of its samples",
    "target": "target (momentum) network: the EMA of the trained network's weights, decay m; it gets no "
              "gradient, and a bar over a vector is that vector divided by its length",
    "knn": "kNN accuracy: each test image takes the majority class of its 20 nearest train images in the "
           "embedding (cosine); the labels are a monitor, never trained on",
}


def glossary(*terms: str):
    """One short line under a page's formula that explains its terms."""
    st.caption(" · ".join(GLOSSARY[term] for term in terms))


# Presenter mode: for a projector at the back of a room.
PRESENTER_CSS = """<style>
  .stMainBlockContainer p, .stMainBlockContainer li { font-size: 1.3rem; }
  .stMainBlockContainer [data-testid="stCaptionContainer"] p { font-size: 1.1rem; }
  .stMainBlockContainer h1 { font-size: 3.2rem; }
  .stMainBlockContainer h2, .stMainBlockContainer h3 { font-size: 2.1rem; }
</style>"""
PRESENTER_SCALE = 1.35  # of each chart's height, its fonts from 12 to 18 px


def names(*algorithms: str, page: str | None = None) -> dict[str, str]:
    """Methods' display names by algorithm, as their presentations give them: of the ones named, or of every
    method whose presentation names `page` (in the registry's order)."""
    chosen = algorithms or [name for name, method in ALGORITHMS.items() if method.presentation.page == page]
    return {name: ALGORITHMS[name].presentation.name for name in chosen}


def presenting() -> bool:
    return state.presenting()


def chart(where, figure: go.Figure, **kwargs):
    """`where.plotly_chart`, larger for a projector in presenter mode."""
    if presenting():
        figure.update_layout(font_size=18, title_font_size=24, legend_font_size=17,
                             height=round((figure.layout.height or 450) * PRESENTER_SCALE),
                             margin_l=max(figure.layout.margin.l or 0, 90))  # room for an 18 px axis title
        figure.update_xaxes(tickfont_size=16, title_font_size=18)  # Streamlit's theme sets these apart
        figure.update_yaxes(tickfont_size=16, title_font_size=18)
    return where.plotly_chart(figure, **kwargs)


def chart_columns(n: int) -> list:
    """Columns for a row of charts: in presenter mode one chart per row, at full width."""
    return [st.container() for _ in range(n)] if presenting() else st.columns(n)


# What makes Markdown of plain text: emphasis, code, links and images ("[", "!["), HTML, headings, tables,
# strike-through, maths, and Streamlit's ":emoji:" and ":color[...]" directives.
_MARKDOWN = re.compile(r"[\\`*_\[\]<>#|~$]|!(?=\[)|:(?=[A-Za-z])")


def plain(text: str | None) -> str:
    """Text a user typed (a run's name) or a message quoting it, escaped for the Markdown that Streamlit's
    messages, progress bars and labels render: an image link in a name stays text, fetched by no browser."""
    return _MARKDOWN.sub(lambda match: "\\" + match.group(0), text or "")


def embedding_figure(run_id: str, step: int, held: set[str], title: str) -> go.Figure:
    """A snapshot's probe embeddings in 2-D, by true class with the labeled images as stars: its UMAP once the
    layout process has written one, PCA until then. `title` may name the method as {method}."""
    url = engine.store().url
    first, shown = engine.snapshot(url, run_id, 0), engine.snapshot(url, run_id, step)
    if "umap" in held and "umap_error" not in held:
        layout, method = engine.snapshot_array(url, run_id, step, "umap"), "UMAP"
    else:
        layout, method = pca_2d(shown["embedding"]), "PCA (UMAP is being computed)"
    target = np.concatenate([shown["target"], first["labeled_y"]])
    images = np.concatenate([first["probe_x"], first["labeled_x"]])
    hover = [plots.image_as_text(image) if image.ndim == 3 else f"({image[0]:.2f}, {image[1]:.2f})"
             for image in images]
    return plots.embedding_map(layout, target, len(first["labeled_y"]), hover, title.format(method=method))


def run_status(run: RunRecord, label: str = "This run", progress: bool = True):
    """A run's lines at the head of a view: its error when it failed, and its progress bar."""
    if run.status == "failed":
        st.error(f"{plain(label)} failed: {plain(run.error)}")
    if progress:
        step = engine.store().last_step(run.id) or 0
        prefix = "" if label == "This run" else f"{plain(label)} · "
        st.progress(min(step / run.config.steps, 1.0),
                    text=f"{prefix}{run.status} · step {step} of {run.config.steps}")
