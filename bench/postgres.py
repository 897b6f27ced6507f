"""A throwaway PostgreSQL server on localhost, for the store tests and the store benchmark.

Debian's postgresql package (what `.ci/run` installs) provides `initdb` and `pg_ctl`; the server gets a
fresh data folder, a free port, trust authentication on 127.0.0.1, and is stopped and deleted afterwards.
PostgreSQL refuses to run as root, so under root the server runs as the `postgres` user the package makes.
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import sqlalchemy

from bench.browser import free_port


class PostgresUnavailable(RuntimeError):
    """No server can be started here; the message says why (for a test's skip reason)."""


def _binaries() -> Path:
    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))), None)
    if not found:
        raise PostgresUnavailable("no PostgreSQL here: `initdb` is neither on PATH nor in /usr/lib/postgresql "
                                  "(apt-get install postgresql)")
    return Path(os.path.realpath(found)).parent


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("running as root and there is no `postgres` user to run the server as") from None
    return ["runuser", "-u", "postgres", "--", *command]


@contextlib.contextmanager
def postgres_server(durable: bool = False):
    """Start a server; yields the SQLAlchemy URL of its `postgres` database (the admin connection).
    `durable` keeps fsync on, as a real server has it (benchmarks); tests turn it off."""
    bin_dir = _binaries()
    folder = Path(tempfile.mkdtemp(prefix="ssl-explorer-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    port = free_port()

    def run(*command: str):
        done = subprocess.run(_as_server_user([str(bin_dir / command[0]), *command[1:]]), capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise PostgresUnavailable(f"{command[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    try:
        run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync")
        options = f"-p {port} -h 127.0.0.1 -k {folder} -c max_connections=200"
        run("pg_ctl", "-D", str(data), "-w", "-l", str(folder / "log"), "-o",
            options if durable else options + " -c fsync=off", "start")
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(admin_url: str) -> str:
    """A new empty database on the server; returns its URL."""
    name = f"store_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name
