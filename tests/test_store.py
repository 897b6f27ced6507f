"""The store suite, run against SQLite and against a real PostgreSQL server started for the session."""
import subprocess
import sys
import threading

import numpy as np
import pytest
from sqlalchemy import text, update

from bench.browser import ROOT
from bench.postgres import PostgresUnavailable, fresh_database, postgres_server
from sslengine import schema
from sslengine import store as store_module
from sslengine.config import ConfigError, RunConfig
from sslengine.store import Store, UnknownRun


@pytest.fixture(scope="session")
def postgres():
    """One server per test process; skipped, with the reason, only where none can be started."""
    try:
        with postgres_server() as admin_url:
            yield admin_url
    except PostgresUnavailable as reason:
        pytest.skip(f"PostgreSQL: {reason}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "runs.db")
    return fresh_database(request.getfixturevalue("postgres"))


@pytest.fixture
def store(store_url):
    opened = Store(store_url)
    yield opened
    opened.engine.dispose()


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
    silent = store.create_run(RunConfig())
    assert store.last_steps([run_id, silent, "no-such-run"]) == {run_id: 20}


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


def test_four_threads_writing_at_once_lose_no_row(store):
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


def test_sqlite_store_uses_write_ahead_logging(tmp_path):
    store = Store(str(tmp_path / "runs.db"))
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@pytest.mark.slow
def test_many_openers_of_a_fresh_store_at_once_all_succeed(store_url):
    barrier, errors = threading.Barrier(8), []

    def open_store():
        barrier.wait()
        try:
            opened = Store(store_url)
            opened.list_runs()
            opened.engine.dispose()
        except Exception as error:  # collected, so the test names what went wrong
            errors.append(error)

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


WRITER = """
import sys, time
from pathlib import Path
import numpy as np
from sslengine.config import RunConfig
from sslengine.store import Store
url, name, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
store = Store(url)
while not go.exists():  # every writer starts at once, after all have imported and connected
    time.sleep(0.01)
run_id = store.create_run(RunConfig(name=name))
for step in range(60):
    store.log_scalars(run_id, step, {"loss": float(step), "test_acc": 0.5, "mask_rate": float(name[7:])})
    if step % 10 == 0:
        store.log_arrays(run_id, step, {"logits": np.full((100, 10), step, np.float32)})
print(run_id)
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sixteen_processes_writing_at_once_lose_and_duplicate_no_row(store_url, tmp_path):
    Store(store_url).engine.dispose()  # the schema exists before the writers race on their first writes
    go = tmp_path / "go"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, store_url, f"writer {i}", str(go)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(16)]
    go.touch()
    outputs = [writer.communicate(timeout=240) for writer in writers]
    assert [writer.returncode for writer in writers] == [0] * 16, [err for _, err in outputs if err][:1]
    store = Store(store_url)
    runs = {run.name: run.id for run in store.list_runs()}
    assert sorted(runs) == sorted(f"writer {i}" for i in range(16))
    for name, run_id in runs.items():
        frame = store.scalars(run_id)
        assert len(frame) == 60 * 3 and not frame.duplicated(["step", "key"]).any()
        assert frame[frame.key == "loss"].value.tolist() == [float(step) for step in range(60)]
        assert (frame[frame.key == "mask_rate"].value == float(name[7:])).all()  # no row in the wrong run
        assert store.snapshot_steps(run_id) == list(range(0, 60, 10))
        assert store.array(run_id, 50, "logits").mean() == 50
    store.engine.dispose()


def test_a_store_from_a_newer_version_is_refused_untouched(store_url):
    store = Store(store_url)
    run_id = store.create_run(RunConfig(name="kept"))
    with store.engine.begin() as conn:
        conn.execute(update(schema.schema).values(version=schema.SCHEMA_VERSION + 1))
    with pytest.raises(ConfigError, match=f"store: .* has schema version {schema.SCHEMA_VERSION + 1}, "
                                          "newer than this program's"):
        Store(store_url)
    assert store.get_run(run_id).name == "kept"
    store.engine.dispose()


@pytest.mark.parametrize("made_by", ["version 3", "version 2", "version 1", "before versions"])
def test_an_older_store_is_migrated_keeping_its_runs(store_url, made_by):
    store = Store(store_url)
    run_id = store.create_run(RunConfig(name="old run"))
    older = ["version 3", "version 2", "version 1", "before versions"]
    with store.engine.begin() as conn:  # back to the tables of version 3 (no owner), 2 (no heartbeat), 1 (no sweeps)
        conn.execute(text("ALTER TABLE runs DROP COLUMN owner"))
        conn.execute(text("ALTER TABLE runs DROP COLUMN address"))
        if older.index(made_by) >= 1:
            conn.execute(text("ALTER TABLE runs DROP COLUMN heartbeat"))
        if older.index(made_by) >= 2:
            conn.execute(text("ALTER TABLE runs DROP COLUMN sweep"))
            conn.execute(text("DROP TABLE sweeps"))
        if made_by == "before versions":
            conn.execute(text("DROP TABLE schema_version"))
        else:
            conn.execute(text(f"UPDATE schema_version SET version = {4 - older.index(made_by) - 1}"))
    store.engine.dispose()
    store = Store(store_url)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM schema_version")).scalars().all() == [schema.SCHEMA_VERSION]
    assert store.get_run(run_id).name == "old run" and store.get_run(run_id).sweep is None
    assert store.get_run(run_id).heartbeat is None and store.get_run(run_id).owner is None
    sweep = store.create_sweep("grid", "fixmatch", {"grid": {}})
    assert store.get_run(store.create_run(RunConfig(), sweep=sweep)).sweep == sweep
    store.engine.dispose()


def test_a_run_trains_into_either_store_and_reads_back_through_the_cli(store, store_url, capsys):
    import json
    from sslengine.cli import main
    assert main(["run", "fixmatch", "--dataset", "moons", "--steps", "20", "--store", store_url, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "finished" and 0 <= result["metrics"]["test_acc"] <= 1
    assert main(["show", result["run_id"], "--store", store_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == result["metrics"]
    assert store.snapshot_steps(result["run_id"])  # probe snapshots went in too


def test_the_process_that_trains_or_claims_a_run_owns_it_so_its_recorders_end_does_not_interrupt_it(store):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process that recorded runs (a page's server) and has ended
    claimed, training, orphaned = (store.create_run(RunConfig(dataset="moons")) for _ in range(3))
    with store.engine.begin() as conn:
        conn.execute(update(schema.runs).values(pid=gone.pid))
    store.claim([claimed])  # a sweep's driver, here
    store.set_status(training, "running")  # a Ray worker, here
    store.mark_interrupted()
    assert [store.get_run(run_id).status for run_id in (claimed, training, orphaned)] == [
        "queued", "running", "interrupted"]
