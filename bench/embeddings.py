"""Embeddings benchmark: `python -m bench.embeddings` (about 4 minutes on 2 cores).

1. SimCLR on digits (2 labels per class, seed 0, defaults): kNN and linear-probe accuracy against seconds,
   next to the reference of kNN on raw pixels, the same split and k.
2. UMAP of 1 000 and 10 000 points of 128 dimensions (embeddings of a stored run, tiled with noise for
   10 000): the first call in a fresh process (numba compiles), then later calls from scratch and from the
   previous map as the layout worker does; the ratio of the two.
3. The worker's latency: with `python -m sslengine.layouts` running and warmed up, a 1 000-point snapshot
   is written to the store and the time until its `umap` array is there is taken, 5 times.
4. End to end as a user sees it: the dashboard served over a fresh store, the Embeddings page open in headless
   Chromium and following the newest snapshot, a live SimCLR run of the page's defaults; for each snapshot,
   the seconds from its embedding being in the store to the page drawing a UMAP of that step or a later one.
   Training, server, layout process and browser share the 2 cores, as on a laptop.
"""
from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.browser import ROOT, chromium, serve
from sslengine.config import RunConfig
from sslengine.metrics import knn_accuracy
from sslengine.runner import Runner
from sslengine.splits import load_split
from sslengine.store import Store

FIRST_CALL = """
import time, numpy as np
started = time.perf_counter()
from sslengine.layouts import umap_2d
umap_2d(np.load({path!r}))
print(time.perf_counter() - started)
"""


def simclr_curve(store: Store) -> str:
    config = RunConfig(algorithm="simclr", dataset="digits", labels_per_class=2, seed=0)
    runner = Runner(store)
    run_id = runner.start(config)
    runner.wait(run_id)
    assert store.get_run(run_id).status == "finished", store.get_run(run_id).error
    table = store.scalars_by_step(run_id)
    split = load_split(config)
    pixels = lambda x: torch.nn.functional.normalize(torch.as_tensor(x).flatten(1).float(), dim=1)
    train = pixels(np.concatenate([split.x_labeled, split.x_unlabeled]))
    labels = torch.as_tensor(np.concatenate([split.y_labeled, split.y_unlabeled]))
    raw = knn_accuracy(train, labels, pixels(split.x_test), torch.as_tensor(split.y_test))
    print(f"1. SimCLR on digits, {config.steps} steps, {torch.get_num_threads()} torch thread(s)")
    print(f"{'step':>6s} {'seconds':>8s} {'knn_acc':>8s} {'linear_probe_acc':>17s}")
    seconds = table.seconds.interpolate(method="index")  # timed at log steps, probed at snapshots too
    for step, row in table.dropna(subset=["knn_acc"]).iloc[::3].iterrows():
        print(f"{step:6d} {seconds[step]:8.1f} {row.knn_acc:8.4f} {row.linear_probe_acc:17.4f}")
    final = table.dropna(subset=["knn_acc"]).iloc[-1]
    print(f"final kNN {final.knn_acc:.4f} against raw-pixel kNN {raw:.4f}: {final.knn_acc / raw:.3f}x; "
          f"linear probe {final.linear_probe_acc:.4f}")
    return run_id


def umap_times(store: Store, run_id: str):
    from sslengine.layouts import umap_2d

    embedding = store.array(run_id, store.snapshot_steps(run_id)[-1], "embedding").astype(np.float32)[:1000]
    rng = np.random.default_rng(0)
    sets = {1000: embedding, 10000: np.concatenate([embedding + 0.05 * rng.normal(size=embedding.shape)
                                                    for _ in range(10)]).astype(np.float32)}
    print("\n2. UMAP, seconds")
    print(f"{'points':>7s} {'first call':>11s} {'from scratch':>13s} {'from previous':>14s} {'ratio':>6s}")
    for n, points in sets.items():
        path = Path(tempfile.mkdtemp()) / "points.npy"
        np.save(path, points)
        first = float(subprocess.run([sys.executable, "-c", FIRST_CALL.format(path=str(path))], cwd=ROOT,
                                     capture_output=True, text=True, check=True).stdout.split()[-1])
        umap_2d(points)  # compiled here too (above 4 096 points, umap-learn's approximate neighbours)
        scratch = _seconds(lambda: umap_2d(points))
        previous = umap_2d(points)
        again = _seconds(lambda: umap_2d(points + 0.01 * rng.normal(size=points.shape).astype(np.float32),
                                         previous))
        print(f"{n:7d} {first:11.2f} {scratch:13.2f} {again:14.2f} {scratch / again:5.2f}x")


