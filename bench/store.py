"""Store benchmark: `python -m bench.store` (about 2 minutes on 2 cores).

The write pattern of a run, from 1, 4 and 16 writer processes at once, into SQLite and into PostgreSQL (a
server started here, as the tests do): per log step one transaction of 10 scalars, and every 10th step
one snapshot (a probe's 1 000 x 10 float32 logits and its 1 000 targets, about 48 kB). Both durable: SQLite
in WAL with synchronous=NORMAL (the store's setting), PostgreSQL with fsync on. Printed: scalar rows
per second over all writers, snapshots per second, and PostgreSQL's rate against SQLite's at the same count.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.browser import ROOT
from bench.postgres import fresh_database, postgres_server
from sslengine.store import Store

STEPS, KEYS, SNAPSHOT_EVERY = 200, 10, 10

WRITER = f"""
import sys, time
from pathlib import Path
import numpy as np
from sslengine.config import RunConfig
from sslengine.store import Store
store, go = Store(sys.argv[1]), Path(sys.argv[2])
logits, target = np.zeros((1000, 10), np.float32), np.zeros(1000, np.int64)
Path(sys.argv[3]).touch()  # imported and connected
while not go.exists():
    time.sleep(0.005)
run_id = store.create_run(RunConfig())
for step in range({STEPS}):
    store.log_scalars(run_id, step, {{f"key_{{k}}": float(step) for k in range({KEYS})}})
    if step % {SNAPSHOT_EVERY} == 0:
        store.log_arrays(run_id, step, {{"logits": logits, "target": target}})
"""


def write_at_once(url: str, writers: int) -> float:
    """Seconds from the start signal until every writer has finished."""
    Store(url).engine.dispose()  # the schema exists before the race
    folder = Path(tempfile.mkdtemp())
    go, ready = folder / "go", [folder / f"ready-{i}" for i in range(writers)]
    processes = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(go), str(flag)], cwd=ROOT)
                 for flag in ready]
    while not all(flag.exists() for flag in ready):  # time the writing, not 16 imports of torch
        time.sleep(0.05)
    started = time.perf_counter()
    go.touch()
    codes = [process.wait() for process in processes]
    seconds = time.perf_counter() - started
    assert codes == [0] * writers, codes
    store = Store(url)
    rows = sum(len(store.scalars(run.id)) for run in store.list_runs())
    assert rows == writers * STEPS * KEYS, (rows, writers * STEPS * KEYS)  # nothing lost, nothing doubled
    store.engine.dispose()
    return seconds


def main():
    print(f"each writer: {STEPS} log steps of {KEYS} scalars, a 48 kB snapshot every {SNAPSHOT_EVERY} steps")
    print(f"{'writers':>7s} {'store':>10s} {'seconds':>8s} {'scalar rows/s':>14s} {'snapshots/s':>12s} "
          f"{'vs SQLite':>9s}")
    with postgres_server(durable=True) as admin:
        for writers in (1, 4, 16):
            sqlite_rate = None
            for kind in ("sqlite", "postgresql"):
                url = str(Path(tempfile.mkdtemp()) / "bench.db") if kind == "sqlite" else fresh_database(admin)
                seconds = write_at_once(url, writers)
                rate = writers * STEPS * KEYS / seconds
                sqlite_rate = sqlite_rate or rate
                print(f"{writers:7d} {kind:>10s} {seconds:8.2f} {rate:14.0f} "
                      f"{writers * STEPS / SNAPSHOT_EVERY / seconds:12.1f} {rate / sqlite_rate:8.2f}x")


if __name__ == "__main__":
    main()
