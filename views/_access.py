"""Who may use this server, and as what: before anything else runs (and before the engine is imported).

On 127.0.0.1 (`.streamlit/config.toml`) the one user is the instructor. Served on any other address, the app
needs an access secret: $SSL_EXPLORER_SECRET for the instructor and $SSL_EXPLORER_STUDENT_SECRET for a class
(or the same names in Streamlit's secrets.toml); without one it refuses to serve, and with one it shows a
login until the visitor gives a secret.
"""
from __future__ import annotations

import hmac
import os

import streamlit as st

LOCAL = ("127.0.0.1", "localhost", "::1")
ROLES = {"instructor": "SSL_EXPLORER_SECRET", "student": "SSL_EXPLORER_STUDENT_SECRET"}


def secret(role: str) -> str | None:
    name = ROLES[role]
    try:
        from_file = st.secrets.get(name)
    except FileNotFoundError:  # no secrets.toml
        from_file = None
    return os.environ.get(name) or from_file


def gate() -> str:
    """This visitor's role, or a refusal or login drawn and the script stopped."""
    if "role" in st.session_state:
        return st.session_state["role"]
    address = st.get_option("server.address") or "0.0.0.0"  # Streamlit's default: every interface
    secrets = {role: secret(role) for role in ROLES}
    if not any(secrets.values()):
        if address in LOCAL:
            st.session_state["role"] = "instructor"
            return "instructor"
        st.error(f"This server listens on {address} and has no access secret, so it serves no one: set "
                 f"{ROLES['instructor']} (and {ROLES['student']} for a class) before starting it, or serve "
                 "on 127.0.0.1 only.")
        st.stop()
    with st.form("login"):
        given = st.text_input("Access secret", type="password",
                              help="the instructor's, or the class's one for students")
        if st.form_submit_button("Enter"):
            for role, expected in secrets.items():
                if expected and hmac.compare_digest(given.encode(), expected.encode()):
                    st.session_state["role"] = role
                    st.rerun()
            st.error("secret: not this server's")
    st.stop()
