import threading

import numpy as np
import pytest

from sslengine import store as store_module
from sslengine.config import RunConfig
from sslengine.store import Store, UnknownRun


def test_run_round_trip(store):
    config = RunConfig(algorithm="entmin", dataset="moons", threshold=0.8, name="mine")
    run_id = store.create_run(config)
    run = store.get_run(run_id)
    assert run.config == config and run.status == "queued" and run.name == "mine"
    store.set_status(run_id, "running", device="cpu")
    store.set_status(run_id, "failed", error="ValueError: boom")
    run = store.get_run(run_id)
    assert (run.status, run.error, run.device) == ("failed", "ValueError: boom", "cpu")
    assert run.started <= run.finished


def test_scalars_round_trip_with_nan_and_final_values(store):
    run_id = store.create_run(RunConfig())
    store.log_scalars(run_id, 10, {"test_acc": 0.5, "pseudo_label_acc_passing": float("nan")})
    store.log_scalars(run_id, 20, {"test_acc": 0.75})
    frame = store.scalars(run_id)
    assert frame[frame.key == "test_acc"].value.tolist() == [0.5, 0.75]
    assert np.isnan(frame[frame.key == "pseudo_label_acc_passing"].value.item())
    final = store.final_scalars(run_id)
    assert final["test_acc"] == 0.75 and np.isnan(final["pseudo_label_acc_passing"])
    assert store.last_step(run_id) == 20


def test_arrays_round_trip_keep_dtype_and_shape(store):
    run_id = store.create_run(RunConfig())
    logits = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    target = np.arange(7, dtype=np.int64)
    store.log_arrays(run_id, 5, {"logits": logits, "target": target})
    back = store.arrays(run_id, 5)
    assert back["logits"].dtype == np.float32 and np.array_equal(back["logits"], logits)
    assert np.array_equal(back["target"], target)
    assert store.snapshot_steps(run_id) == [5]


def test_snapshots_are_bounded_per_run_keeping_first_and_latest(store, monkeypatch):
    monkeypatch.setattr(store_module, "MAX_SNAPSHOTS_PER_RUN", 4)
    run_id = store.create_run(RunConfig())
    for step in range(10):
        store.log_arrays(run_id, step, {"x": np.zeros(2)})
    steps = store.snapshot_steps(run_id)
    assert len(steps) == 4 and steps[0] == 0 and steps[-1] == 9


def test_delete_removes_every_row_of_the_run_only(store):
    keep, gone = store.create_run(RunConfig()), store.create_run(RunConfig())
    for run_id in (keep, gone):
        store.log_scalars(run_id, 1, {"loss": 1.0})
        store.log_arrays(run_id, 1, {"x": np.zeros(2)})
    store.delete_run(gone)
    with pytest.raises(UnknownRun):
        store.get_run(gone)
    assert store.scalars(gone).empty and store.snapshot_steps(gone) == []
    assert len(store.scalars(keep)) == 1 and store.snapshot_steps(keep) == [1]


def test_unique_prefix_resolves_and_unknown_id_names_the_field(store):
    run_id = store.create_run(RunConfig())
    assert store.get_run(run_id[:6]).id == run_id
    with pytest.raises(UnknownRun, match="run_id: no run 'nope'"):
        store.get_run("nope")


def test_four_threads_writing_at_once_lose_no_row(tmp_path):
    store = Store(str(tmp_path / "busy.db"))
    run_ids = [store.create_run(RunConfig()) for _ in range(4)]
    errors = []

    def write(run_id):
        try:
            for step in range(200):
                store.log_scalars(run_id, step, {"loss": step * 1.0, "test_acc": 0.5})
                if step % 20 == 0:
                    store.log_arrays(run_id, step, {"logits": np.ones((100, 10), np.float32)})
        except Exception as error:  # collected, then asserted empty
            errors.append(error)

    threads = [threading.Thread(target=write, args=(run_id,)) for run_id in run_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for run_id in run_ids:
        frame = store.scalars(run_id)
        assert len(frame) == 400 and frame[frame.key == "loss"].value.sum() == sum(range(200))
        assert len(store.snapshot_steps(run_id)) == 10


def test_store_uses_write_ahead_logging(store):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_many_openers_of_a_fresh_store_at_once_all_succeed(tmp_path):
    path = str(tmp_path / "fresh.db")
    barrier, errors = threading.Barrier(8), []

    def open_store():
        barrier.wait()
        try:
            Store(path).list_runs()
        except Exception as error:  # collected, so the test names what went wrong
            errors.append(error)

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
