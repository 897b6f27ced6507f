"""2-D maps of a run's stored embeddings: PCA at once, UMAP in a worker process, aligned across steps.

Each snapshot's UMAP starts from the nearest earlier snapshot's map and is then rotated onto it (orthogonal
Procrustes), so that scrubbing through steps shows clusters forming while the map stays in place. Maps are
written back to the store as the array `umap` of that snapshot: every viewer, and a run started from the
command line, reads the same one.

The worker is a process (`python -m sslengine.layouts STORE_URL`), not a thread of the web server: numba
compiles umap-learn for ~15 s on first use, holding the GIL away from pages and training, and CPython 3.11's
parser is not safe against compiling code on two threads at once. The app starts it at once, so that the
compilation is done before the first map is asked for; it exits when its parent does. It runs at the lowest
CPU priority: its compilation and maps take only what training and the pages leave (on 2 cores, compiling at
a server's start made the first lesson pressed 2.5x slower).
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import traceback
import warnings

import numpy as np
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.distance import cdist

from .store import Store

POLL_SECONDS = 0.5
UMAP_EPOCHS = 200  # enough when starting from the previous map; 500 from scratch is umap-learn's default
EXACT_NEIGHBOURS_BELOW = 4096  # umap-learn's own switch from all pairs to approximate neighbours


def pca_2d(embedding: np.ndarray) -> np.ndarray:
    """The first two principal components, scaled to unit spread."""
    centred = embedding.astype(np.float32) - embedding.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return _unit_spread(centred @ components[:2].T)


def umap_2d(embedding: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """UMAP of the embedding, started from `previous` (or from PCA) and rotated onto it."""
    import umap  # numba compiles on first import and call: keep it off the import path of the app

    start = previous if previous is not None else pca_2d(embedding)
    points = embedding.astype(np.float32)
    if len(points) < EXACT_NEIGHBOURS_BELOW:  # umap-learn would call a Python function for each of the n^2 pairs
        points, metric = cdist(points, points), "precomputed"
    else:
        metric = "euclidean"
    with warnings.catch_warnings():  # it warns that inverse_transform needs the points, which we never call
        warnings.filterwarnings("ignore", "using precomputed metric")
        layout = umap.UMAP(n_neighbors=15, min_dist=0.1, metric=metric, init=start, n_epochs=UMAP_EPOCHS,
                           random_state=0, n_jobs=1).fit_transform(points)
    return align(_unit_spread(layout), start)


def align(layout: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rotate (or reflect) a centred layout onto the reference layout of the same points."""
    rotation, _ = orthogonal_procrustes(layout - layout.mean(axis=0), reference - reference.mean(axis=0))
    return (layout - layout.mean(axis=0)) @ rotation + reference.mean(axis=0)


def _unit_spread(layout: np.ndarray) -> np.ndarray:
    centred = layout - layout.mean(axis=0)
    return (centred / max(float(centred.std()), 1e-12)).astype(np.float32)


def fill_next(store: Store, run_id: str) -> bool:
    """Compute one missing map of a run; False when none is missing. The newest snapshot goes first, so that a
    live run's map keeps up with training; then the gaps, oldest first. Each map starts from the nearest
    earlier one. A map that fails is stored as its error (and an empty map), for the page to show."""
    keys = store.array_keys(run_id)
    snapshots = [step for step, held in keys.items() if "embedding" in held]
    missing = [step for step in snapshots if "umap" not in keys[step]]
    if not missing:
        return False
    step = missing[-1] if missing[-1] == snapshots[-1] else missing[0]
    mapped = [s for s in snapshots if s < step and "umap" in keys[s] and "umap_error" not in keys[s]]
    previous = store.array(run_id, mapped[-1], "umap") if mapped else None
    try:
        store.log_arrays(run_id, step, {"umap": umap_2d(store.array(run_id, step, "embedding"), previous)})
    except Exception:
        store.log_arrays(run_id, step, {"umap": np.zeros((0, 2), np.float32),
                                        "umap_error": np.array(traceback.format_exc())})
    return True


def fill_layouts(store: Store, run_id: str):
    """All of a run's missing maps (the worker interleaves runs with `fill_next` instead)."""
    while fill_next(store, run_id):
        pass


def start_worker(url: str, log_path: str) -> subprocess.Popen:
    """The layout process for a store; its output goes to `log_path` for the page to show if it dies."""
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, "-m", "sslengine.layouts", url, str(os.getpid())],
                                stdout=log, stderr=subprocess.STDOUT)


def exit_with(parent_pid: int):
    """End this process once the server that started it is gone, even mid-compilation (a minute of both cores)."""
    while os.getppid() == parent_pid:
        time.sleep(1)
    os._exit(0)


def main(url: str, parent_pid: int):
    threading.Thread(target=exit_with, args=(parent_pid,), daemon=True).start()
    os.nice(19)
    umap_2d(np.random.default_rng(0).normal(size=(50, 8)))  # compile before anyone waits for a map
    store = Store(url)
    while True:
        busy = [fill_next(store, run_id) for run_id in store.runs_missing("umap", have="embedding")]
        if not any(busy):
            time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
