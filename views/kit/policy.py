"""Who may do what, in one place: every page asks here before it starts, stops, renames, deletes or exports.

The role comes from `access.gate`: the instructor's on a server bound to localhost (given there, explicitly),
else the one whose secret the visitor gave. A session with no role may do nothing. The instructor may do
everything. A student starts runs, lessons and sweeps within the class's limits (`check_start`),
and stops, renames and deletes only what their browser session started: a sweep is theirs when every one of
its runs is. Sending runs to an MLflow server is the instructor's alone, and only to the URIs this server
allows, so nothing a visitor types makes the server write files or reach another address. Every "no" is a
`Refused`, which names what was refused and why, and every callback asks again: a button drawn enabled may be
pressed after the rules changed, and a forged message may press one drawn disabled.
"""
from __future__ import annotations

import os
from collections.abc import Iterable

from sslengine.config import RunConfig
from sslengine.store import ACTIVE, RunRecord, Starter, Store
from views.kit import access, state

MAX_QUEUED_ENV = "SSL_EXPLORER_MAX_QUEUED"
MAX_PER_ADDRESS_ENV = "SSL_EXPLORER_MAX_PER_ADDRESS"
MAX_QUEUE_ENV = "SSL_EXPLORER_MAX_QUEUE"
MAX_STEPS_ENV = "SSL_EXPLORER_STUDENT_MAX_STEPS"
MAX_BATCH_ENV = "SSL_EXPLORER_STUDENT_MAX_BATCH"
MLFLOW_URIS_ENV = "SSL_EXPLORER_MLFLOW_URIS"
NO_ROLE = "this session has no role: enter the access secret"


class Refused(Exception):
    """This session may not do that: names what was refused (`field`, as a ConfigError names its field, so that
    a form shows it under the same place) and why. Bad input is a ConfigError; this is permission."""

    def __init__(self, what: str, reason: str):
        super().__init__(f"{what}: {reason}")
        self.field = what


def role() -> str | None:
    """"instructor" (everything), "student" (their own runs; no export to a server-side destination), or None:
    no role given, which may do nothing."""
    return state.role()


def started() -> list[str]:
    """The runs this browser session started."""
    return state.started_runs()


def record(run_ids: Iterable[str]):
    state.add_started_runs(run_ids)


def record_lesson(group: str):
    """A lesson this session started: its later stages (distill's teacher and student), which its thread starts
    as the stage before ends, are the session's too."""
    state.add_started_lesson(group)


def may_change(run: RunRecord) -> bool:
    """A student renames, stops and deletes only the runs this browser session started, a lesson's later
    stages included."""
    return role() == "instructor" or role() == "student" and (
        run.id in started()
        or bool(run.config.lesson) and run.config.group in state.started_lessons())


def check_change(run: RunRecord, action: str):
    """`action` ("stop", "rename", "delete") of this run, if this session may."""
    if not may_change(run):
        raise Refused(action, f"{run.name} is not yours: a student may {action} only the runs they started"
                      if role() == "student" else NO_ROLE)


def refusal(run: RunRecord, action: str) -> str | None:
    """Why this session may not `action` this run, or None: `check_change` for a page that says it in place."""
    try:
        check_change(run, action)
    except Refused as refused:
        return str(refused)
    return None


def may_stop_sweep(run_ids: Iterable[str]) -> bool:
    """A student stops a sweep only when every run of it (these ids) is theirs."""
    return role() == "instructor" or role() == "student" and set(run_ids) <= set(started())


def check_stop_sweep(run_ids: Iterable[str]):
    if not may_stop_sweep(run_ids):
        raise Refused("sweep", "a student stops only the sweeps they started" if role() == "student" else NO_ROLE)


def starter() -> Starter:
    """Who starts runs from this session, as the store records it: a student's login (a token made at its first
    start, dropped when the login ends) and address; nobody in particular for the instructor."""
    if role() != "student":
        return Starter()
    return Starter(state.login_token(), access.client_address())


