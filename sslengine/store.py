"""The run store: every run's config, status, scalars and probe arrays, in one database.

SQLite file by default (WAL, so readers never block the writer), any SQLAlchemy URL otherwise: PostgreSQL
(`postgresql://...`, through psycopg 3) for a store shared by many processes and hosts. Each write is one
transaction. The tables and their migrations are in `schema`. Pages, the CLI and the runner all
read and write through this class only, so a run looks the same wherever it was started.
"""
from __future__ import annotations

import io
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sqlalchemy import create_engine, delete, event, func, insert, select, update
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError

from .config import ConfigError, RunConfig
from .schema import arrays, check_version, checkpoints, create_or_migrate, runs, scalars, sweeps

DEFAULT_PATH = "ssl_explorer.db"
ENV_VAR = "SSL_EXPLORER_STORE"
ACTIVE = ("queued", "running")
FINAL = ("finished", "stopped", "failed", "interrupted")
MAX_SNAPSHOTS_PER_RUN = 200
# Whatever trains a run, or holds it queued, writes its heartbeat this often; a run whose heartbeat is older than
# STALE_SECONDS is marked interrupted by any process that lists the store, whichever host held it.
HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 20.0


class UnknownRun(LookupError):
    def __init__(self, run_id: str, store: "Store"):
        super().__init__(f"run_id: no run {run_id!r} in the store {store.url}")


@dataclass
class RunRecord:
    id: str
    name: str
    algorithm: str
    dataset: str
    config: RunConfig
    status: str
    error: str | None
    created: float
    started: float | None
    finished: float | None
    device: str | None
    host: str | None
    pid: int | None
    parent: str | None
    stop_requested: bool
    sweep: str | None
    heartbeat: float | None = None
    owner: str | None = None  # the login of the served app that started it (None: the instructor, the CLI)
    address: str | None = None  # the address that login came from

    @property
    def turn(self) -> str | None:
        return turn(self.owner, self.address)

    @property
    def wall_seconds(self) -> float | None:
        """From the start of training to its end (or now), setup and measurement included: the `seconds` scalar
        is the training time alone."""
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started


@dataclass(frozen=True)
class Starter:
    """Who starts runs: a student's login of the served app and its address, which the class's limits count and
    its queue takes in turns; None for the instructor and the command line."""
    owner: str | None = None
    address: str | None = None

    @property
    def turn(self) -> str | None:
        return turn(self.owner, self.address)


def turn(owner: str | None, address: str | None) -> str | None:
    """Whose turn a run takes in a queue: its address's, where a student started it (a student's every tab is a
    login of its own, their address one), else its starter's."""
    return address or owner


def resolve_url(location: str | None = None) -> str:
    """A SQLAlchemy URL from a URL, a file path, $SSL_EXPLORER_STORE, or the default file here."""
    location = location or os.environ.get(ENV_VAR) or DEFAULT_PATH
    for short in ("postgresql://", "postgres://"):  # SQLAlchemy's default driver would be psycopg2
        if location.startswith(short):
            return "postgresql+psycopg://" + location.removeprefix(short)
    if "://" in location:
        return location
    return f"sqlite:///{Path(location).expanduser().resolve()}"


def _this_process() -> dict:
    """The owner columns of a run: the process that records, trains or claims it."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _sqlite_read_only(path: Path) -> bool:
    """Whether a SQLite store must be opened read-only; raises ConfigError where it cannot be opened at all."""
    if not path.parent.is_dir():
        raise ConfigError("store", f"the folder {path.parent} does not exist: create it, or choose another store")
    if not path.exists():
        if not os.access(path.parent, os.W_OK):
            raise ConfigError("store", f"cannot create {path}: no permission to write in {path.parent}")
        return False
    if not os.access(path, os.R_OK):
        raise ConfigError("store", f"cannot read {path}: no permission")
    return not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK)  # WAL needs files beside it


def store_problem(url: str, error: DatabaseError) -> str:
    """One line for what went wrong with the store, from the database's own message."""
    reason = str(getattr(error, "orig", error)).strip()
    if "not a database" in reason:
        return f"{url} is not an SSL Explorer store ({reason}): choose another file"
    if "locked" in reason:
        return f"{url} stayed locked by another process for over 30 s: try again, or close what holds it"
    if "readonly" in reason or "read-only" in reason:
        return f"{url} is read-only here: it can be listed and shown, not written"
    return f"{url}: {reason}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _to_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _from_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