def worker_latency(store: Store, run_id: str):
    """A copy of the run's last snapshot written as new steps of a fresh run, the worker timed on each."""
    source = store.arrays(run_id, store.snapshot_steps(run_id)[-1])
    copy = store.create_run(RunConfig(algorithm="simclr", name="latency probe"))
    worker = subprocess.Popen([sys.executable, "-m", "sslengine.layouts", store.url, str(os.getpid())], cwd=ROOT)
    try:
        store.log_arrays(copy, 0, {"embedding": source["embedding"]})
        _wait_for_map(store, copy, 0, timeout=120)  # the first one includes compiling
        latencies = []
        for step in range(1, 6):
            written = time.perf_counter()
            store.log_arrays(copy, step, {"embedding": source["embedding"]})
            _wait_for_map(store, copy, step, timeout=60)
            latencies.append(time.perf_counter() - written)
    finally:
        worker.terminate()
    print(f"\n3. snapshot of {len(source['embedding'])} points written -> its UMAP in the store: "
          f"median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s over {len(latencies)} "
          f"(limit 5 s including the page's 1 s tick)")


MAP_TITLE = """() => {
    const chart = [...document.querySelectorAll('.js-plotly-plot')]
        .find(c => c.layout && c.layout.title && String(c.layout.title.text).includes('probe embeddings at step'));
    return chart ? String(chart.layout.title.text) : '';
}"""


def page_latency(warm_up: float = 30.0):
    path = Path(tempfile.mkdtemp()) / "page.db"
    store = Store(str(path))
    with serve(path) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(f"{url}/embeddings")
        time.sleep(warm_up)  # the app compiles UMAP when it starts; a user takes this long to read the page
        config = RunConfig(algorithm="simclr", dataset="digits", labels_per_class=2, steps=600, name="live")
        runner = Runner(store)
        run_id = runner.start(config)
        page.goto(f"{url}/embeddings")
        written, mapped, shown, page_ready = {}, {}, {}, None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            now = time.perf_counter()
            for step, held in store.array_keys(run_id).items():
                if "embedding" in held:
                    written.setdefault(step, now)
                if "umap" in held:
                    mapped.setdefault(step, now)
            title = page.evaluate(MAP_TITLE)
            if title and page_ready is None:
                page_ready = now
            drawn = re.search(r"UMAP of the probe embeddings at step (\d+)", title)
            if drawn:
                for step in written:
                    if step <= int(drawn.group(1)):
                        shown.setdefault(step, now)
            if store.get_run(run_id).status == "finished" and written and len(shown) == len(written):
                break
            time.sleep(0.1)
        runner.wait(run_id)
    # Snapshots written before the reloaded page drew its first map wait for the page, not for UMAP.
    counted = [step for step in shown if written[step] > page_ready]
    latencies = [shown[step] - written[step] for step in counted]
    in_store = [mapped[step] - written[step] for step in counted if step in mapped]
    print(f"\n4. Embeddings page, live run of {config.steps} steps: {len(written)} snapshots written, "
          f"{len(shown)} shown as UMAP; of the {len(counted)} written after the page was up, snapshot in the "
          f"store -> UMAP on the page: median "
          f"{statistics.median(latencies):.2f} s, max {max(latencies):.2f} s (limit 5 s); "
          f"snapshot -> its map in the store: median "
          f"{statistics.median(in_store):.2f} s, max {max(in_store):.2f} s")
    print("   step: seconds to the page: ", " ".join(f"{step}:{shown[step] - written[step]:.1f}" for step in shown))


def _wait_for_map(store: Store, run_id: str, step: int, timeout: float):
    deadline = time.monotonic() + timeout
    while "umap" not in store.array_keys(run_id).get(step, set()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no map for step {step} after {timeout} s")
        time.sleep(0.05)


def _seconds(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main():
    store = Store(str(Path(tempfile.mkdtemp()) / "bench.db"))
    run_id = simclr_curve(store)
    umap_times(store, run_id)
    worker_latency(store, run_id)
    page_latency()


if __name__ == "__main__":
    main()
