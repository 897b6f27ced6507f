import dataclasses
import time

import pytest
import torch

from sslengine import runner as runner_module
from sslengine import schema
from sslengine.config import ConfigError, RunConfig
from sslengine.runner import Runner

QUICK = dict(dataset="moons", steps=30, log_every=5, n_samples=200)


def test_start_returns_at_once_and_the_run_finishes_with_scalars_and_snapshots(store):
    runner = Runner(store)
    started = time.perf_counter()
    run_id = runner.start(RunConfig(algorithm="fixmatch", **QUICK))
    assert time.perf_counter() - started < 1.0
    assert runner.wait(run_id, timeout=60)
    run = store.get_run(run_id)
    assert run.status == "finished" and run.device == "cpu"
    keys = set(store.scalars(run_id).key)
    assert {"loss", "loss_x", "loss_u", "lr", "test_acc", "mask_rate", "pseudo_label_acc",
            "pseudo_label_acc_passing"} <= keys
    steps = store.snapshot_steps(run_id)
    assert steps[0] == 0 and steps[-1] == 30
    snapshot = store.arrays(run_id, 30)
    assert snapshot["logits"].shape == (len(snapshot["target"]), 2)


def test_two_dimensional_runs_store_their_decision_boundary_and_points(store):
    runner = Runner(store)
    run_id = runner.start(RunConfig(algorithm="entmin", **QUICK))
    runner.wait(run_id, timeout=60)
    first, last = store.arrays(run_id, 0), store.arrays(run_id, 30)
    assert first["grid"].shape == (60 * 60, 2) and first["labeled_x"].shape == (4, 2)
    assert first["probe_x"].shape == (len(first["target"]), 2)
    assert last["grid_probs"].shape == (60 * 60, 2) and "grid" not in last  # the grid is stored once
    assert abs(last["grid_probs"].sum(axis=1) - 1).max() < 1e-5
    assert not (first["grid_probs"] == last["grid_probs"]).all()  # the boundary moved


def test_supervised_logs_no_pseudo_label_scalars(store):
    runner = Runner(store)
    run_id = runner.start(RunConfig(algorithm="supervised", **QUICK))
    runner.wait(run_id)
    assert "mask_rate" not in set(store.scalars(run_id).key)


def test_stop_ends_the_run_within_a_step(store):
    runner = Runner(store)
    run_id = runner.start(RunConfig(algorithm="fixmatch", dataset="moons", steps=100_000, log_every=1))
    while (store.last_step(run_id) or 0) < 3:
        time.sleep(0.01)
    runner.stop(run_id)
    step_at_stop = store.last_step(run_id)
    assert runner.wait(run_id, timeout=10)
    assert store.get_run(run_id).status == "stopped"
    assert store.last_step(run_id) <= step_at_stop + 1


def test_stop_requested_through_the_store_reaches_the_run(store):
    runner = Runner(store)
    run_id = runner.start(RunConfig(algorithm="supervised", dataset="moons", steps=100_000, log_every=1))
    while not store.last_step(run_id):
        time.sleep(0.01)
    store.request_stop(run_id)  # as another process or browser tab would
    assert runner.wait(run_id, timeout=10)
    assert store.get_run(run_id).status == "stopped"


def test_an_exception_marks_the_run_failed_with_its_message(store, monkeypatch):
    def broken(*args):
        raise RuntimeError("the loss went to NaN")

    monkeypatch.setattr(runner_module, "train", broken)
    runner = Runner(store)
    run_id = runner.start(RunConfig(**QUICK))
    runner.wait(run_id)
    run = store.get_run(run_id)
    assert run.status == "failed" and run.error == "RuntimeError: the loss went to NaN"


def test_a_loss_that_turns_nan_fails_the_run_at_that_log_step_and_keeps_its_scalars(store, monkeypatch, capfd):
    from sslengine.algorithms.supervised import Supervised
    step = Supervised.train_step

    def diverging(self, *args, progress, **kwargs):  # NaN from the 15th step on, as an exploding run
        result = step(self, *args, progress=progress, **kwargs)
        result.loss = result.loss * (float("nan") if progress >= 14 / 30 else 1.0)
        return result

    monkeypatch.setattr(Supervised, "train_step", diverging)
    runner = Runner(store)
    run_id = runner.start(RunConfig(algorithm="supervised", dataset="moons", steps=30, log_every=10))
    runner.wait(run_id)
    run = store.get_run(run_id)
    assert run.status == "failed"
    assert run.error == "loss became nan at step 20: lower the learning rate or the loss weights"
    assert sorted(store.scalars(run_id).step.unique()) == [0, 10, 20]  # what it logged up to there stays
    assert "Traceback" not in capfd.readouterr().err  # the settings are at fault, not the code


