"""Maps of stored embeddings: Procrustes alignment by hand, and a run's chained UMAPs in the store."""
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sslengine.config import RunConfig
from sslengine.layouts import align, fill_layouts, fill_next, pca_2d, umap_2d
from sslengine.runner import Runner


def test_align_undoes_a_rotation_and_a_reflection():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(100, 2))
    angle = 1.1
    turned = reference @ np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    mirrored = turned * np.array([1, -1]) + 5.0
    assert np.allclose(align(mirrored, reference), reference, atol=1e-8)


def test_pca_2d_keeps_the_widest_directions_at_unit_spread():
    rng = np.random.default_rng(0)
    points = np.zeros((400, 5))
    points[:, 0] = rng.normal(scale=10, size=400)
    points[:, 1] = rng.normal(scale=3, size=400)
    points[:, 2:] = rng.normal(scale=0.01, size=(400, 3))
    layout = pca_2d(points)
    assert layout.std() == pytest.approx(1.0, rel=1e-4)
    assert abs(np.corrcoef(layout[:, 0], points[:, 0])[0, 1]) > 0.999


@pytest.fixture(scope="module")
def simclr_run(tmp_path_factory):
    from sslengine.store import Store
    store = Store(str(tmp_path_factory.mktemp("layouts") / "runs.db"))
    runner = Runner(store)
    run_id = runner.start(RunConfig(algorithm="simclr", dataset="moons", steps=40, batch_size=64, max_snapshots=4,
                                    probe_size=300, n_samples=500))
    runner.wait(run_id)
    return store, run_id


@pytest.mark.slow
def test_fill_layouts_stores_one_map_per_snapshot_each_close_to_the_one_before(simclr_run):
    store, run_id = simclr_run
    assert store.runs_missing("umap", have="embedding") == [run_id]
    fill_layouts(store, run_id)
    assert store.runs_missing("umap", have="embedding") == []
    steps = [step for step, keys in store.array_keys(run_id).items() if "umap" in keys]
    maps = [store.array(run_id, step, "umap") for step in steps]
    assert steps == store.snapshot_steps(run_id) and all(m.shape == (300 + 4, 2) for m in maps)
    # Chained and aligned, consecutive maps move less than independent ones do.
    chained = np.mean([np.abs(a - b).mean() for a, b in zip(maps, maps[1:])])
    fresh = [umap_2d(store.array(run_id, step, "embedding")) for step in steps]
    independent = np.mean([np.abs(a - b).mean() for a, b in zip(fresh, fresh[1:])])
    assert chained < independent


@pytest.mark.slow
def test_fill_next_maps_the_newest_snapshot_first_then_the_gaps_oldest_first(tmp_path):
    from sslengine.store import Store
    store = Store(str(tmp_path / "runs.db"))
    run_id = store.create_run(RunConfig(algorithm="simclr"))
    rng = np.random.default_rng(0)
    order = []
    for step in (0, 10, 20, 30):
        store.log_arrays(run_id, step, {"embedding": rng.normal(size=(60, 8)).astype(np.float32)})
    while True:
        before = {s for s, held in store.array_keys(run_id).items() if "umap" in held}
        if not fill_next(store, run_id):
            break
        order += [s for s, held in store.array_keys(run_id).items() if "umap" in held and s not in before]
    assert order == [30, 0, 10, 20]
    store.log_arrays(run_id, 40, {"embedding": rng.normal(size=(60, 8)).astype(np.float32)})
    assert fill_next(store, run_id) and "umap" in store.array_keys(run_id)[40]


@pytest.mark.slow
def test_the_worker_ends_with_the_server_that_started_it_even_while_it_compiles(tmp_path):
    """A server stopped within the worker's first minute (as every browser test's is) leaves no UMAP compile
    burning both cores behind it."""
    started = subprocess.run(
        [sys.executable, "-c", "import sys; from sslengine.layouts import start_worker; "
         "print(start_worker(sys.argv[1], sys.argv[2]).pid)", f"sqlite:///{tmp_path / 'runs.db'}",
         str(tmp_path / "worker.log")], capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent)
    worker = int(started.stdout)
    deadline = time.monotonic() + 20
    while Path(f"/proc/{worker}").exists() and "zombie" not in Path(f"/proc/{worker}/status").read_text():
        assert time.monotonic() < deadline, "the layout worker outlived the process that started it"
        time.sleep(0.2)