class Store:
    """The run store. A SQLite file that this process may not write (a read-only copy, another user's) is
    opened read-only: it lists and shows; a write is refused in one line naming `store`."""

    def __init__(self, location: str | None = None, must_exist: bool = False):
        self.url = resolve_url(location)
        self.is_sqlite = self.url.startswith("sqlite")
        self.read_only = False
        if self.is_sqlite:
            path = Path(self.url.removeprefix("sqlite:///"))
            if must_exist and not path.exists():
                raise ConfigError("store", f"no store at {path}")
            self.read_only = _sqlite_read_only(path)
            url = f"sqlite:///file:{path}?mode=ro&immutable=1&uri=true" if self.read_only else self.url
            self.engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            if not self.read_only:
                event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)
        try:
            self._open()
        except DatabaseError as error:
            raise ConfigError("store", store_problem(self.url, error)) from None

    def _open(self):
        if self.read_only:
            with self.engine.connect() as conn:
                return check_version(conn, self.url)
        for attempt in range(100):
            try:
                with self.engine.begin() as conn:
                    create_or_migrate(conn, self.url)
                break
            except (OperationalError, IntegrityError) as error:
                # SQLite: a transaction that read cannot wait to write after another process wrote the
                # schema ("database is locked" at once, not after the timeout); the next attempt sees it.
                lost_the_race = isinstance(error, IntegrityError) or "locked" in str(error)
                if not self.is_sqlite or attempt == 99 or not lost_the_race:
                    raise
                time.sleep(0.05)
        self.mark_interrupted()

    # Runs and their life --------------------------------------------------------------------------
    def create_run(self, config: RunConfig, parent: str | None = None, sweep: str | None = None,
                   starter: Starter | None = None) -> str:
        run_id = uuid.uuid4().hex[:12]
        starter = starter or Starter()
        with self.engine.begin() as conn:
            conn.execute(insert(runs).values(
                id=run_id, name=config.name or f"{config.algorithm}-{config.dataset}-{run_id[:4]}",
                algorithm=config.algorithm, dataset=config.dataset, config=config.to_json(), status="queued",
                created=time.time(), **_this_process(), parent=parent,
                stop_requested=0, sweep=sweep, owner=starter.owner, address=starter.address))
        return run_id

    def resolve_id(self, run_id: str) -> str:
        """The full id of a run from its id or a unique prefix of it."""
        with self.engine.connect() as conn:
            matches = conn.execute(select(runs.c.id).where(runs.c.id.startswith(run_id, autoescape=True))
                                   .limit(2)).scalars().all()
        if run_id in matches:
            return run_id
        if len(matches) != 1 or not run_id:
            raise UnknownRun(run_id, self)
        return matches[0]

    def get_run(self, run_id: str) -> RunRecord:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == self.resolve_id(run_id))).mappings().first()
        return _record(row)

    def list_runs(self) -> list[RunRecord]:
        self.mark_stale()
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs).order_by(runs.c.created.desc())).mappings().all()
        return [_record(row) for row in rows]

    def rename(self, run_id: str, name: str):
        self.get_run(run_id)
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(name=name))

    def set_status(self, run_id: str, status: str, error: str | None = None, device: str | None = None):
        values: dict = {"status": status}
        if status == "running":  # the process that trains it owns it now (a Ray worker, maybe on another host)
            values |= {"started": time.time(), "heartbeat": time.time(), **_this_process()}
        if status in FINAL:
            values["finished"] = time.time()
        if error is not None:
            values["error"] = error
        if device is not None:
            values["device"] = device
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def claim(self, run_ids: list[str]):
        """This process will train these queued runs (a sweep's driver): they become its, so that the end of
        the process that recorded them (a page's server) does not mark them interrupted; from now on it beats
        for them while they wait."""
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id.in_(run_ids), runs.c.status == "queued")
                         .values(heartbeat=time.time(), **_this_process()))

    def beat(self, run_ids: list[str], status: str = "running"):
        """The process that trains these runs, or holds them queued, is alive (written every HEARTBEAT_SECONDS)."""
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id.in_(run_ids), runs.c.status == status)
                         .values(heartbeat=time.time()))

    def request_stop(self, run_id: str):
        """Ask the run to stop; its loop, in whatever process, sees this at its next log step. A run still
        queued is stopped at once: whatever would have trained it sees the request first and leaves it. A
        run whose trainer is gone (its process on this host ended) is marked interrupted at once."""
        run = self.get_run(run_id)
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(stop_requested=1))
            conn.execute(update(runs).where(runs.c.id == run_id, runs.c.status == "queued")
                         .values(status="stopped", finished=time.time()))
        if run.status == "running" and run.host == socket.gethostname() and not _process_alive(run.pid or 0):
            self.set_status(run_id, "interrupted", error="the process running it ended without finishing")

    def stop_requested(self, run_id: str) -> bool:
        """Raises UnknownRun once the run is deleted: its trainer stops there."""
        with self.engine.connect() as conn:
            row = conn.execute(select(runs.c.stop_requested).where(runs.c.id == run_id)).first()
        if row is None:
            raise UnknownRun(run_id, self)
        return bool(row[0])

    def mark_stale(self):
        """Runs whose process has not written a heartbeat for STALE_SECONDS, on whatever host, were interrupted
        (a killed process, a lost machine): running ones their trainer's, queued ones the runner's that holds
        them. A sweep's queued runs have none: whatever trains them may not have started yet."""
        if self.read_only:
            return
        bound = time.time() - STALE_SECONDS
        stale = runs.c.status.in_(ACTIVE) & (runs.c.heartbeat < bound)
        with self.engine.connect() as conn:
            found = conn.execute(select(runs.c.id).where(stale).limit(1)).first()
        if found is not None:  # a write only when there is something to mark
            with self.engine.begin() as conn:
                conn.execute(update(runs).where(stale).values(
                    status="interrupted", finished=time.time(),
                    error=f"the process that held it stopped answering (no heartbeat for {STALE_SECONDS:.0f} s)"))

    def mark_interrupted(self):
        """Runs left queued or running by a process of this host that no longer exists were interrupted."""
        host = socket.gethostname()
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs.c.id, runs.c.pid).where(runs.c.status.in_(ACTIVE),
                                                                   runs.c.host == host)).all()
        for run_id, pid in rows:
            if pid is None or not _process_alive(pid):
                self.set_status(run_id, "interrupted", error="the process running it ended without finishing")

    def delete_run(self, run_id: str):
        run_id = self.resolve_id(run_id)
        with self.engine.begin() as conn:
            for table in (scalars, arrays, checkpoints):
                conn.execute(delete(table).where(table.c.run_id == run_id))
            conn.execute(delete(runs).where(runs.c.id == run_id))

    def _still_there(self, conn, run_id: str):
        """Inside a write, after it: a run deleted meanwhile gets no rows (the write is rolled back), so a
        trainer that has not yet seen the deletion leaves nothing behind."""
        if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
            raise UnknownRun(run_id, self)

    # Scalars --------------------------------------------------------------------------------------
    def log_scalars(self, run_id: str, step: int, values: dict[str, float]):
        rows = [{"run_id": run_id, "step": step, "key": key,
                 "value": None if value is None or np.isnan(value) else float(value)}
                for key, value in values.items()]
        with self.engine.begin() as conn:
            conn.execute(insert(scalars), rows)
            self._still_there(conn, run_id)

    def scalars(self, run_id: str, since_step: int = -1) -> pd.DataFrame:
        """Long table step, key, value (NaN where the value was undefined), ordered by step."""
        query = (select(scalars.c.step, scalars.c.key, scalars.c.value)
                 .where(scalars.c.run_id == run_id, scalars.c.step > since_step)
                 .order_by(scalars.c.step, scalars.c.key))
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).all(), columns=["step", "key", "value"])
        return frame.astype({"step": "int64", "key": "object", "value": "float64"})

    def scalars_by_step(self, run_id: str) -> pd.DataFrame:
        """The same values as one column per key, indexed by step."""
        return self.scalars(run_id).pivot(index="step", columns="key", values="value")

    def scalars_of(self, run_ids: list[str]) -> pd.DataFrame:
        """Long table run_id, step, key, value of several runs, in the order given."""
        return pd.concat([self.scalars(run_id).assign(run_id=run_id) for run_id in run_ids],
                         ignore_index=True)[["run_id", "step", "key", "value"]]

    def final_scalars(self, run_id: str) -> dict[str, float]:
        """The last logged value of each key."""
        last = (select(scalars.c.key, func.max(scalars.c.step).label("step"))
                .where(scalars.c.run_id == run_id).group_by(scalars.c.key).subquery())
        query = select(scalars.c.key, scalars.c.value).join(
            last, (scalars.c.key == last.c.key) & (scalars.c.step == last.c.step)).where(
            scalars.c.run_id == run_id)
        with self.engine.connect() as conn:
            return {key: float("nan") if value is None else value for key, value in conn.execute(query)}

    def last_step(self, run_id: str) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(scalars.c.step)).where(scalars.c.run_id == run_id)).scalar()

    def last_steps(self, run_ids: list[str]) -> dict[str, int]:
        """The last logged step of each of these runs that has logged one, in one query."""
        query = (select(scalars.c.run_id, func.max(scalars.c.step))
                 .where(scalars.c.run_id.in_(run_ids)).group_by(scalars.c.run_id))
        with self.engine.connect() as conn:
            return dict(conn.execute(query).all())

    # Arrays: the probe snapshots ------------------------------------------------------------------
    def log_arrays(self, run_id: str, step: int, values: dict[str, np.ndarray]):
        """One snapshot. Past MAX_SNAPSHOTS_PER_RUN, the oldest but the first is dropped to make room."""
        steps = self.snapshot_steps(run_id)
        with self.engine.begin() as conn:
            if len(steps) >= MAX_SNAPSHOTS_PER_RUN and step not in steps:
                conn.execute(delete(arrays).where(arrays.c.run_id == run_id, arrays.c.step == steps[1]))
            conn.execute(insert(arrays), [{"run_id": run_id, "step": step, "key": key, "data": _to_npy(value)}
                                          for key, value in values.items()])
            self._still_there(conn, run_id)

    def snapshot_steps(self, run_id: str) -> list[int]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(arrays.c.step).where(arrays.c.run_id == run_id).distinct()
                                     .order_by(arrays.c.step)).scalars())

    def array_keys(self, run_id: str) -> dict[int, set[str]]:
        """Which arrays each snapshot holds, by step in order."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(arrays.c.step, arrays.c.key).where(arrays.c.run_id == run_id)
                                .order_by(arrays.c.step)).all()
        keys: dict[int, set[str]] = {}
        for step, key in rows:
            keys.setdefault(step, set()).add(key)
        return keys

    def runs_missing(self, key: str, have: str) -> list[str]:
        """Runs with a snapshot that holds `have` but not yet `key`: work for a derived-array worker."""
        other = arrays.alias()
        lacking = ~select(other.c.key).where(other.c.run_id == arrays.c.run_id, other.c.step == arrays.c.step,
                                             other.c.key == key).exists()
        with self.engine.connect() as conn:
            return list(conn.execute(select(arrays.c.run_id).where(arrays.c.key == have, lacking).distinct())
                        .scalars())

    def array(self, run_id: str, step: int, key: str) -> np.ndarray:
        with self.engine.connect() as conn:
            return _from_npy(conn.execute(select(arrays.c.data).where(
                arrays.c.run_id == run_id, arrays.c.step == step, arrays.c.key == key)).scalar_one())

    def arrays(self, run_id: str, step: int) -> dict[str, np.ndarray]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(arrays.c.key, arrays.c.data)
                                .where(arrays.c.run_id == run_id, arrays.c.step == step)).all()
        return {key: _from_npy(data) for key, data in rows}

    # Checkpoints: a run's final weights -----------------------------------------------------------
    def save_checkpoint(self, run_id: str, state: dict):
        buffer = io.BytesIO()
        torch.save(state, buffer)
        with self.engine.begin() as conn:
            conn.execute(delete(checkpoints).where(checkpoints.c.run_id == run_id))
            conn.execute(insert(checkpoints).values(run_id=run_id, data=buffer.getvalue()))
            self._still_there(conn, run_id)

    def has_checkpoint(self, run_id: str) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(select(checkpoints.c.run_id).where(checkpoints.c.run_id == run_id)).first()
        return found is not None

    def checkpoint(self, run_id: str) -> dict | None:
        """The run's final weights (on the CPU), or None if it has none (still running, failed, old)."""
        with self.engine.connect() as conn:
            data = conn.execute(select(checkpoints.c.data).where(checkpoints.c.run_id == run_id)).scalar()
        return None if data is None else torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)

    # Sweeps ---------------------------------------------------------------------------------------
    def create_sweep(self, name: str, algorithm: str, spec: dict) -> str:
        sweep_id = uuid.uuid4().hex[:12]
        with self.engine.begin() as conn:
            conn.execute(insert(sweeps).values(id=sweep_id, name=name, algorithm=algorithm,
                                               spec=json.dumps(spec, sort_keys=True), created=time.time()))
        return sweep_id

    def list_sweeps(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(sweeps).order_by(sweeps.c.created.desc())).mappings().all()
        return [dict(row, spec=json.loads(row["spec"])) for row in rows]

    def sweep_runs(self, sweep_id: str) -> list[RunRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs).where(runs.c.sweep == sweep_id).order_by(runs.c.created)).mappings()
            return [_record(row) for row in rows.all()]


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _record(row) -> RunRecord:
    values = dict(row)
    values["config"] = RunConfig.from_json(values["config"])
    values["stop_requested"] = bool(values["stop_requested"])
    return RunRecord(**values)
