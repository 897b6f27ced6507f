"""`export --format mlflow|tensorboard|csv`, read back with MLflow's and TensorBoard's own readers and compared
with the store and with `show --json`."""
import io
import json
import math
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest

from sslengine.cli import main
from sslengine.config import RunConfig
from sslengine.export import as_zip
from sslengine.store import Store

mlflow = pytest.importorskip("mlflow", reason="the scale extra (requirements-scale.txt) is not installed")
pytest.importorskip("tensorboard", reason="the scale extra (requirements-scale.txt) is not installed")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A store with a finished FixMatch run (classifier probes) and a SimCLR run (embeddings), on moons."""
    path = tmp_path_factory.mktemp("export") / "runs.db"
    for algorithm in ("fixmatch", "simclr"):
        assert main(["run", algorithm, "--dataset", "moons", "--steps", "30", "--store", str(path), "--json"]) == 0
    store = Store(str(path))
    return str(path), {run.algorithm: run.id for run in store.list_runs()}


def show(store: str, run_id: str, capsys) -> dict:
    capsys.readouterr()
    assert main(["show", run_id, "--json", "--store", store]) == 0
    return json.loads(capsys.readouterr().out)


def same(shown, value) -> bool:
    """show --json spells NaN as null."""
    return math.isnan(value) if shown is None else value == pytest.approx(shown, rel=1e-6)


def test_mlflow_export_has_the_config_every_scalar_with_its_step_and_the_snapshots(runs, tmp_path, capsys):
    store_path, ids = runs
    run_id, store = ids["fixmatch"], Store(store_path)
    shown = show(store_path, run_id, capsys)
    assert main(["export", run_id, "--format", "mlflow", "--out", str(tmp_path / "ml"), "--store", store_path]) == 0

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'ml' / 'mlflow.db'}")
    (ml_run,) = client.search_runs([client.get_experiment_by_name("ssl-explorer").experiment_id])
    assert ml_run.info.status == "FINISHED" and ml_run.info.run_name == shown["name"]
    assert ml_run.data.tags["ssl_explorer.run_id"] == run_id
    assert ml_run.data.params["threshold"] == "0.95" and ml_run.data.params["dataset"] == "moons"
    assert set(ml_run.data.params) == set(shown["config"])
    # The last values MLflow shows are show --json's metrics, and each history is the store's, step by step.
    assert set(ml_run.data.metrics) == set(shown["metrics"])
    for key, value in ml_run.data.metrics.items():
        assert same(shown["metrics"][key], value), key
    logged = store.scalars(run_id)
    for key, expected in logged.groupby("key"):
        history = sorted((m.step, m.value) for m in client.get_metric_history(ml_run.info.run_id, key))
        assert [step for step, _ in history] == expected.step.tolist()
        np.testing.assert_array_equal([value for _, value in history], expected.value.to_numpy())
    # Artifacts: the CSV export's files, snapshots included.
    files = {f.path for f in client.list_artifacts(ml_run.info.run_id)}
    assert files == {"run.json", "scalars.csv", "snapshots"}
    snapshots = client.list_artifacts(ml_run.info.run_id, "snapshots")
    assert len(snapshots) == len(store.snapshot_steps(run_id))
    local = client.download_artifacts(ml_run.info.run_id, "run.json", str(tmp_path))
    assert json.loads(open(local).read())["metrics"] == shown["metrics"]


def test_a_second_mlflow_export_of_the_same_run_is_refused(runs, tmp_path, capsys):
    store_path, ids = runs
    argv = ["export", ids["fixmatch"], "--format", "mlflow", "--out", str(tmp_path), "--store", store_path]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(f"error: run_id: run {ids['fixmatch']} is already in MLflow")
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert len(client.search_runs([client.get_experiment_by_name("ssl-explorer").experiment_id])) == 1


def test_an_mlflow_export_that_fails_halfway_says_why_and_leaves_no_half_run(runs, tmp_path, monkeypatch, capsys):
    store_path, ids = runs
    argv = ["export", ids["fixmatch"], "--format", "mlflow", "--out", str(tmp_path), "--store", store_path]

    def unreachable(self, *args, **kwargs):
        raise mlflow.exceptions.MlflowException("artifact store unreachable")

    with monkeypatch.context() as patch:
        patch.setattr(mlflow.MlflowClient, "log_artifacts", unreachable)
        capsys.readouterr()
        assert main(argv) == 2
    assert capsys.readouterr().err.endswith(": artifact store unreachable\n")
    assert main(argv) == 0  # the retry is not refused as a second export
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("ssl-explorer").experiment_id])
    assert run.info.status == "FINISHED"


def events(folder) -> EventAccumulator:
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def test_tensorboard_export_reads_back_with_the_same_scalars_histograms_and_hparams(runs, tmp_path, capsys):
    store_path, ids = runs
    run_id, store = ids["fixmatch"], Store(store_path)
    shown = show(store_path, run_id, capsys)
    assert main(["export", run_id, "--format", "tensorboard", "--out", str(tmp_path), "--store", store_path]) == 0
    (folder,) = tmp_path.iterdir()
    assert folder.name.endswith(run_id)
    board = events(folder)

    logged = store.scalars(run_id)
    assert set(board.Tags()["scalars"]) == set(logged.key)
    for key, expected in logged.groupby("key"):
        points = board.Scalars(key)
        assert [p.step for p in points] == expected.step.tolist()
        np.testing.assert_allclose([p.value for p in points], expected.value, rtol=1e-6)  # float32 in events
        assert same(shown["metrics"][key], points[-1].value), key
    walls = [p.wall_time for p in board.Scalars("seconds")]
    assert walls == sorted(walls) and walls[0] >= store.get_run(run_id).started - 1

    steps = store.snapshot_steps(run_id)
    confidence = board.Histograms("probe/confidence")
    assert [h.step for h in confidence] == steps
    first = store.arrays(run_id, steps[-1])
    assert confidence[-1].histogram_value.num == len(first["target"])
    assert 0.5 - 1e-6 <= confidence[-1].histogram_value.min <= confidence[-1].histogram_value.max <= 1 + 1e-6

    hparams = HParamsPluginData.FromString(board.PluginTagToContent("hparams")["_hparams_/session_start_info"])
    assert hparams.session_start_info.hparams["threshold"].number_value == pytest.approx(0.95)
    assert hparams.session_start_info.hparams["algorithm"].string_value == "fixmatch"
    assert "config/text_summary" in board.Tags()["tensors"]


def test_tensorboard_export_puts_the_last_embedding_in_the_projector(runs, tmp_path):
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    store_path, ids = runs
    run_id, store = ids["simclr"], Store(store_path)
    assert main(["export", run_id, "--format", "tensorboard", "--out", str(tmp_path), "--store", store_path]) == 0
    (folder,) = tmp_path.iterdir()
    (embedding,) = text_format.Parse((folder / "projector_config.pbtxt").read_text(), ProjectorConfig()).embeddings
    last = store.snapshot_steps(run_id)[-1]
    snapshot = store.arrays(run_id, last)
    tensors = np.loadtxt(folder / embedding.tensor_path, delimiter="\t")
    labels = pd.read_csv(folder / embedding.metadata_path, header=None).iloc[:, 0].to_numpy()
    np.testing.assert_allclose(tensors, snapshot["embedding"][:len(snapshot["target"])].astype(np.float32),
                               rtol=1e-3)
    np.testing.assert_array_equal(labels, snapshot["target"])
    assert {"knn_acc", "linear_probe_acc"} <= set(events(folder).Tags()["scalars"])


def test_csv_export_writes_scalars_run_json_and_every_snapshot(runs, tmp_path, capsys):
    store_path, ids = runs
    run_id, store = ids["fixmatch"], Store(store_path)
    shown = show(store_path, run_id, capsys)
    assert main(["export", run_id, "--out", str(tmp_path), "--store", store_path]) == 0
    table = pd.read_csv(tmp_path / "scalars.csv")
    pd.testing.assert_frame_equal(table, store.scalars(run_id), check_dtype=False)
    assert json.loads((tmp_path / "run.json").read_text()) == shown
    steps = store.snapshot_steps(run_id)
    assert sorted(int(p.stem[5:]) for p in (tmp_path / "snapshots").glob("step_*.npz")) == steps
    with np.load(tmp_path / "snapshots" / f"step_{steps[-1]}.npz") as last:
        np.testing.assert_array_equal(last["logits"], store.array(run_id, steps[-1], "logits"))


def test_an_active_run_or_a_missing_extra_is_refused_in_one_line(runs, tmp_path, monkeypatch, capsys):
    store_path, ids = runs
    store = Store(store_path)
    running = store.create_run(RunConfig(dataset="moons"))
    store.set_status(running, "running")
    capsys.readouterr()
    assert main(["export", running, "--format", "tensorboard", "--out", str(tmp_path), "--store", store_path]) == 2
    assert capsys.readouterr().err == (f"error: run_id: run {running} is running: export it once it has ended "
                                       "(wait, or stop it)\n")
    (tmp_path / "a-file").write_text("")
    for format in ("csv", "tensorboard", "mlflow"):
        out = str(tmp_path / "a-file" / "export")
        assert main(["export", ids["fixmatch"], "--format", format, "--out", out, "--store", store_path]) == 2
        assert capsys.readouterr().err.startswith(f"error: out: cannot write the export to {out}: ")
    (tmp_path / "a-file").unlink()
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if the scale extra were not installed
    assert main(["export", ids["fixmatch"], "--format", "mlflow", "--out", str(tmp_path), "--store", store_path]) == 2
    assert capsys.readouterr().err.startswith("error: format: mlflow needs the optional extra: pip install -r "
                                              "requirements-scale.txt")
    assert list(tmp_path.iterdir()) == []
    store.delete_run(running)


def test_the_browser_downloads_are_zips_of_the_same_exports(runs, tmp_path):
    store_path, ids = runs
    run_id, store = ids["fixmatch"], Store(store_path)
    files = zipfile.ZipFile(io.BytesIO(as_zip(store, run_id, "csv")))
    steps = store.snapshot_steps(run_id)
    assert sorted(files.namelist()) == sorted(["run.json", "scalars.csv", *(f"snapshots/step_{s}.npz" for s in steps)])
    pd.testing.assert_frame_equal(pd.read_csv(files.open("scalars.csv")), store.scalars(run_id), check_dtype=False)
    zipfile.ZipFile(io.BytesIO(as_zip(store, run_id, "tensorboard"))).extractall(tmp_path)
    (folder,) = tmp_path.iterdir()
    assert len(events(folder).Scalars("test_acc")) == len(store.scalars(run_id).query("key == 'test_acc'"))
