"""Embeddings: start a SimCLR, BYOL or MoCo v3 run and watch its representation form clusters, in PCA at once
and UMAP after."""
import time

import pandas as pd
import streamlit as st

from sslengine import plots
from sslengine.config import DATASETS, RunConfig
from sslengine.metrics import pixel_probe_accuracy
from sslengine.store import ACTIVE, RunRecord
from views.kit import engine, forms, live, pickers, present, state

FORM = "embeddings-form"
METHODS = present.names(page="embeddings")
LOSS_NAMES = {"simclr": "NT-Xent", "byol": "BYOL's 2 - 2 cos, both ways", "mocov3": "MoCo v3's contrastive loss"}

st.write(
    "These methods learn without labels, from two random views of each image. SimCLR: each view must pick "
    "out its partner among all the views of the batch. BYOL: an online network predicts a slowly moving "
    "average of itself (the target) on the other view, with no negatives at all. MoCo v3: BYOL's two "
    "networks with SimCLR's kind of loss, the momentum network's keys as positives and negatives. Watch the "
    "kNN accuracy climb while the map of a fixed probe set (coloured by the true class, which the method "
    "never sees; stars are the few labeled images) goes from one cloud to one cluster per class. Drag the "
    "step slider to see the clusters form: each map starts from the one before."
)
st.latex(r"\text{SimCLR: } \ell = \frac{1}{2N}\sum_{i=1}^{2N} -\log \frac{\exp(\mathrm{sim}(z_i, z_{j(i)})/T)}"
         r"{\sum_{k \ne i} \exp(\mathrm{sim}(z_i, z_k)/T)},\qquad z = g(e(\mathrm{view}(x)))")
st.latex(r"\text{BYOL: } \ell = \big\|\bar q(z_1) - \bar z'_2\big\|^2 + \big\|\bar q(z_2) - \bar z'_1\big\|^2,"
         r"\qquad z' = g'(e'(\mathrm{view}(x)))\ \text{(the target)}")
st.latex(r"\text{MoCo v3: } \ell = \mathrm{ctr}(q(z_1), z'_2) + \mathrm{ctr}(q(z_2), z'_1),\qquad "
         r"\mathrm{ctr}(a, k) = 2T \cdot \frac{1}{N}\sum_i -\log \frac{\exp(\bar a_i \cdot \bar k_i / T)}"
         r"{\sum_j \exp(\bar a_i \cdot \bar k_j / T)}")
present.glossary("nt-xent", "target", "knn", "probe set")
store = engine.store()
simclr = RunConfig(algorithm="simclr")


def form_config() -> list[RunConfig]:
    values = state.form_values(FORM, ("algorithm", "dataset", "labels_per_class", "contrastive_temperature",
                                       "batch_size", "augment_strength", "projection_layers", "ema_decay", "steps",
                                       "seed"))
    return [RunConfig(**values, mu=1, device=state.device(),
                      name=f"{METHODS[values['algorithm']]} {values['dataset']} "
                           f"T={values['contrastive_temperature']} "
                           f"{time.strftime('%H:%M:%S')}")]


def select_started(run_ids: list[str]):
    state.choose("embeddings-run", run_ids[0])


with st.expander("Start a run", expanded=not present.presenting()):
    with st.form(FORM, border=False):
        a, b, c, d, e = st.columns(5)
        a.selectbox("Method", list(METHODS), format_func=METHODS.get, key=state.form_key(FORM, "algorithm"))
        b.selectbox("Dataset", DATASETS, index=DATASETS.index("digits"), key=state.form_key(FORM, "dataset"))
        forms.field(c, FORM, "labels_per_class", st.number_input, "Labels per class (for the linear probe)", 1,
                     1000, 2)
        d.slider("Temperature T", 0.05, 1.0, simclr.contrastive_temperature, 0.05,
                 key=state.form_key(FORM, "contrastive_temperature"), help="SimCLR and MoCo v3; BYOL has no softmax")
        e.select_slider("Batch size N", [32, 64, 128, 256, 512], simclr.batch_size,
                        key=state.form_key(FORM, "batch_size"))
        a, b, c, d, e = st.columns(5)
        a.slider("Augmentation strength s", 0.0, 2.0, simclr.augment_strength, 0.1,
                 key=state.form_key(FORM, "augment_strength"))
        b.radio("Projection head", [2, 3], format_func=lambda n: f"{n} layers", horizontal=True,
                key=state.form_key(FORM, "projection_layers"))
        c.slider("Target momentum", 0.9, 0.999, RunConfig(algorithm="byol").ema_decay, 0.001, format="%.3f",
                 key=state.form_key(FORM, "ema_decay"), help="BYOL and MoCo v3: the target network's EMA decay")
        forms.field(d, FORM, "steps", st.number_input, "Steps", 1, 100_000, 600, step=100)
        e.number_input("Seed", 0, 2**31 - 1, 0, key=state.form_key(FORM, "seed"))
        forms.other_errors(FORM, {"labels_per_class", "steps"})
        st.form_submit_button("Start", type="primary", icon=":material/play_arrow:",
                              on_click=forms.start_runs, args=(FORM, form_config, select_started))

