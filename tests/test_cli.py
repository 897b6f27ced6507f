import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sslengine.cli import main
from sslengine.store import Store

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--dataset", "moons", "--steps", "20"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


@pytest.fixture
def filled_store(tmp_path):
    path = tmp_path / "runs.db"
    assert main(["run", "fixmatch", *QUICK, "--store", str(path), "--json"]) == 0
    return path


def test_run_json_prints_one_line_with_status_seconds_and_final_metrics(tmp_path, capsys):
    path = tmp_path / "runs.db"
    assert main(["run", "pseudo-label", *QUICK, "--threshold", "0.7", "--store", str(path), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["status"] == "finished" and result["wall_seconds"] > 0
    assert set(result["metrics"]) >= {"test_acc", "mask_rate", "pseudo_label_acc", "loss_x", "loss_u", "lr"}
    run = Store(str(path)).get_run(result["run_id"])
    assert run.algorithm == "pseudo_label" and run.config.threshold == 0.7


BAD_INPUTS = [
    (["run", "fixmatch", "--threshold", "1.5"], "threshold: must be in [0, 1], got 1.5"),
    (["run", "fixmatch", "--threshold", "-0.1"], "threshold: must be in [0, 1], got -0.1"),
    (["run", "fixmatch", "--temperature", "0"], "temperature: must be in [0.01, 100], got 0.0"),
    (["run", "fixmatch", "--labels-per-class", "1000"], "labels_per_class: must be at most"),
    (["run", "fixmatch", "--dataset", "imagenet"], "dataset: 'imagenet' is not one of moons, circles, gap, digits"),
    (["run", "fixmatch", "--dataset", "cifar10"], "dataset: cifar10 is not downloaded"),
    (["run", "fixmatch", "--model", "mlp"], "model: mlp does not take digits's images; use auto, small-cnn"),
    (["run", "fixmatch", "--dataset", "moons", "--model", "wrn-28-2"], "model: wrn-28-2 does not take moons"),
    (["sweep", "fixmatch", "--grid", "colour=1,2"], "grid: 'colour' cannot be swept"),
    (["sweep", "fixmatch", "--grid", "threshold=0.5,1.5"], "threshold: must be in [0, 1], got 1.5"),
    (["sweep", "fixmatch", "--seeds", "0"], "seeds: must be an integer >= 1, got 0"),
    (["run", "mystery"], "algorithm: 'mystery' is not one of supervised, pseudo_label, entmin, fixmatch"),
    (["run", "fixmatch", "--steps", "0"], "steps: must be an integer >= 1, got 0"),
    (["run", "fixmatch", "--steps", "many"], "argument --steps: invalid int value: 'many'"),
    (["run", "simclr", "--projection-layers", "4"], "projection_layers: 4 is not one of 2, 3"),
    (["run", "simclr", "--augment-strength", "3"], "augment_strength: must be in [0, 2], got 3.0"),
    (["run", "finetune"], "parent: finetune starts from a run that can learn a representation: give its id"),
    (["run", "distill", "--parent", "0000dead"], "parent: no run '0000dead'"),
    (["run", "fixmatch", "--mismatch", "1.5"], "mismatch: must be in [0, 1], got 1.5"),
    (["run", "fixmatch", "--dataset", "moons", "--mismatch", "0.5"], "mismatch: needs a dataset of 5 classes"),
    (["run", "fixmatch", "--imbalance", "0.5"], "imbalance: must be in [1, 100], got 0.5"),
    (["run", "fixmatch", "--label-noise", "1"], "label_noise: must be in [0, 0.9], got 1.0"),
    (["show", "0000dead"], "run_id: no run '0000dead'"),
    (["export", "0000dead", "--out", "x"], "run_id: no run '0000dead'"),
    (["export", "0000dead", "--format", "parquet"], "argument --format: invalid choice: 'parquet'"),
    (["sweep-stop", "0000dead"], "sweep_id: no sweep '0000dead'"),
    (["delete", "0000dead"], "run_id: no run '0000dead'"),
]


def exit_code(argv) -> int:
    """main's return value, or the code argparse exits with."""
    try:
        return main(argv)
    except SystemExit as exit:
        return exit.code


@pytest.mark.parametrize("argv,message", BAD_INPUTS, ids=[" ".join(a[:3]) for a, _ in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line_and_leaves_the_store_unchanged(filled_store, capsys, argv, message):
    before = digest(filled_store), Store(str(filled_store)).list_runs()
    assert exit_code([*argv, "--store", str(filled_store)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert "Traceback" not in err
    assert (digest(filled_store), Store(str(filled_store)).list_runs()) == before


def test_download_of_an_unknown_image_set_exits_2_naming_the_known_ones(capsys):
    assert exit_code(["download", "imagenet"]) == 2
    assert capsys.readouterr().err == ("error: dataset: 'imagenet' is not a downloadable image set; known: "
                                       "cifar10, cifar100, svhn, stl10, mnist, fashion-mnist\n")


def test_bad_input_creates_no_store(tmp_path, capsys):
    path = tmp_path / "never.db"
    assert main(["run", "fixmatch", "--threshold", "2", "--store", str(path)]) == 2
    assert main(["show", "abc", "--store", str(path)]) == 2
    assert "store: no store at" in capsys.readouterr().err
    assert main(["run", "finetune", "--parent", "abc", "--store", str(path)]) == 2
    assert "store: no store at" in capsys.readouterr().err
    assert not path.exists()


def test_list_show_delete(filled_store, capsys):
    capsys.readouterr()
    assert main(["list", "--json", "--store", str(filled_store)]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    run_id = row["run_id"]
    assert main(["show", run_id[:5], "--json", "--store", str(filled_store)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["config"]["dataset"] == "moons" and shown["status"] == "finished"

    assert main(["delete", run_id, "--store", str(filled_store)]) == 0
    assert Store(str(filled_store)).list_runs() == []


def test_real_process_bad_input_prints_one_line_and_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sslengine", "run", "fixmatch", "--threshold", "3",
                             "--store", str(tmp_path / "s.db")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == "error: threshold: must be in [0, 1], got 3.0\n"
    assert not (tmp_path / "s.db").exists()


@pytest.mark.slow
def test_a_sigkilled_run_shows_as_interrupted_with_its_metrics_kept(tmp_path):
    path = tmp_path / "runs.db"
    process = subprocess.Popen([sys.executable, "-m", "sslengine", "run", "fixmatch", "--dataset", "moons",
                                "--steps", "1000000", "--store", str(path), "--json"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if path.exists():
                runs = Store(str(path)).list_runs()
                if runs and (Store(str(path)).last_step(runs[0].id) or 0) >= 30:
                    break
            time.sleep(0.2)
        assert Store(str(path)).list_runs()[0].status == "running"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    store = Store(str(path))  # opening the store notices the dead process
    (run,) = store.list_runs()
    assert run.status == "interrupted" and "ended without finishing" in run.error
    assert store.last_step(run.id) >= 30 and "test_acc" in store.final_scalars(run.id)


def test_the_sweep_progress_poller_runs_while_its_block_runs_and_once_more_at_the_end():
    from sslengine.cli import _every
    calls = []
    with _every(0.01, lambda: calls.append(1)):
        time.sleep(0.2)
    assert len(calls) >= 3  # about 20 polls; at least a few even on a loaded machine
    ended = len(calls)
    time.sleep(0.05)
    assert len(calls) == ended  # it stopped with the block


def test_run_takes_weight_decay_and_no_weak_augment(tmp_path, capsys):
    path = tmp_path / "runs.db"
    assert main(["run", "supervised", *QUICK, "--weight-decay", "0", "--no-weak-augment", "--store", str(path),
                 "--json"]) == 0
    run = Store(str(path)).get_run(json.loads(capsys.readouterr().out)["run_id"])
    assert (run.config.weight_decay, run.config.weak_augment) == (0.0, False)


def _sigkilled_cli_run(path: Path) -> Store:
    """A CLI run killed with SIGKILL once it trains, and a store opened before that, as a live server's is."""
    process = subprocess.Popen([sys.executable, "-m", "sslengine", "run", "fixmatch", "--dataset", "moons",
                                "--steps", "1000000", "--store", str(path)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not path.exists() or not Store(str(path)).list_runs() or \
                (Store(str(path)).last_step(Store(str(path)).list_runs()[0].id) or 0) < 20:
            assert time.time() < deadline, "the CLI run did not start"
            time.sleep(0.2)
        server = Store(str(path))
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    return server


@pytest.mark.slow
def test_a_live_server_shows_a_sigkilled_run_interrupted_within_the_heartbeat_bound_then_deletes_it(tmp_path):
    from sslengine.store import STALE_SECONDS
    server = _sigkilled_cli_run(tmp_path / "runs.db")
    killed = time.time()
    while server.list_runs()[0].status == "running":
        assert time.time() - killed < STALE_SECONDS + 10, "still running past the heartbeat bound"
        time.sleep(0.5)
    (run,) = server.list_runs()
    assert run.status == "interrupted" and "no heartbeat" in run.error
    assert main(["delete", run.id, "--store", str(tmp_path / "runs.db")]) == 0
    assert server.list_runs() == []


def test_stop_on_a_run_whose_trainer_is_gone_ends_it_at_once(tmp_path):
    server = _sigkilled_cli_run(tmp_path / "runs.db")
    run = server.list_runs()[0]
    assert run.status == "running"  # its heartbeat is still fresh
    server.request_stop(run.id)
    assert server.get_run(run.id).status == "interrupted"


@pytest.mark.parametrize("flags, field", [
    (["--temperature", "inf"], "temperature"), (["--lambda-u", "nan"], "lambda_u"), (["--lr=-inf"], "lr"),
    (["--mu", "100000"], "mu"), (["--batch-size", "2000", "--mu", "7"], "mu"), (["--steps", "10000000"], "steps"),
    (["--lambda-u", "1e300"], "lambda_u"), (["--lr", "1e300"], "lr"), (["--temperature", "1e-300"], "temperature"),
    (["--weight-decay", "2"], "weight_decay"), (["--contrastive-temperature", "1e6"], "contrastive_temperature")])
def test_non_finite_and_oversized_settings_are_refused_in_one_line(tmp_path, capsys, flags, field):
    path = tmp_path / "runs.db"
    assert main(["run", "fixmatch", *flags, "--store", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {field}: ") and " must be " in line and not path.exists()


def test_store_problems_are_one_line_naming_the_store_and_leave_files_as_they_were(tmp_path, capsys):
    not_a_store = tmp_path / "notes.db"
    not_a_store.write_text("my notes")
    for store in (tmp_path / "missing" / "runs.db", not_a_store):
        assert main(["list", "--store", str(store)]) == 2
    missing, garbage = capsys.readouterr().err.strip().splitlines()
    assert missing == f"error: store: the folder {tmp_path / 'missing'} does not exist: create it, or choose " \
                      "another store"
    assert garbage.startswith("error: store: ") and "is not an SSL Explorer store" in garbage
    assert not (tmp_path / "missing").exists() and not_a_store.read_text() == "my notes"


def test_a_read_only_store_lists_and_shows_but_refuses_a_run(filled_store, capsys, monkeypatch):
    import sqlite3
    with sqlite3.connect(filled_store) as connection:  # everything into the file itself, as a copy would be
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = digest(filled_store)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: mode != os.W_OK and real_access(path, mode))
    monkeypatch.setattr("sslengine.runner._runners", {})  # a fresh process: no runner holds the store open
    assert main(["list", "--store", str(filled_store)]) == 0
    (run_id,) = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert main(["show", run_id, "--store", str(filled_store)]) == 0
    assert main(["run", "supervised", *QUICK, "--store", str(filled_store)]) == 2
    assert main(["delete", run_id, "--store", str(filled_store)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == [f"error: store: {filled_store} is read-only here: it can be listed and shown, not written"] * 2
    assert digest(filled_store) == before
