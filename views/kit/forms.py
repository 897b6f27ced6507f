"""Start forms: fields with their errors under them, and the submit that checks every run before it starts any."""
from __future__ import annotations

import time
from typing import Callable

import streamlit as st

from sslengine.config import ConfigError, RunConfig
from sslengine.runner import Checked, check, check_parent
from views.kit import engine, policy, present, state


def start_runs(form: str, build: Callable[[], list[RunConfig | Checked]], on_started: Callable[[list[str]], None],
               parent: str | None = None):
    """A form's submit callback: check every config (and the parent run they start from) first, start them
    all only if all pass.

    A ConfigError or a refusal is kept for `field_error` to show under the field it names; nothing is written then.
    """
    state.set_form_errors(form, {})
    try:
        checked = [check(config) for config in build()]
        for run in checked:  # every parent before any run is recorded
            check_parent(engine.store(), run.config, parent)
        policy.check_start(engine.store(), [run.config for run in checked])
    except (ConfigError, policy.Refused) as error:
        state.set_form_errors(form, {error.field: str(error)})
        return
    on_started(remember([engine.runner().start(run, parent, policy.starter()) for run in checked]))


def remember(run_ids: list[str]) -> list[str]:
    """The runs this browser session started: its own, for the policy and the sidebar."""
    policy.record(run_ids)
    engine.progress.clear()  # so that the sidebar's watcher sees them at once, not a second later
    return run_ids


def together(values: dict, runs: list[tuple[str, str, dict]], *words: str) -> list[RunConfig]:
    """One press's runs: `runs` holds each one's (algorithm, label, own settings) over the shared `values`;
    all take one config.group, named by their split, `words` and the time, and each is '<label> · <group>'."""
    group = " ".join([f"{values['dataset']} {values['labels_per_class']}/class", *words, time.strftime("%H:%M:%S")])
    return [RunConfig(algorithm=algorithm, **(values | own), device=state.device(), group=group,
                      name=f"{label} · {group}") for algorithm, label, own in runs]


def field(where, form: str, name: str, widget: Callable, label: str, *args, **kwargs):
    """A form's widget (its value `state.form_value(form, name)`) in `where`, with the last submit's error on
    `name` right under it."""
    with where:
        value = widget(label, *args, key=state.form_key(form, name), **kwargs)
        field_error(form, name)
    return value


def field_error(form: str, field: str):
    """The message of the last submit's error on this field, right under it."""
    if message := state.form_errors(form).get(field):  # it may quote what was typed
        st.error(present.plain(message), icon=":material/error:")


def other_errors(form: str, shown: set[str]):
    """Errors on fields the form does not show (the device chosen in the sidebar)."""
    for field, message in state.form_errors(form).items():
        if field not in shown:
            st.error(present.plain(message), icon=":material/error:")