def test_bad_config_is_refused_before_any_row_is_written(store):
    runner = Runner(store)
    with pytest.raises(ConfigError, match="threshold"):
        runner.start(RunConfig(threshold=1.5))
    assert store.list_runs() == []


def test_same_seed_gives_the_same_run_even_when_runs_share_the_process(store):
    runner = Runner(store)
    config = RunConfig(algorithm="fixmatch", **QUICK)
    ids = [runner.start(config) for _ in range(3)]
    for run_id in ids:
        runner.wait(run_id)
    losses = [store.scalars(run_id).query("key == 'loss'").value.tolist() for run_id in ids]
    assert losses[0] == losses[1] == losses[2]


def test_before_the_last_step_the_test_set_is_scored_on_a_fixed_sample_and_at_the_end_on_all_of_it(store,
                                                                                                monkeypatch):
    from sslengine import evaluation, train
    from sslengine.metrics import evaluate
    assert evaluation.fixed_sample(100, 200, 0, "cpu") == slice(None)
    sample = evaluation.fixed_sample(1000, 7, 3, "cpu")
    assert sample.tolist() == sorted(set(sample.tolist())) and len(sample) == 7
    assert sample.tolist() == evaluation.fixed_sample(1000, 7, 3, "cpu").tolist()  # the same sample every time

    monkeypatch.setattr(evaluation, "EVAL_SAMPLE", 7)
    runner = Runner(store)
    run_id = runner.start(RunConfig(algorithm="fixmatch", **QUICK))
    runner.wait(run_id, timeout=60)
    accuracy = store.scalars(run_id).query("key == 'test_acc'").set_index("step").value
    assert all(abs(a * 7 - round(a * 7)) < 1e-6 for a in accuracy.iloc[:-1])  # right answers out of 7
    # The last: the stored final weights scored here on the whole test set.
    data = runner_module.load_split(store.get_run(run_id).config).to(torch.device("cpu"))
    final_model = train.restore(store, run_id, torch.device("cpu"))
    assert accuracy.index[-1] == QUICK["steps"] and len(data.y_test) > 7
    assert accuracy.iloc[-1] == pytest.approx(evaluate(final_model, data.x_test, data.y_test)[0], abs=1e-6)


def test_a_run_stopped_while_queued_is_not_trained_by_whatever_picks_it_up(store):
    import threading
    run_id = store.create_run(RunConfig(algorithm="fixmatch", **QUICK))
    store.request_stop(run_id)
    assert runner_module.execute(store, run_id, store.get_run(run_id).config, threading.Event()) == "stopped"
    assert store.get_run(run_id).status == "stopped" and store.last_step(run_id) is None


@pytest.mark.parametrize("algorithm", ["fixmatch", "mean_teacher"])
def test_probe_snapshots_agree_with_the_pseudo_label_curves_at_every_snapshot(store, algorithm):
    """The what-if reads the probe snapshots, the curves the training batches: both come from the network that
    pseudo-labels (FixMatch's training model, Mean Teacher's teacher) as it labels in training, so they agree
    within the batch's sampling noise from the first snapshot on, and snapshots fall on logged steps."""
    from sslengine.metrics import pseudo_label_stats
    runner = Runner(store)
    run_id = runner.start(RunConfig(algorithm=algorithm, dataset="digits", steps=150, log_every=5,
                                    max_snapshots=16))
    runner.wait(run_id, timeout=120)
    curve = store.scalars_by_step(run_id).pseudo_label_acc
    steps = store.snapshot_steps(run_id)[1:]
    assert len(steps) >= 14 and set(steps) <= set(curve.index)
    for step in steps:
        arrays = store.arrays(run_id, step)
        probe = pseudo_label_stats(arrays["logits"], arrays["target"], 0.95)["pseudo_label_acc"]
        assert abs(probe - curve[step]) < 0.15, (step, probe, curve[step])


