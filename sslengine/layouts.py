"""2-D maps of a run's stored embeddings: PCA at once, UMAP in a worker process, aligned across steps.

Each snapshot's UMAP starts from the previous snapshot's map and is then rotated onto it (orthogonal
Procrustes), so that scrubbing through steps shows clusters forming while the map stays in place. Maps are
written back to the store as the array `umap` of that snapshot: every viewer, and a run started from the
command line, reads the same one.

The worker is a process (`python -m sslengine.layouts STORE_URL`), not a thread of the web server: numba
compiles umap-learn for ~15 s on first use, holding the GIL away from pages and training, and CPython 3.11's
parser is not safe against compiling code on two threads at once. The app starts it at once, so that the
compilation is done before the first map is asked for; it exits when its parent does.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import traceback
from typing import Callable

import numpy as np
from scipy.linalg import orthogonal_procrustes

from .store import Store

POLL_SECONDS = 0.5
UMAP_EPOCHS = 200  # enough when starting from the previous map; 500 from scratch is umap-learn's default


def pca_2d(embedding: np.ndarray) -> np.ndarray:
    """The first two principal components, scaled to unit spread."""
    centred = embedding.astype(np.float32) - embedding.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return _unit_spread(centred @ components[:2].T)


def umap_2d(embedding: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """UMAP of the embedding, started from `previous` (or from PCA) and rotated onto it."""
    import umap  # numba compiles on first import and call: keep it off the import path of the app

    start = previous if previous is not None else pca_2d(embedding)
    layout = umap.UMAP(n_neighbors=15, min_dist=0.1, init=start, n_epochs=UMAP_EPOCHS, random_state=0,
                       n_jobs=1).fit_transform(embedding.astype(np.float32))
    return align(_unit_spread(layout), start)


def align(layout: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rotate (or reflect) a centred layout onto the reference layout of the same points."""
    rotation, _ = orthogonal_procrustes(layout - layout.mean(axis=0), reference - reference.mean(axis=0))
    return (layout - layout.mean(axis=0)) @ rotation + reference.mean(axis=0)


def _unit_spread(layout: np.ndarray) -> np.ndarray:
    centred = layout - layout.mean(axis=0)
    return (centred / max(float(centred.std()), 1e-12)).astype(np.float32)


def fill_layouts(store: Store, run_id: str, orphaned: Callable[[], bool] = lambda: False):
    """Compute a run's missing maps, oldest snapshot first, each started from the one before. A map that
    fails is stored as its error (and an empty map), for the page; the next one starts afresh."""
    previous = None
    for step, keys in store.array_keys(run_id).items():
        if "embedding" not in keys or orphaned():
            continue
        if "umap" in keys:
            previous = None if "umap_error" in keys else store.array(run_id, step, "umap")
            continue
        try:
            previous = umap_2d(store.array(run_id, step, "embedding"), previous)
            store.log_arrays(run_id, step, {"umap": previous})
        except Exception:
            previous = None
            store.log_arrays(run_id, step, {"umap": np.zeros((0, 2), np.float32),
                                            "umap_error": np.array(traceback.format_exc())})


def start_worker(url: str, log_path: str) -> subprocess.Popen:
    """The layout process for a store; its output goes to `log_path` for the page to show if it dies."""
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, "-m", "sslengine.layouts", url, str(os.getpid())],
                                stdout=log, stderr=subprocess.STDOUT)


def main(url: str, parent_pid: int):
    umap_2d(np.random.default_rng(0).normal(size=(50, 8)))  # compile before anyone waits for a map
    store = Store(url)

    def orphaned() -> bool:
        return os.getppid() != parent_pid

    while not orphaned():
        for run_id in store.runs_missing("umap", have="embedding"):
            fill_layouts(store, run_id, orphaned)
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
