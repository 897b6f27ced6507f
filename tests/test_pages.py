import pytest
from streamlit.testing.v1 import AppTest

from sslengine.config import RunConfig
from sslengine.probes import pseudo_label_stats
from sslengine.runner import Runner
from sslengine.store import Store


@pytest.fixture
def page_store(tmp_path, monkeypatch):
    """The store the pages open, through $SSL_EXPLORER_STORE as a user would set it."""
    monkeypatch.setenv("SSL_EXPLORER_STORE", str(tmp_path / "runs.db"))
    return Store()


def add_failed_run(store: Store, **config) -> str:
    run_id = store.create_run(RunConfig(**config))
    store.set_status(run_id, "failed", error="RuntimeError: boom")
    return run_id


def test_home_lists_runs_from_the_store(page_store):
    add_failed_run(page_store, name="first-run")
    app = AppTest.from_file("../app.py").run(timeout=30)
    assert not app.exception
    table = app.dataframe[0].value
    assert table["name"].tolist() == ["first-run"] and table["error"].tolist() == ["RuntimeError: boom"]


def test_home_with_an_empty_store_says_how_to_start(page_store):
    app = AppTest.from_file("../app.py").run(timeout=30)
    assert not app.exception and "No runs yet" in app.info[0].value


def test_threshold_page_what_if_recomputes_share_passing_from_the_snapshot(page_store):
    runner = Runner(page_store)
    run_id = runner.start(RunConfig(dataset="moons", steps=40, log_every=5, n_samples=300))
    runner.wait(run_id)
    app = AppTest.from_file("../pages/threshold.py").run(timeout=30)
    assert not app.exception
    assert len(app.get("plotly_chart")) == 3
    snapshot = page_store.arrays(run_id, page_store.snapshot_steps(run_id)[-1])
    for threshold in (0.5, 0.99):
        app.slider[0].set_value(threshold).run(timeout=30)
        expected = pseudo_label_stats(snapshot["logits"], snapshot["target"], threshold, 1.0)["mask_rate"]
        assert app.metric[0].value == f"{expected:.1%}"


def test_threshold_page_with_no_run_says_how_to_start_one(page_store):
    app = AppTest.from_file("../pages/threshold.py").run(timeout=30)
    assert not app.exception and "No FixMatch or Pseudo-Label run" in app.info[0].value


def test_threshold_page_shows_a_failed_runs_error(page_store):
    add_failed_run(page_store)
    app = AppTest.from_file("../pages/threshold.py").run(timeout=30)
    assert not app.exception and "RuntimeError: boom" in app.error[0].value
