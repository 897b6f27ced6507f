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
