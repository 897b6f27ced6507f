"""Who may use this server, and as what: before anything else runs (and before the engine is imported).

On 127.0.0.1 (`.streamlit/config.toml`) the one user is the instructor. Served on any other address, the app
needs an access secret: $SSL_EXPLORER_SECRET for the instructor and $SSL_EXPLORER_STUDENT_SECRET for a class
(or the same names in Streamlit's secrets.toml); without one it refuses to serve, and with one it shows a
login until the visitor gives a secret.

Guessing is slow: after a few wrong secrets from one address, that address waits before its next answer is
even checked, longer after each failure (`Attempts`). A login ends after $SSL_EXPLORER_IDLE_MINUTES without a
page run, and when the secret it used changes (secrets.toml is read again on every page run).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import threading
import time

import streamlit as st

from views.kit import state

LOCAL = ("127.0.0.1", "localhost", "::1")
ROLES = {"instructor": "SSL_EXPLORER_SECRET", "student": "SSL_EXPLORER_STUDENT_SECRET"}
IDLE_ENV, IDLE_MINUTES = "SSL_EXPLORER_IDLE_MINUTES", 180.0  # a lesson and its breaks
log = logging.getLogger("ssl_explorer.access")


class Attempts:
    """Wrong secrets per client address. The first FREE failures in a row cost nothing (a typo, a second
    try); the n-th after them makes the address wait 2^(n-1) s, at most MAX_WAIT, before any answer of its
    is checked, whichever session or tab it comes from. A right secret, or FORGET s without a failure, clears
    the address. So one address gets 13 answers in its first ten minutes of guessing, then one every five minutes."""

    FREE, MAX_WAIT, FORGET = 3, 300.0, 3600.0

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.failures: dict[str, tuple[int, float]] = {}  # address: (failures in a row, time of the last)
        self.lock = threading.Lock()

    def wait(self, address: str) -> float:
        """Seconds before an answer from `address` is checked again (0: now)."""
        with self.lock:
            count, last = self.failures.get(address, (0, -float("inf")))
            if self.clock() - last > self.FORGET:
                self.failures.pop(address, None)
                return 0.0
            return max(0.0, last + self.penalty(count) - self.clock())

    def penalty(self, count: int) -> float:
        return 0.0 if count <= self.FREE else min(2.0 ** (count - self.FREE - 1), self.MAX_WAIT)

    def failed(self, address: str) -> int:
        with self.lock:
            count = self.failures.get(address, (0, 0.0))[0] + 1
            self.failures[address] = (count, self.clock())
            return count

    def succeeded(self, address: str):
        with self.lock:
            self.failures.pop(address, None)


ATTEMPTS = Attempts()  # one per server process: every session's answers count together


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def secret(role: str) -> str | None:
    name = ROLES[role]
    try:
        from_file = st.secrets.get(name)
    except FileNotFoundError:  # no secrets.toml
        from_file = None
    return os.environ.get(name) or from_file


def gate() -> str:
    """This visitor's role, or a refusal or login drawn and the script stopped."""
    secrets = {role: secret(role) for role in ROLES}
    if state.role() is not None:
        ended = ended_login(state.role(), secrets)
        if not ended:
            state.seen()
            return state.role()
        state.log_out()
        st.info(ended)
    address = st.get_option("server.address") or "0.0.0.0"  # Streamlit's default: every interface
    if not any(secrets.values()):
        if address in LOCAL:
            state.log_in("instructor")  # the one trusted user: explicitly, not by default
            return "instructor"
        st.error(f"This server listens on {address} and has no access secret, so it serves no one: set "
                 f"{ROLES['instructor']} (and {ROLES['student']} for a class) before starting it, or serve "
                 "on 127.0.0.1 only.")
        st.stop()
    with st.form("login"):
        given = st.text_input("Access secret", type="password",
                              help="the instructor's, or the class's one for students")
        if st.form_submit_button("Enter"):
            log_in(given, secrets)
    st.stop()


def ended_login(role: str, secrets: dict[str, str | None]) -> str | None:
    """Why this session's login has ended, or None. A session given its role without a secret (localhost, the
    tests) has no digest and never ends."""
    if state.secret_digest() is None:
        return None
    if secrets[role] is None or not hmac.compare_digest(digest(secrets[role]), state.secret_digest()):
        return "The access secret changed: enter the new one."
    idle = float(os.environ.get(IDLE_ENV, IDLE_MINUTES))
    if state.idle_seconds() > 60 * idle:
        return f"Logged out after {idle:g} minutes without a page run: enter the secret again."
    return None


def client_address() -> str:
    """The visitor's address as the websocket saw it (Streamlit names none for loopback)."""
    return st.context.ip_address or "localhost"


def log_in(given: str, secrets: dict[str, str | None]):
    """Check the secret given, unless this address must wait; log a failure with the address and the time,
    never what was typed."""
    address = client_address()
    wait = ATTEMPTS.wait(address)
    if wait > 0:
        st.error(f"Too many wrong secrets from this address: the next one is checked in {math.ceil(wait)} s.")
        return
    for role, expected in secrets.items():
        if expected and hmac.compare_digest(given.encode(), expected.encode()):
            ATTEMPTS.succeeded(address)
            state.log_in(role, digest(expected))
            st.rerun()
    count = ATTEMPTS.failed(address)
    log.warning("%s: wrong access secret from %s, %d in a row", time.strftime("%Y-%m-%d %H:%M:%S"), address, count)
    st.error("secret: not this server's")
