"""The store's tables, and the schema version with the migrations that bring an older store up to it.

A store carries its version in `schema_version`; a program opens only a store of its own version, migrating an
older one first and refusing a newer one instead of damaging it.
"""
from __future__ import annotations

from sqlalchemy import (Column, Connection, Float, Integer, LargeBinary, MetaData, String, Table, Text, func,
                        insert, inspect, select, text, update)
from sqlalchemy.schema import CreateIndex, CreateTable

from .errors import ConfigError

SCHEMA_VERSION = 4
# Version -> the statements that bring a store from the version before up to it.
MIGRATIONS: dict[int, list[str]] = {
    2: ["ALTER TABLE runs ADD COLUMN sweep VARCHAR(32)"],  # runs grouped under a sweep (the sweeps table)
    3: ["ALTER TABLE runs ADD COLUMN heartbeat FLOAT"],  # when whatever trains the run last said it was alive
    4: ["ALTER TABLE runs ADD COLUMN owner VARCHAR(64)",  # who started it: a login of the served app
        "ALTER TABLE runs ADD COLUMN address VARCHAR(64)"],  # and from which address
}
_SCHEMA_LOCK = 7_215_512  # PostgreSQL advisory lock id: one process at a time creates or migrates tables

metadata = MetaData()
runs = Table(
    "runs", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("algorithm", String(50), nullable=False),
    Column("dataset", String(50), nullable=False),
    Column("config", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("error", Text),
    Column("created", Float, nullable=False),
    Column("started", Float),
    Column("finished", Float),
    Column("device", String(50)),
    Column("host", String(200)),
    Column("pid", Integer),
    Column("parent", String(32)),
    Column("stop_requested", Integer, nullable=False, default=0),
    Column("sweep", String(32)),
    Column("heartbeat", Float),
    Column("owner", String(64)),
    Column("address", String(64)),
)
sweeps = Table(
    "sweeps", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("algorithm", String(50), nullable=False),
    Column("spec", Text, nullable=False),  # JSON: the base config, the grid, the number of seeds
    Column("created", Float, nullable=False),
)
scalars = Table(
    "scalars", metadata,
    Column("run_id", String(32), primary_key=True),
    Column("key", String(100), primary_key=True),
    Column("step", Integer, primary_key=True),
    Column("value", Float),  # NULL stands for NaN (e.g. accuracy of an empty set)
)
arrays = Table(
    "arrays", metadata,
    Column("run_id", String(32), primary_key=True),
    Column("step", Integer, primary_key=True),
    Column("key", String(100), primary_key=True),
    Column("data", LargeBinary, nullable=False),  # .npy bytes: dtype and shape travel with the data
)

schema = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
)
checkpoints = Table(  # the weights a run ended with, for runs that start from it (fine-tune, distill)
    "checkpoints", metadata,
    Column("run_id", String(32), primary_key=True),
    Column("data", LargeBinary, nullable=False),  # torch.save of the state dict
)


def check_version(conn: Connection, url: str):
    """A store opened read-only cannot be migrated: it must be of this program's version already."""
    version = conn.execute(select(func.max(schema.c.version))).scalar()
    if version != SCHEMA_VERSION:
        raise ConfigError("store", f"{url} is read-only and has schema version {version}, this program "
                                   f"{SCHEMA_VERSION}: open it once where it can be written, to migrate it")


def create_or_migrate(conn: Connection, url: str):
    """Create the tables a store lacks and run the migrations from its version up, in the caller's
    transaction."""
    if conn.dialect.name == "postgresql":  # IF NOT EXISTS alone races between processes there
        conn.execute(text(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})"))
    existed = inspect(conn).has_table("runs")
    for table in metadata.sorted_tables:
        conn.execute(CreateTable(table, if_not_exists=True))
        for index in table.indexes:
            conn.execute(CreateIndex(index, if_not_exists=True))
    version = conn.execute(select(func.max(schema.c.version))).scalar()
    if version is None:  # a new store, or one from before versions (the same tables as version 1)
        version = _version_of_columns(conn) if existed else SCHEMA_VERSION
        conn.execute(insert(schema).values(version=version))
    if version > SCHEMA_VERSION:
        raise ConfigError("store", f"{url} has schema version {version}, newer than this "
                                   f"program's {SCHEMA_VERSION}: update SSL Explorer to open it")
    for step in range(version + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[step]:
            conn.execute(text(statement))
        conn.execute(update(schema).values(version=step))


def _version_of_columns(conn: Connection) -> int:
    """The version of a `runs` table without a recorded version, from the columns the migrations add. SQLite
    runs CREATE TABLE outside the transaction, so another opener may have just created the current tables and
    not yet written their version: those are not version 1."""
    columns = {column["name"] for column in inspect(conn).get_columns("runs")}
    return max([1, *(step for step, added in ADDED_COLUMNS.items() if added in columns)])


ADDED_COLUMNS = {2: "sweep", 3: "heartbeat", 4: "owner"}  # the runs column each migration adds
