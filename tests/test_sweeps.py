"""Sweeps: the grid from the command line, its expansion, and points trained as tasks on a local Ray."""
import json

import pytest
from sqlalchemy import update

from sslengine import schema
from sslengine.config import ConfigError, RunConfig
from sslengine.sweeps import create_sweep, expand, parse_grid, plan, run_on_ray, stop_sweep


def test_a_grid_is_parsed_with_each_fields_type():
    assert parse_grid(["threshold=0.7,0.95", "labels-per-class=1,2,4"]) == {
        "threshold": [0.7, 0.95], "labels_per_class": [1, 2, 4]}


@pytest.mark.parametrize("item,message", [
    ("colour=1,2", "grid: 'colour' cannot be swept; sweepable: labels-per-class"),
    ("steps=10,many", "grid: steps=.*each value must be a int"),
    ("threshold=", "grid: threshold has no values"),
    ("seed=1,2", "grid: 'seed' cannot be swept"),
    ("threshold=0.5 threshold=0.9", "grid: threshold is given twice"),
])
def test_a_bad_grid_names_the_field_and_what_is_allowed(item, message):
    with pytest.raises(ConfigError, match=message):
        parse_grid(item.split(" "))


def test_expand_makes_every_point_times_every_seed_named_after_its_point():
    configs = expand(RunConfig(dataset="moons"), {"threshold": [0.7, 0.95], "labels_per_class": [1, 2]}, 3)
    assert len(configs) == 12
    assert {(c.threshold, c.labels_per_class, c.seed) for c in configs} == {
        (t, n, s) for t in (0.7, 0.95) for n in (1, 2) for s in range(3)}
    assert configs[0].name == "threshold=0.7 labels_per_class=1 seed=0" and configs[0].dataset == "moons"
    with pytest.raises(ConfigError, match="seeds: must be an integer >= 1"):
        expand(RunConfig(), {}, 0)


def test_a_point_that_fails_validation_writes_no_sweep(store):
    with pytest.raises(ConfigError, match="threshold: must be in"):
        plan(RunConfig(dataset="moons"), {"threshold": [0.5, 1.5]}, 1)
    assert store.list_runs() == [] and store.list_sweeps() == []


def test_stopping_a_sweep_stops_queued_runs_at_once_asks_running_ones_and_leaves_ended_ones(store):
    points = plan(RunConfig(dataset="moons"), {"threshold": [0.7, 0.8, 0.9]}, seeds=1)
    sweep_id, (running, finished, queued) = create_sweep(store, points)
    store.set_status(running, "running")
    store.set_status(finished, "finished")
    assert stop_sweep(store, sweep_id) == [running, queued]
    after = {run.id: run for run in store.sweep_runs(sweep_id)}
    assert (after[queued].status, after[queued].stop_requested) == ("stopped", True)
    assert (after[running].status, after[running].stop_requested) == ("running", True)  # its loop ends it
    assert (after[finished].status, after[finished].stop_requested) == ("finished", False)


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray", reason="Ray is the optional extra in requirements-scale.txt")
    yield ray
    ray.shutdown()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_four_points_on_a_local_ray_finish_under_one_sweep_and_a_failing_one_fails_alone(store, local_ray):
    local_ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    base = RunConfig(algorithm="fixmatch", dataset="moons", steps=20, log_every=5, n_samples=300)
    sweep_id, run_ids = create_sweep(store, plan(base, {"threshold": [0.7, 0.95]}, seeds=2))
    broken = run_ids[1]  # a point that fails in its worker: its stored config names no dataset there is
    config = json.loads(store.get_run(broken).config.to_json()) | {"dataset": "nope"}
    with store.engine.begin() as conn:
        conn.execute(update(schema.runs).where(schema.runs.c.id == broken)
                     .values(config=json.dumps(config)))
    ended = []
    statuses = run_on_ray(store, run_ids, max_concurrent=2, on_done=lambda run_id, status: ended.append(run_id))
    assert sorted(ended) == sorted(run_ids)
    assert statuses == {run_id: "failed" if run_id == broken else "finished" for run_id in run_ids}
    runs = store.sweep_runs(sweep_id)
    assert [run.id for run in runs] == run_ids and {run.sweep for run in runs} == {sweep_id}
    assert store.get_run(broken).error.startswith("ConfigError: dataset: 'nope'")
    for run in runs:
        if run.id != broken:
            assert 0 <= store.final_scalars(run.id)["test_acc"] <= 1
    (sweep,) = store.list_sweeps()
    assert sweep["spec"]["grid"] == {"threshold": [0.7, 0.95]} and sweep["spec"]["seeds"] == 2


def test_a_sweep_that_cannot_reach_ray_marks_its_runs_failed_with_the_reason(store, monkeypatch):
    pytest.importorskip("ray", reason="without Ray the command refuses before it tries to reach one")
    from sslengine import cli, sweeps

    def no_cluster(*args, **kwargs):
        raise ConnectionError("no Ray cluster at 10.0.0.1:6379")

    monkeypatch.setattr(sweeps, "run_on_ray", no_cluster)
    with pytest.raises(ConnectionError):
        cli.main(["sweep", "fixmatch", "--dataset", "moons", "--steps", "5", "--grid", "threshold=0.7,0.9",
                  "--address", "10.0.0.1:6379", "--store", store.url, "--json"])
    runs = store.list_runs()
    assert len(runs) == 2 and {run.status for run in runs} == {"failed"}
    assert all(run.error == "the sweep could not train it: ConnectionError: no Ray cluster at 10.0.0.1:6379"
               for run in runs)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_sweep_stopped_while_it_trains_on_ray_ends_its_running_point_and_never_starts_the_rest(store, local_ray):
    import threading
    import time
    local_ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    base = RunConfig(algorithm="fixmatch", dataset="moons", steps=100_000, log_every=5, n_samples=300)
    sweep_id, run_ids = create_sweep(store, plan(base, {"threshold": [0.7, 0.8, 0.9]}, seeds=1))
    statuses = {}
    driver = threading.Thread(target=lambda: statuses.update(run_on_ray(store, run_ids, max_concurrent=1)))
    driver.start()
    deadline = time.monotonic() + 120
    while (store.last_step(run_ids[0]) or 0) < 10 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert store.last_step(run_ids[0]) >= 10, "the first point never started training"
    stop_sweep(store, sweep_id)
    driver.join(120)
    assert not driver.is_alive()
    assert statuses == dict.fromkeys(run_ids, "stopped")
    assert [run.status for run in store.sweep_runs(sweep_id)] == ["stopped"] * 3
    assert store.last_step(run_ids[0]) < base.steps
    assert store.last_step(run_ids[1]) is None and store.last_step(run_ids[2]) is None  # never trained


def test_a_sweep_without_ray_is_refused_before_anything_is_recorded(tmp_path, monkeypatch, capsys):
    import sys
    from sslengine import cli
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the scale extra were not installed
    path = tmp_path / "runs.db"
    assert cli.main(["sweep", "fixmatch", "--dataset", "moons", "--grid", "threshold=0.7,0.9",
                     "--store", str(path)]) == 2
    assert capsys.readouterr().err == ("error: sweep: needs Ray, the optional extra: pip install -r "
                                       "requirements-scale.txt\n")
    assert not path.exists()