picked = pickers.choose_run(METHODS, "embeddings-run",
                           "No SimCLR, BYOL or MoCo v3 run yet: press Start, or run `python -m sslengine run simclr` "
                           "(or byol, mocov3) and reload.")


@st.cache_data(show_spinner=False)
def pixel_probe(config_json: str) -> float:
    return pixel_probe_accuracy(RunConfig.from_json(config_json))


def curves(run: RunRecord, scalars: pd.DataFrame):
    left, right = present.chart_columns(2)
    name = LOSS_NAMES[run.algorithm]
    loss = [(name, scalars, "loss_contrastive", plots.RUN_COLORS[0], "solid")]
    present.chart(left, plots.series_over_steps(loss, name), key="loss")
    present.chart(right, plots.curves_over_steps(scalars, ["knn_acc", "linear_probe_acc"],
                                               "kNN accuracy (k = 20) and linear probe on the labeled images"),
                       key="knn")
    right.caption(f"The same linear probe on the raw pixels of these labeled images scores "
                  f"{pixel_probe(run.config.to_json()):.3f}: the representation is worth what it adds to that.")


def map_changing(run: RunRecord) -> bool:
    """The run trains, or a snapshot lacks its UMAP: the map keeps ticking until the layout process catches up."""
    return run.status in ACTIVE or any("embedding" in held and "umap" not in held
                                       for held in store.array_keys(run.id).values())


map_ticking = map_changing(picked)


@st.fragment(run_every=live.LIVE_SECONDS if map_ticking else None)
def embedding_map(run_id: str, was_ticking: bool):
    keys = store.array_keys(run_id)
    if was_ticking and not map_changing(store.get_run(run_id)):
        st.rerun()  # everything is drawn: stop ticking
    steps = [step for step, held in keys.items() if "embedding" in held]
    worker = engine.layout_worker()
    if worker is None:
        st.caption(f"UMAP maps are off (${engine.LAYOUTS_ENV}=off): PCA only.")
    elif worker.poll() is not None:
        st.error(f"The UMAP process stopped (exit code {worker.returncode}). Its last output:")
        st.code(engine.LAYOUT_LOG.read_text()[-3000:])
    if not steps:
        st.info("The first snapshot is not written yet.")
        return
    # While the run trains the map may follow it; once it has ended, the slider is there to scrub.
    follow = store.get_run(run_id).status in ACTIVE and st.toggle("Follow the newest snapshot", True,
                                                                  key="embeddings-follow")
    if follow:  # the newest map, so that a live run's map moves from UMAP to UMAP, never back to PCA
        mapped = [step for step in steps if "umap" in keys[step] and "umap_error" not in keys[step]]
        pending = worker is not None and "umap" not in keys[steps[-1]]
        step = mapped[-1] if mapped and pending else steps[-1]
        if step != steps[-1]:
            st.caption(f"Newest snapshot: step {steps[-1]}, its UMAP is being computed.")
    else:
        step = st.select_slider("Snapshot step", steps, steps[-1], key="embeddings-step")
    if "umap_error" in keys[step]:
        st.error("The UMAP of this snapshot failed:")
        st.code(str(engine.snapshot_array(store.url, run_id, step, "umap_error")))
    present.chart(st, present.embedding_figure(run_id, step, keys[step],
                                            f"{{method}} of the probe embeddings at step {step}"), key="map")

live.follow(picked, curves)
embedding_map(picked.id, was_ticking=map_ticking)