@pytest.mark.parametrize("algorithm", ["fixmatch_simclr", "s4l_rotation", "simclr"])
def test_every_weight_is_drawn_under_the_init_lock_so_concurrent_runs_match_serial_ones(store, monkeypatch, algorithm):
    """Runs in threads share torch's global generator: a method's own head drawn outside the lock took numbers
    another run's seeding had moved (FixMatch + SimCLR's L variant: 0.931 beside two runs, 0.874 alone)."""
    from sslengine import train
    from sslengine.splits import load_split
    original = torch.nn.init.kaiming_uniform_

    def drawn(*args, **kwargs):
        assert train._INIT_LOCK.locked(), "a weight drawn outside the init lock"
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.nn.init, "kaiming_uniform_", drawn)
    config = RunConfig(algorithm=algorithm, dataset="digits")
    model, _, _ = train.build(config, load_split(config), torch.device("cpu"), torch.Generator(), store, None)
    assert hasattr(model, "projection") or hasattr(model, "rotation_head")


def test_past_its_limit_the_runner_queues_runs_in_order_and_a_queued_run_stops_at_once(store):
    runner = Runner(store, max_training=1)
    config = RunConfig(algorithm="supervised", dataset="moons", steps=150, log_every=10, n_samples=200)
    first, second, third, fourth = (runner.start(config) for _ in range(4))
    assert [store.get_run(run_id).status for run_id in (second, third, fourth)] == ["queued"] * 3
    runner.stop(third)
    assert store.get_run(third).status == "stopped" and runner.wait(third, timeout=0)
    running_at_once = set()
    while not all(runner.wait(run_id, timeout=0) for run_id in (first, second, fourth)):
        running_at_once.add(sum(store.get_run(run_id).status == "running" for run_id in (first, second, fourth)))
        time.sleep(0.05)
    runs = [store.get_run(run_id) for run_id in (first, second, fourth)]
    assert [run.status for run in runs] == ["finished"] * 3 and max(running_at_once) == 1
    assert runs[0].finished <= runs[1].started and runs[1].finished <= runs[2].started  # one after another
    assert store.get_run(third).started is None and store.last_step(third) is None  # never trained


def test_a_full_runner_admits_in_turns_by_who_started_them_and_records_who_did(store):
    from sslengine.store import Starter
    runner = Runner(store, max_training=1)
    config = RunConfig(algorithm="supervised", dataset="moons", steps=60, log_every=10, n_samples=200)
    ann, ann_tab, bob = Starter("ann", "10.0.0.7"), Starter("ann's second tab", "10.0.0.7"), Starter("bob", "10.0.0.8")
    started = [runner.start(config, starter=ann) for _ in range(2)] + [runner.start(config, starter=ann_tab),
                                                                       runner.start(config, starter=bob)]
    for run_id in started:
        runner.wait(run_id, timeout=120)
    runs = sorted((store.get_run(run_id) for run_id in started), key=lambda run: run.started)
    # ann's first trained at once; bob's one went next, before ann's other two (one from another tab, so another
    # login, from her address), which were queued before it
    assert [run.owner for run in runs] == ["ann", "bob", "ann", "ann's second tab"]
    assert [run.address for run in runs] == ["10.0.0.7", "10.0.0.8", "10.0.0.7", "10.0.0.7"]
    assert {run.status for run in runs} == {"finished"}


def test_runs_started_together_share_one_slot_and_the_next_waits_for_all_of_them(store):
    runner = Runner(store, max_training=1)
    config = RunConfig(algorithm="supervised", dataset="moons", steps=150, log_every=10, n_samples=200)
    pair = runner.start_together([(config, None), (dataclasses.replace(config, seed=1), None)])
    after, dropped = runner.start(config), runner.start_together([(config, None)])[0]
    assert [store.get_run(run_id).status for run_id in (after, dropped)] == ["queued"] * 2
    runner.stop(dropped)
    while not all(runner.wait(run_id, timeout=0) for run_id in (*pair, after)):
        time.sleep(0.05)
    first, second, third = (store.get_run(run_id) for run_id in (*pair, after))
    assert first.started < second.finished and second.started < first.finished  # trained at once
    assert third.started >= max(first.finished, second.finished)
    assert store.get_run(dropped).status == "stopped" and runner.active() == []


def test_a_bad_config_among_runs_started_together_records_none_of_them(store):
    runner = Runner(store)
    with pytest.raises(ConfigError, match="threshold"):
        runner.start_together([(RunConfig(), None), (RunConfig(threshold=2.0), None)])
    assert store.list_runs() == []


