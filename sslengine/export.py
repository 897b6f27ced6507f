"""A run, out of the store, for the tools people keep their runs in: plain files, MLflow, TensorBoard.

Every format gets the config as parameters and every scalar at every logged step, stamped with the wall
time it was logged at; the probe snapshots go where the format has room for them. MLflow and TensorBoard are
the optional extra (requirements-scale.txt) and are imported here only, when asked for.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import io
import json
import math
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ConfigError
from .store import ACTIVE, Store

FORMATS = ("csv", "mlflow", "tensorboard")
MLFLOW_STATUS = {"finished": "FINISHED", "failed": "FAILED", "stopped": "KILLED", "interrupted": "KILLED"}
MLFLOW_BATCH = 1000  # MLflow takes at most 1000 metrics (and 100 params) in one call
RUN_ID_TAG = "ssl_explorer.run_id"
NEEDS = {"mlflow": "mlflow", "tensorboard": "tensorboard"}  # the module a format needs: the scale extra


def finite(values: dict) -> dict:
    """JSON has no NaN: undefined metrics (e.g. accuracy of an empty set) become null."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in values.items()}


def run_summary(store: Store, run_id: str, with_config: bool = False) -> dict:
    """A run as `show --json` prints it: status, timing and the last value of every scalar."""
    run = store.get_run(run_id)
    result = {"run_id": run.id, "name": run.name, "algorithm": run.algorithm, "dataset": run.dataset,
              "status": run.status, "error": run.error, "device": run.device,
              "wall_seconds": None if run.wall_seconds is None else round(run.wall_seconds, 2),
              "metrics": finite(store.final_scalars(run.id))}
    if with_config:
        result["config"] = dataclasses.asdict(run.config)
    return result


def export(store: Store, run_id: str, format: str, out: str | None = None, experiment: str = "ssl-explorer") -> str:
    """Write the run in `format` to `out` (a format's own default when None); says where it went."""
    if format not in FORMATS:
        raise ConfigError("format", f"{format!r} is not an export format; known: {', '.join(FORMATS)}")
    run_id = store.resolve_id(run_id)
    status = store.get_run(run_id).status
    if status in ACTIVE:
        raise ConfigError("run_id", f"run {run_id} is {status}: export it once it has ended (wait, or stop it)")
    try:
        if format == "csv":
            folder = write_files(store, run_id, Path(out or f"exports/{run_id}"))
            return f"{folder} (scalars.csv, run.json, snapshots/)"
        if format == "mlflow":
            return to_mlflow(store, run_id, out, experiment)
        return str(to_tensorboard(store, run_id, Path(out or "runs")))
    except OSError as error:  # a file where a folder should be, no permission, a full disk...
        raise ConfigError("out", f"cannot write the export to {out or 'its default folder'}: {error}") from error


def as_zip(store: Store, run_id: str, format: str) -> bytes:
    """A run's csv or tensorboard export as one zip file, for a download from the browser."""
    with tempfile.TemporaryDirectory() as folder:
        export(store, run_id, format, folder)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(Path(folder).rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder))
        return buffer.getvalue()


def available(format: str) -> bool:
    """Whether the libraries a format needs are installed (the scale extra)."""
    return format not in NEEDS or importlib.util.find_spec(NEEDS[format]) is not None


def write_files(store: Store, run_id: str, folder: Path) -> Path:
    """scalars.csv (step, key, value), run.json (the summary with the config), snapshots/step_<N>.npz."""
    (folder / "snapshots").mkdir(parents=True, exist_ok=True)
    store.scalars(run_id).to_csv(folder / "scalars.csv", index=False)
    for step in store.snapshot_steps(run_id):
        np.savez_compressed(folder / "snapshots" / f"step_{step}.npz", **store.arrays(run_id, step))
    (folder / "run.json").write_text(json.dumps(run_summary(store, run_id, with_config=True), indent=2))
    return folder


def params(store: Store, run_id: str) -> dict[str, str | int | float | bool]:
    """The config as the run trained with it; None (a setting its method has no use for) as "None", since
    TensorBoard's HParams take no null."""
    return {key: "None" if value is None else value
            for key, value in dataclasses.asdict(store.get_run(run_id).config).items()}


def timed_scalars(store: Store, run_id: str) -> pd.DataFrame:
    """step, key, value, wall (Unix seconds): the `wall_seconds` scalar (before it, `seconds`) dates each step
    after the run started."""
    run, frame = store.get_run(run_id), store.scalars(run_id)
    clock = frame[frame.key == ("wall_seconds" if (frame.key == "wall_seconds").any() else "seconds")].dropna()
    start = run.started or run.created
    if clock.empty:
        return frame.assign(wall=start)
    return frame.assign(wall=start + np.interp(frame.step, clock.step, clock.value))


