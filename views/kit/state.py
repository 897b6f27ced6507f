"""What a browser session keeps between its page runs, behind typed functions: `st.session_state` is read and
written here and nowhere else, so every key the app keeps is listed in this file.

Streamlit keeps a keyed widget's value under its key, so the keys of the widgets whose values are read or set
outside the widget (form fields, pickers) are made here too (`form_key`, `step_key`). It drops a widget's entry
on a page run that does not draw the widget; entries set here and drawn by no widget last the session.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

import streamlit as st

_state = st.session_state

# The login (views/kit/access.py) ---------------------------------------------------------------------------
ROLE, SECRET_DIGEST, SEEN, LOGIN_TOKEN = "role", "secret-digest", "seen", "login-token"


def role() -> str | None:
    """"instructor", "student", or None when this session has been given no role."""
    return _state.get(ROLE)


def log_in(role: str, secret_digest: str | None = None):
    """Give this session a role: with the digest of the secret it gave, or with none (localhost, the tests),
    which never ends."""
    if secret_digest is not None:
        _state[SECRET_DIGEST] = secret_digest
    _state[ROLE], _state[SEEN] = role, time.monotonic()


def secret_digest() -> str | None:
    return _state.get(SECRET_DIGEST)


def idle_seconds() -> float:
    """Seconds since this login's last page run."""
    return time.monotonic() - _state.get(SEEN, time.monotonic())


def seen():
    _state[SEEN] = time.monotonic()


def log_out():
    for key in (ROLE, SECRET_DIGEST, SEEN, LOGIN_TOKEN):
        _state.pop(key, None)


def login_token() -> str:
    """This login's identity in the store (`Starter.owner`): made at its first start, dropped at log-out."""
    return _state.setdefault(LOGIN_TOKEN, uuid.uuid4().hex[:16])


# What this session started (views/kit/policy.py) ------------------------------------------------------------
STARTED_RUNS, STARTED_LESSONS = "started-runs", "started-lessons"


def started_runs() -> list[str]:
    return _state.get(STARTED_RUNS, [])


def add_started_runs(run_ids: Iterable[str]):
    _state[STARTED_RUNS] = [*started_runs(), *run_ids]


def started_lessons() -> list[str]:
    """The groups of the lessons this session started: their later stages are its own too."""
    return _state.get(STARTED_LESSONS, [])


def add_started_lesson(group: str):
    _state[STARTED_LESSONS] = [*started_lessons(), group]


# The sidebar's widgets --------------------------------------------------------------------------------------
PRESENTER, DEVICE = "presenter", "device"


def presenting() -> bool:
    return _state.get(PRESENTER, False)


def device() -> str:
    """The device chosen for new runs."""
    return _state.get(DEVICE, "auto")


# The live protocol (views/kit/live.py) ----------------------------------------------------------------------
PAGE_RUNS, PAGE_RAN = "page-runs", "page-ran"


def begin_page_run():
    """A page run starts: it shows no run yet, and its age counts from now."""
    _state[PAGE_RUNS], _state[PAGE_RAN] = set(), time.monotonic()


def add_page_runs(run_ids: Iterable[str]):
    _state.setdefault(PAGE_RUNS, set()).update(run_ids)


def page_runs() -> set[str]:
    """The runs the last page run showed."""
    return _state.get(PAGE_RUNS, set())


def page_age() -> float:
    """Seconds since the page last ran."""
    return time.monotonic() - _state.get(PAGE_RAN, 0.0)


# Messages that outlive the callback that made them ----------------------------------------------------------
SIDEBAR_REFUSAL = "sidebar-refusal"


def refuse_in_sidebar(message: str):
    _state[SIDEBAR_REFUSAL] = message


def sidebar_refusal() -> str | None:
    """The sidebar's last refusal, shown once."""
    return _state.pop(SIDEBAR_REFUSAL, None)


def lesson_error(lesson: str) -> str | None:
    return _state.get(f"lesson-error-{lesson}")


def set_lesson_error(lesson: str, message: str | None):
    if message is None:
        _state.pop(f"lesson-error-{lesson}", None)
    else:
        _state[f"lesson-error-{lesson}"] = message


def lesson_scale_key(lesson: str) -> str:
    """The key of a lesson card's scale switch."""
    return f"lesson-scale-{lesson}"


def lesson_scale(lesson: str) -> str:
    return _state.get(lesson_scale_key(lesson)) or "small"


# Forms: each field's widget is keyed "<form>-<field>" ----------------------------------------------------------
def form_key(form: str, field: str) -> str:
    return f"{form}-{field}"


def form_value(form: str, field: str) -> Any:
    return _state[form_key(form, field)]


def form_values(form: str, fields: Iterable[str]) -> dict[str, Any]:
    return {field: form_value(form, field) for field in fields}


def form_errors(form: str) -> dict[str, str]:
    """The last submit's errors, by the field they name."""
    return _state.get(form_key(form, "errors"), {})


def set_form_errors(form: str, errors: dict[str, str]):
    _state[form_key(form, "errors")] = errors


# Pickers: a selectbox's or multiselect's key holds its choice ------------------------------------------------
def chosen(key: str, default: Any = None) -> Any:
    return _state.get(key, default)


def choose(key: str, value: Any):
    """Set a picker's choice before it is drawn (a run just started, a link's run)."""
    _state[key] = value


def is_chosen(key: str) -> bool:
    """Whether the picker has a choice kept (Streamlit drops it on pages that do not draw the picker)."""
    return key in _state


def step_key(run_id: str) -> str:
    """The threshold page's snapshot slider for a run."""
    return f"step-{run_id}"


def followed(run_id: str) -> bool:
    """Whether the threshold page followed this run's newest snapshot at its last run."""
    return _state.get(f"followed-{run_id}", False)


def set_followed(run_id: str, follow: bool):
    _state[f"followed-{run_id}"] = follow


# The Runs page's delete, asked twice --------------------------------------------------------------------------
DELETE_ASKED = "confirm-delete"


def delete_asked() -> list[str] | None:
    """The runs whose delete waits for its confirmation."""
    return _state.get(DELETE_ASKED)


def ask_delete(run_ids: list[str]):
    _state[DELETE_ASKED] = run_ids


def forget_delete():
    _state.pop(DELETE_ASKED, None)