def test_a_running_run_without_a_heartbeat_is_marked_interrupted_by_whoever_lists_the_store(store):
    from sqlalchemy import update
    from sslengine import store as store_module
    run_id = store.create_run(RunConfig())
    store.set_status(run_id, "running")
    assert store.get_run(run_id).heartbeat == pytest.approx(time.time(), abs=5)
    with store.engine.begin() as conn:  # its trainer went silent, on whatever host
        conn.execute(update(schema.runs).values(heartbeat=time.time() - store_module.STALE_SECONDS - 1,
                                                      host="another-host", pid=1))
    (run,) = store.list_runs()
    assert run.status == "interrupted" and "no heartbeat" in run.error


@pytest.mark.slow
def test_the_queued_runs_of_a_killed_process_are_marked_interrupted_within_the_heartbeat_bound(tmp_path):
    """A server that dies with runs waiting in its queue: a live server beside it (another process listing the
    store) shows them interrupted within STALE_SECONDS, as it shows the dead process's running run."""
    import os
    import signal
    import subprocess
    import sys
    from bench.browser import ROOT
    from sslengine.store import HEARTBEAT_SECONDS, STALE_SECONDS, Store
    path = tmp_path / "runs.db"
    script = ("import time; from sslengine.config import RunConfig; from sslengine.runner import Runner; "
              "from sslengine.store import Store; runner = Runner(Store(%r), max_training=1); "
              "[runner.start(RunConfig(algorithm='supervised', dataset='moons', steps=10**6)) for _ in range(3)]; "
              "time.sleep(600)" % str(path))
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    try:
        deadline = time.time() + 60
        while sorted(run.status for run in (Store(str(path)).list_runs() if path.exists() else [])) != \
                ["queued", "queued", "running"]:
            assert time.time() < deadline, "the server did not queue its runs"
            time.sleep(0.2)
        time.sleep(3 * HEARTBEAT_SECONDS)  # the queued runs' heartbeat has been written since
        server = Store(str(path))  # open before the kill, as a live server's store is
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    killed = time.time()
    while {run.status for run in server.list_runs()} != {"interrupted"}:
        assert time.time() - killed < STALE_SECONDS + 10, [run.status for run in server.list_runs()]
        time.sleep(0.5)
    assert all("no heartbeat" in run.error for run in server.list_runs())


def test_a_live_runners_queued_runs_keep_their_heartbeat_and_stay_queued(store, monkeypatch):
    from sslengine import store as store_module
    monkeypatch.setattr(runner_module, "HEARTBEAT_SECONDS", 0.1)
    monkeypatch.setattr(store_module, "STALE_SECONDS", 1.0)  # ten beats: room for a loaded machine
    runner = Runner(store, max_training=1)
    first, *waiting = [runner.start(RunConfig(algorithm="supervised", dataset="moons", steps=10**6))
                       for _ in range(3)]
    time.sleep(3.0)  # three times the bound
    assert [run.status for run in store.list_runs() if run.id in waiting] == ["queued", "queued"]
    assert all(time.time() - store.get_run(run_id).heartbeat < 1.0 for run_id in waiting)
    for run_id in (*waiting, first):
        runner.stop(run_id)
    runner.wait(first)


def test_a_training_run_beats_and_a_deleted_one_stops_leaving_no_row(store):
    from sqlalchemy import func, select
    from sslengine import store as store_module
    runner = Runner(store)
    run_id = runner.start(RunConfig(algorithm="fixmatch", dataset="digits", steps=100_000))
    while (store.last_step(run_id) or 0) < 20:
        time.sleep(0.1)
    time.sleep(store_module.HEARTBEAT_SECONDS + 0.5)
    assert time.time() - store.get_run(run_id).heartbeat < store_module.HEARTBEAT_SECONDS + 1
    store.delete_run(run_id)
    assert runner.wait(run_id, timeout=60)
    with store.engine.connect() as conn:
        for table in (schema.scalars, schema.arrays, schema.checkpoints):
            orphans = conn.execute(select(func.count()).select_from(table)
                                   .where(table.c.run_id.not_in(select(schema.runs.c.id)))).scalar()
            assert orphans == 0, table.name


def test_a_flexmatch_runs_mask_rate_curve_is_the_share_its_loss_used_step_by_step(store, monkeypatch):
    from sslengine.algorithms.flexmatch import FlexMatch
    used = []
    original = FlexMatch.mask

    def recording(self, q, unlabeled_index, p_l):
        mask, monitors = original(self, q, unlabeled_index, p_l)
        used.append(float(mask.mean()))
        return mask, monitors

    monkeypatch.setattr(FlexMatch, "mask", recording)
    runner = Runner(store)
    run_id = runner.start(RunConfig(algorithm="flexmatch", **QUICK | {"log_every": 1}))
    runner.wait(run_id)
    frame = store.scalars_by_step(run_id)
    assert frame.mask_rate.dropna().tolist() == pytest.approx(used) and len(used) == QUICK["steps"]
    # at the first steps every class threshold is warmed down to ~0: all pass, while 0.95 passes few
    assert frame.mask_rate[1] == 1.0 and frame.mask_rate_at_tau[1] < 1.0