def _optional(format: str):
    try:
        return importlib.import_module(NEEDS[format])
    except ImportError as error:
        raise ConfigError("format", f"{format} needs the optional extra: pip install -r requirements-scale.txt "
                                    f"({error})") from error


def to_mlflow(store: Store, run_id: str, out: str | None, experiment: str) -> str:
    """One MLflow run: params, metrics with steps and times, tags, and write_files' files as artifacts.

    `out` is a tracking URI (http://..., sqlite:///...), or a folder that gets its own mlflow.db and
    artifacts/ (open it with `mlflow ui --backend-store-uri sqlite:///FOLDER/mlflow.db`), or None for
    MLflow's own default ($MLFLOW_TRACKING_URI, else ./mlflow.db).
    """
    mlflow = _optional("mlflow")
    from mlflow.entities import Metric, Param

    artifacts = None
    if out is not None and "://" not in out:
        folder = Path(out).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        out, artifacts = f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri()
    client = mlflow.MlflowClient(tracking_uri=out)
    try:
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment, artifacts)
        earlier = client.search_runs([experiment_id], f"tags.`{RUN_ID_TAG}` = '{run_id}'")
        if earlier:
            raise ConfigError("run_id", f"run {run_id} is already in MLflow experiment {experiment!r} at "
                                        f"{client.tracking_uri} (MLflow run {earlier[0].info.run_id})")
        run = store.get_run(run_id)
        ml_run = client.create_run(experiment_id, start_time=_ms(run.started or run.created), run_name=run.name,
                                   tags={RUN_ID_TAG: run.id, "algorithm": run.algorithm, "dataset": run.dataset,
                                         "device": str(run.device), "status": run.status,
                                         **({"mlflow.note.content": run.error} if run.error else {})})
        ml_id = ml_run.info.run_id
        try:
            client.log_batch(ml_id, params=[Param(key, str(value)) for key, value in params(store, run_id).items()])
            metrics = [Metric(row.key, row.value, _ms(row.wall), row.step)
                       for row in timed_scalars(store, run_id).itertuples()]
            for start in range(0, len(metrics), MLFLOW_BATCH):
                client.log_batch(ml_id, metrics=metrics[start:start + MLFLOW_BATCH])
            with tempfile.TemporaryDirectory() as folder:
                client.log_artifacts(ml_id, str(write_files(store, run_id, Path(folder))))
            client.set_terminated(ml_id, MLFLOW_STATUS[run.status], end_time=_ms(run.finished or run.created))
        except BaseException:
            client.delete_run(ml_id)  # half a run would make the retry look like a second export
            raise
    except mlflow.exceptions.MlflowException as error:
        raise ConfigError("out", f"MLflow at {client.tracking_uri}: {error.message}") from error
    return f"MLflow run {ml_id} in experiment {experiment!r} at {client.tracking_uri}"


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def to_tensorboard(store: Store, run_id: str, logdir: Path) -> Path:
    """One TensorBoard run, the folder logdir/<name>-<id>: scalars, the config as text and as HParams, a
    histogram of the probe set's confidence at every snapshot, and the last embedding in the Projector."""
    _optional("tensorboard")
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    run = store.get_run(run_id)
    folder = logdir / f"{re.sub(r'[^A-Za-z0-9._=-]+', '_', run.name).strip('_')}-{run.id}"
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError("out", f"{folder} already holds an export of run {run.id}; remove it or choose "
                                 "another --out")
    config = params(store, run_id)
    final = {key: value for key, value in store.final_scalars(run_id).items() if math.isfinite(value)}
    with SummaryWriter(str(folder)) as writer:
        writer.add_text("config", "```json\n" + json.dumps(config, indent=2) + "\n```", 0)
        for row in timed_scalars(store, run_id).itertuples():
            writer.add_scalar(row.key, row.value, row.step, walltime=row.wall)
        embedded = None
        for step in store.snapshot_steps(run_id):
            snapshot = store.arrays(run_id, step)
            if "logits" in snapshot:
                logits = snapshot["logits"].astype(np.float64)
                probs = np.exp(logits - logits.max(1, keepdims=True))
                writer.add_histogram("probe/confidence", (probs / probs.sum(1, keepdims=True)).max(1), step)
            if "embedding" in snapshot:
                embedded = step, snapshot["embedding"][:len(snapshot["target"])], snapshot["target"]
        if embedded is not None:
            step, embedding, target = embedded
            writer.add_embedding(embedding.astype(np.float32), metadata=target.tolist(), global_step=step,
                                 tag="probe_embedding")
        for part in hparams(config, final):  # the HParams dashboard: experiment, session start and end
            writer.file_writer.add_summary(part)
    return folder
