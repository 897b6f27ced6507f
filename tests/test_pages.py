from streamlit.testing.v1 import AppTest

from sslengine.config import RunConfig


def test_home_lists_runs_from_the_store(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_EXPLORER_STORE", str(tmp_path / "runs.db"))
    from sslengine.store import Store
    store = Store()
    run_id = store.create_run(RunConfig(name="first-run"))
    store.set_status(run_id, "failed", error="RuntimeError: boom")
    app = AppTest.from_file("../app.py").run(timeout=30)
    assert not app.exception
    table = app.dataframe[0].value
    assert table["name"].tolist() == ["first-run"] and table["error"].tolist() == ["RuntimeError: boom"]


def test_home_with_an_empty_store_says_how_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_EXPLORER_STORE", str(tmp_path / "runs.db"))
    app = AppTest.from_file("../app.py").run(timeout=30)
    assert not app.exception and "No runs yet" in app.info[0].value


def _finished_fixmatch_run(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_EXPLORER_STORE", str(tmp_path / "runs.db"))
    from sslengine.runner import Runner
    from sslengine.store import Store
    runner = Runner(Store())
    run_id = runner.start(RunConfig(dataset="moons", steps=40, log_every=5, n_samples=300))
    runner.wait(run_id)
    return runner.store, run_id


def test_threshold_page_what_if_recomputes_share_passing_from_the_snapshot(tmp_path, monkeypatch):
    from sslengine.probes import pseudo_label_stats
    store, run_id = _finished_fixmatch_run(tmp_path, monkeypatch)
    app = AppTest.from_file("../pages/threshold.py").run(timeout=30)
    assert not app.exception
    assert len(app.get("plotly_chart")) == 3
    snapshot = store.arrays(run_id, store.snapshot_steps(run_id)[-1])
    for threshold in (0.5, 0.99):
        app.slider[0].set_value(threshold).run(timeout=30)
        expected = pseudo_label_stats(snapshot["logits"], snapshot["target"], threshold, 1.0)["mask_rate"]
        assert app.metric[0].value == f"{expected:.1%}"


def test_threshold_page_with_no_run_says_how_to_start_one(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_EXPLORER_STORE", str(tmp_path / "runs.db"))
    app = AppTest.from_file("../pages/threshold.py").run(timeout=30)
    assert not app.exception and "No FixMatch or Pseudo-Label run" in app.info[0].value


def test_threshold_page_shows_a_failed_runs_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_EXPLORER_STORE", str(tmp_path / "runs.db"))
    from sslengine.store import Store
    store = Store()
    run_id = store.create_run(RunConfig())
    store.set_status(run_id, "failed", error="RuntimeError: boom")
    app = AppTest.from_file("../pages/threshold.py").run(timeout=30)
    assert not app.exception and "RuntimeError: boom" in app.error[0].value