def test_seconds_time_training_alone_the_clock_stopped_while_the_run_measures_itself(store, monkeypatch):
    """Each of 20 log steps' test passes made 0.1 s slower, two seconds of measuring in all: `wall_seconds`
    counts them, the training clock `seconds` does not, and stays near a plain run's. A step's clocks are read
    as it stops them, before its test pass, so the last step's figures hold 19 of the 20 slowed passes (a quiet
    fresh clone measured 1.988 s between the two; the other measuring had covered the twentieth elsewhere)."""
    from sslengine.evaluation import Measurements
    config = RunConfig(algorithm="supervised", dataset="moons", steps=40, log_every=2, n_samples=300)
    runner = Runner(store)
    plain = runner.start(config)
    runner.wait(plain)
    test = Measurements.test

    def slower(self, step):
        time.sleep(0.1)
        return test(self, step)

    monkeypatch.setattr(Measurements, "test", slower)
    slowed = runner.start(config)
    runner.wait(slowed)
    plain_final, slowed_final = store.final_scalars(plain), store.final_scalars(slowed)
    assert slowed_final["wall_seconds"] - slowed_final["seconds"] >= 19 * 0.1
    assert plain_final["wall_seconds"] >= plain_final["seconds"] > 0
    assert slowed_final["seconds"] < 2 * plain_final["seconds"] + 1.0  # none of the 2 s of measuring


def test_a_run_is_validated_once_where_its_caller_first_checks_it(store, monkeypatch):
    """`check` gives a Checked config that the runner starts as it is; a plain RunConfig it checks itself."""
    from sslengine.runner import check
    validated = []
    validate = RunConfig.validate
    monkeypatch.setattr(RunConfig, "validate", lambda config: validated.append(config) or validate(config))
    runner = Runner(store)
    config = RunConfig(dataset="moons", steps=3, n_samples=200, log_every=3)
    checked = check(config)
    assert check(checked) is checked and len(validated) == 1  # a Checked passes through
    runner.wait(runner.start(checked))
    assert len(validated) == 1
    runner.wait(runner.start(dataclasses.replace(config, seed=1)))
    assert len(validated) == 2
    with pytest.raises(ConfigError, match="threshold"):
        runner.start(RunConfig(dataset="moons", threshold=1.5))
    assert len(store.list_runs()) == 2


@pytest.mark.parametrize("units", [False, True])
def test_image_runs_of_28_px_train_in_bf16_on_a_cpu_with_bf16_units_and_the_small_sets_in_fp32(store, monkeypatch,
                                                                                             units):
    """The decision by device, data and the CPU's units, and the loop training under what it decides: the
    steps and the live test passes, and the last step's pass, on the whole test set, in fp32."""
    from sslengine import train
    from sslengine.splits import Split, load_split
    monkeypatch.setattr(train, "cpu_has_bf16", lambda: units)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    digits = load_split(RunConfig(dataset="digits"))
    moons = load_split(RunConfig(dataset="moons", n_samples=100))
    photos = Split(*(torch.zeros(2, 1, 28, 28), torch.zeros(2)) * 3, num_classes=2, kind="image")
    assert train.trains_in_bf16(cpu, photos) is units
    assert not train.trains_in_bf16(cpu, digits) and not train.trains_in_bf16(cpu, moons)
    assert train.trains_in_bf16(cuda, digits) and train.trains_in_bf16(cuda, moons)
    assert not train.trains_in_bf16(torch.device("mps"), photos)

    entered, plain = [], train.autocast
    monkeypatch.setattr(train, "trains_in_bf16", lambda device, data: units)
    monkeypatch.setattr(train, "autocast", lambda device, bf16: entered.append(bf16) or plain(device, bf16))
    runner = Runner(store)
    run_id = runner.start(RunConfig(dataset="digits", steps=3, log_every=3))
    runner.wait(run_id)
    assert store.get_run(run_id).status == "finished" and entered == [units] * 4 + [False]  # step 0's pass first