def _limit(env: str, default: int) -> int:
    return int(os.environ.get(env, str(default)))


def check_start(store: Store, configs: list[RunConfig]):
    """A class's limits on a student's start, counted in the store, so that no number of tabs, logins or
    websocket clients gets past them; the instructor is not held to them (the Realistic page starts eleven runs):
    - each run within the step and batch budget ($SSL_EXPLORER_STUDENT_MAX_STEPS, default 5000;
      $SSL_EXPLORER_STUDENT_MAX_BATCH images a step, labeled and unlabeled, default 1024);
    - a login's runs waiting or training at most $SSL_EXPLORER_MAX_QUEUED (default 4), a sweep's and a
      lesson's first stage counted alike; an address's, over all its logins, $SSL_EXPLORER_MAX_PER_ADDRESS (8);
    - the whole queue at most $SSL_EXPLORER_MAX_QUEUE waiting runs (default 60, two for each of 30 students).
    Each refusal says which limit and writes nothing; the queue takes its runs in turns by student
    (`runner.admission_order`)."""
    if role() == "instructor":
        return
    if role() != "student":
        raise Refused("start", NO_ROLE)
    steps, images = _limit(MAX_STEPS_ENV, 5000), _limit(MAX_BATCH_ENV, 1024)
    for config in configs:
        if config.steps > steps:
            raise Refused("steps", f"a student's run trains at most {steps:,} steps on this server "
                                       f"(${MAX_STEPS_ENV}), got {config.steps:,}")
        per_step = config.batch_size * (1 + config.mu)
        if per_step > images:
            raise Refused("batch_size", f"a student's run trains on at most {images:,} images a step on this "
                                            f"server (${MAX_BATCH_ENV}), got batch_size x (1 + mu) = {per_step:,}")
    new, me = len(configs), starter()
    active = [run for run in store.list_runs() if run.status in ACTIVE]
    limit = _limit(MAX_QUEUED_ENV, 4)
    mine = sum(run.owner == me.owner for run in active)
    if mine + new > limit:
        raise Refused("queue", f"this login has {mine} run{'s' * (mine != 1)} waiting or training, asks for "
                                   f"{new} more and may keep at most {limit}: stop one in the sidebar, or wait "
                                   "for one to end")
    limit = _limit(MAX_PER_ADDRESS_ENV, 8)
    theirs = sum(run.owner is not None and run.address == me.address for run in active)
    if theirs + new > limit:
        raise Refused("queue", f"the logins from your address have {theirs} runs waiting or training, ask for "
                                   f"{new} more and may keep at most {limit} together: wait for one to end")
    limit = _limit(MAX_QUEUE_ENV, 60)
    waiting = sum(run.status == "queued" for run in active)
    if waiting + new > limit:
        raise Refused("queue", f"the class's queue holds {waiting} waiting runs, and {new} more would pass "
                                   f"its {limit}: wait for some to start")


def check_mlflow_uri(uri: str) -> str:
    """A tracking URI the page may send to: only the instructor, only an http(s) server named in
    $SSL_EXPLORER_MLFLOW_URIS (comma-separated; empty by default), never a folder or a database file on this
    server. The command line keeps every destination."""
    allowed = [entry.strip().rstrip("/") for entry in os.environ.get(MLFLOW_URIS_ENV, "").split(",") if entry.strip()]
    if role() != "instructor":
        raise Refused("mlflow_uri", "sending to MLflow is for the instructor; download the files instead")
    if not uri.startswith(("http://", "https://")):
        raise Refused("mlflow_uri", f"{uri!r} is not an http(s) tracking server: a folder or a sqlite: URI "
                                        "would be written on this server; use the command line's export")
    if uri.rstrip("/") not in allowed:
        raise Refused("mlflow_uri", f"{uri!r} is not among this server's allowed tracking URIs "
                                        f"(${MLFLOW_URIS_ENV}: {', '.join(allowed) or 'none set'})")
    return uri
