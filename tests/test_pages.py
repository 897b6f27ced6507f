"""Every page through streamlit's AppTest: an empty store, finished runs, a failed run, starting runs."""
import base64
import json
import re
import time
from pathlib import Path

import numpy as np

import pytest
from streamlit.testing.v1 import AppTest

from sslengine import image_sets, lessons
from sslengine.config import RunConfig
from sslengine.layouts import fill_layouts
from sslengine.metrics import pseudo_label_stats, softmax
from sslengine.runner import Runner, get_runner
from sslengine.store import Store

PAGES = ("views/threshold.py", "views/entropy.py", "views/consistency.py", "views/embeddings.py",
         "views/pipeline.py", "views/runs.py", "views/compare.py")
SHORT = dict(dataset="moons", steps=40, log_every=5, n_samples=300)


@pytest.fixture
def page_store(tmp_path, monkeypatch):
    """The store the pages open, through $SSL_EXPLORER_STORE as a user would set it. AppTest has no websocket
    to ask a visitor's address: every visitor comes from 10.0.0.7."""
    from views.kit import access as _access
    monkeypatch.setattr(_access, "client_address", lambda: "10.0.0.7")
    monkeypatch.setenv("SSL_EXPLORER_STORE", str(tmp_path / "runs.db"))
    return Store()


def seen(element) -> str:
    """An element's text as a reader sees it: without the Markdown escapes of what users typed (common.plain)."""
    return re.sub(r"\\(.)", r"\1", element.value)


def open_page(page: str) -> AppTest:
    app = AppTest.from_file("../app.py", default_timeout=60).run()
    return app.switch_page(page).run()


def submit(app: AppTest, form: str, **values) -> AppTest:
    """Set the form's widgets (keyed `<form>-<field>`) and press its submit button."""
    for field, value in values.items():
        app.get_by_key(f"{form}-{field}").set_value(value)
    (button,) = [button for button in app.get("form_submit_button") if button.proto.form_id == form]
    return button.click().run()


def run_to_end(store: Store, **config) -> str:
    runner = Runner(store)
    run_id = runner.start(RunConfig(**SHORT | config))
    runner.wait(run_id)
    return run_id


def add_failed_run(store: Store, **config) -> str:
    run_id = store.create_run(RunConfig(**config))
    store.set_status(run_id, "failed", error="RuntimeError: boom")
    return run_id


@pytest.mark.parametrize("page", PAGES)
def test_every_page_with_an_empty_store_says_what_to_do(page_store, page):
    app = open_page(page)
    assert not app.exception
    assert app.info and not app.get("plotly_chart")


@pytest.mark.parametrize("page", [page for page in PAGES if page != "views/pipeline.py"])  # its own test
def test_every_page_draws_saved_runs(page_store, page):
    group = "moons test"
    for algorithm in ("supervised", "entmin", "pseudo_label", "fixmatch", "pi_model", "mean_teacher", "simclr"):
        run_to_end(page_store, algorithm=algorithm, group=group, name=algorithm, batch_size=64)
    app = open_page(page)
    assert not app.exception and not app.error
    assert len(app.get("plotly_chart")) >= 1


@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_a_failed_runs_error(page_store, page):
    algorithm = {"views/consistency.py": "pi_model", "views/embeddings.py": "simclr",
                 "views/pipeline.py": "simclr"}.get(page, "fixmatch")
    run_to_end(page_store, algorithm=algorithm, group="pipeline g", batch_size=64)
    add_failed_run(page_store, algorithm=algorithm, group="pipeline g")
    app = open_page(page)
    if page == "views/threshold.py":
        app.selectbox(key="threshold-run").select_index(0).run()
    if page == "views/compare.py":
        app.multiselect(key="compare-runs").set_value([run.id for run in page_store.list_runs()]).run()
    assert not app.exception
    if page == "views/runs.py":  # the table has an error column
        assert "RuntimeError: boom" in app.dataframe[0].value["error"].tolist()
    else:
        assert any("RuntimeError: boom" in seen(error) for error in app.error)


def test_threshold_what_if_recomputes_share_passing_from_the_snapshot(page_store):
    run_id = run_to_end(page_store, algorithm="fixmatch")
    app = open_page("views/threshold.py")
    snapshot = page_store.arrays(run_id, page_store.snapshot_steps(run_id)[-1])
    for threshold in (0.5, 0.99):
        app.slider(key=f"tau-{run_id}").set_value(threshold).run()
        expected = pseudo_label_stats(snapshot["logits"], snapshot["target"], threshold, 1.0)
        assert app.metric[0].value == f"{expected['mask_rate']:.1%}"
        assert app.metric[2].value == f"{expected['pseudo_label_acc']:.1%}"


def test_threshold_page_shows_an_image_runs_probe_images_in_the_groups_its_what_if_tau_makes(page_store):
    run_id = run_to_end(page_store, algorithm="fixmatch", dataset="digits", steps=20, log_every=10, probe_size=200)
    app = open_page("views/threshold.py")
    snapshot = page_store.arrays(run_id, page_store.snapshot_steps(run_id)[-1])
    for threshold in (0.3, 0.9):
        app.slider(key=f"tau-{run_id}").set_value(threshold).run()
        assert not app.exception
        confidence = softmax(snapshot["logits"], 1.0).max(axis=1)
        right = snapshot["logits"].argmax(axis=1) == snapshot["target"]
        counts = {"Confident and right": ((confidence >= threshold) & right).sum(),
                  "Confident and wrong": ((confidence >= threshold) & ~right).sum(),
                  "Below the threshold": (confidence < threshold).sum()}
        shown = {text.split("**")[1].split(":")[0]: text.split(" · ")[1] for text in
                 (m.value for m in app.markdown) if text.startswith("**") and " of 200" in text}
        assert shown == {group: f"{count} of 200" for group, count in counts.items()}
        grids = app.get("image")
        assert [len(grid.captions) for grid in grids] == [min(count, 10) for count in counts.values() if count]
        for grid, group in zip(grids, [group for group, count in counts.items() if count]):
            for caption in grid.captions:  # "7 93.4% · true 1": its pseudo-label, confidence and true class
                label, rest = caption.split(" ", 1)
                assert (label == rest.split("true ")[1]) == (group == "Confident and right") or group.startswith("Below")


def test_threshold_what_if_moves_to_the_final_snapshot_when_the_followed_run_ends(page_store):
    saved = run_to_end(page_store, algorithm="fixmatch")
    first, *middle, last = page_store.snapshot_steps(saved)
    live = page_store.create_run(RunConfig(algorithm="fixmatch", **SHORT))
    page_store.set_status(live, "running")
    for step in (first, middle[0]):
        page_store.log_arrays(live, step, page_store.arrays(saved, step))
    app = open_page("views/threshold.py")
    assert app.select_slider(key=f"step-{live}").value == middle[0]  # following the newest snapshot
    page_store.log_arrays(live, last, page_store.arrays(saved, last))
    page_store.set_status(live, "finished")
    app.run()
    assert not app.exception
    assert app.select_slider(key=f"step-{live}").value == last
    app.select_slider(key=f"step-{live}").set_value(first).run()  # then the reader scrubs freely
    assert app.select_slider(key=f"step-{live}").value == first


def test_threshold_form_starts_a_run_with_its_values(page_store):
    app = submit(open_page("views/threshold.py"), "threshold-form", steps=30, threshold=0.8, dataset="moons")
    assert not app.exception and not app.error
    (run,) = page_store.list_runs()
    assert (run.config.steps, run.config.threshold, run.config.dataset) == (30, 0.8, "moons")
    assert app.selectbox(key="threshold-run").value == run.id  # the page shows the run it started
    get_runner(page_store.url).wait(run.id)


def test_threshold_form_names_the_bad_field_and_writes_nothing(page_store):
    app = submit(open_page("views/threshold.py"), "threshold-form", labels_per_class=500)
    assert not app.exception
    assert [seen(e) for e in app.error] == [
        "labels_per_class: must be at most 121 for digits with these settings (its smallest class has 122 "
        "training points), got 500"]
    assert page_store.list_runs() == []


def test_an_image_set_not_downloaded_is_named_and_the_sidebar_offers_its_download(page_store):
    app = submit(open_page("views/threshold.py"), "threshold-form", dataset="cifar10")
    assert not app.exception
    (message,) = [seen(e) for e in app.error]
    assert message.startswith("dataset: cifar10 is not downloaded") and "Image sets in the sidebar" in message
    assert page_store.list_runs() == []
    assert "**cifar10** · not downloaded" in [m.value for m in app.sidebar.markdown]
    assert app.sidebar.button(key="download-cifar10")


def test_embeddings_form_starts_simclr_with_its_values_and_names_a_bad_field(page_store):
    app = submit(open_page("views/embeddings.py"), "embeddings-form", labels_per_class=500)
    assert [seen(e) for e in app.error][0].startswith("labels_per_class: must be at most")
    assert page_store.list_runs() == []
    app = submit(app, "embeddings-form", labels_per_class=2, dataset="moons", steps=20, contrastive_temperature=0.5,
                 batch_size=64, augment_strength=0.5, projection_layers=3)
    assert not app.exception and not app.error
    (run,) = page_store.list_runs()
    config = run.config
    assert (config.algorithm, config.contrastive_temperature, config.batch_size, config.mu, config.augment_strength,
            config.projection_layers) == ("simclr", 0.5, 64, 1, 0.5, 3)
    assert app.selectbox(key="embeddings-run").value == run.id
    get_runner(page_store.url).wait(run.id)


@pytest.mark.slow
def test_embeddings_map_is_pca_until_the_umap_is_stored_then_umap_at_the_chosen_step(page_store):
    run_id = run_to_end(page_store, algorithm="simclr", batch_size=64, max_snapshots=3)
    title = lambda app: [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in app.get("plotly_chart")][-1]
    app = open_page("views/embeddings.py")
    assert title(app).startswith("PCA (UMAP is being computed) of the probe embeddings at step 40")
    fill_layouts(page_store, run_id)
    assert not app.get("toggle") or all(t.key != "embeddings-follow" for t in app.toggle)  # ended: the slider
    app.select_slider(key="embeddings-step").set_value(20).run()
    assert not app.exception
    assert title(app) == "UMAP of the probe embeddings at step 20"
    spec = json.loads(app.get("plotly_chart")[-1].proto.spec)
    stars = [trace for trace in spec["data"] if trace["name"].endswith("labeled")]
    assert sum(len(trace["x"]) for trace in stars) == 2 * 2  # moons: 2 classes, 2 labels each


def test_pipeline_page_shows_each_stage_against_fixmatch_and_starts_the_next_from_its_parent(page_store):
    group = "pipeline moons"
    pretrain = run_to_end(page_store, algorithm="simclr", group=group, batch_size=64)
    run_to_end(page_store, algorithm="fixmatch", group=group)
    runner = Runner(page_store)
    finetune = runner.start(RunConfig(algorithm="finetune", group=group, **SHORT), parent=pretrain)
    runner.wait(finetune)
    app = open_page("views/pipeline.py")
    assert not app.exception and not app.error
    bars = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")][0]
    assert bars["layout"]["title"]["text"] == "Test accuracy by stage"
    assert {trace["name"] for trace in bars["data"]} == {"SimCLR (linear probe)", "fine-tuned",
                                                          "FixMatch from scratch"}
    roles = {role.name: role.settings for stage in lessons.lesson("distill").preset("small").stages for role in stage}
    shown = tuple(app.get_by_key(f"{form}-steps").value for form in ("pipeline-form", "finetune-form", "distill-form"))
    assert shown == tuple(roles[role]["steps"] for role in ("simclr", "teacher", "student")) == (300, 500, 500)
    app = submit(app, "distill-form", steps=20)
    assert not app.exception and not app.error
    (student,) = [run for run in page_store.list_runs() if run.algorithm == "distill"]
    assert (student.parent, student.config.group, student.config.distill_temperature) == (finetune, group, 1.0)
    get_runner(page_store.url).wait(student.id)


def test_pretrain_form_gives_the_fixmatch_baseline_its_own_steps(page_store):
    app = submit(open_page("views/pipeline.py"), "pipeline-form", dataset="moons", steps=20, baseline_steps=30)
    assert not app.exception and not app.error
    runs = {run.algorithm: run for run in page_store.list_runs()}
    assert {algorithm: run.config.steps for algorithm, run in runs.items()} == {"simclr": 20, "fixmatch": 30}
    assert runs["simclr"].config.group == runs["fixmatch"].config.group
    for run in runs.values():
        get_runner(page_store.url).wait(run.id)


def test_olu_form_starts_plain_fixmatch_and_both_simclr_variants_on_one_split(page_store):
    app = submit(open_page("views/pipeline.py"), "olu-form", dataset="moons", steps=20)
    assert not app.exception and not app.error
    runs = page_store.list_runs()
    assert sorted((run.algorithm, run.config.variant) for run in runs) == [
        ("fixmatch", "U"), ("fixmatch_simclr", "L"), ("fixmatch_simclr", "U")]
    assert len({(run.config.group, run.config.seed, run.config.labels_per_class) for run in runs}) == 1
    for run in runs:
        get_runner(page_store.url).wait(run.id)


def test_entropy_form_starts_four_methods_on_one_split(page_store):
    app = submit(open_page("views/entropy.py"), "entropy-form", steps=20, **{"lambda": 0.5})
    assert not app.exception
    runs = page_store.list_runs()
    assert sorted(run.algorithm for run in runs) == ["entmin", "fixmatch", "pseudo_label", "supervised"]
    assert len({run.config.group for run in runs}) == 1 and len({run.config.seed for run in runs}) == 1
    assert {run.algorithm: run.config.lambda_u for run in runs}["entmin"] == 0.5
    for run in runs:
        get_runner(page_store.url).wait(run.id)


def test_consistency_form_starts_pi_model_mean_teacher_with_the_chosen_decay_and_vat(page_store):
    app = submit(open_page("views/consistency.py"), "consistency-form", steps=20, ema_decay=0.9, lambda_u=20.0)
    assert not app.exception
    runs = {run.algorithm: run for run in page_store.list_runs()}
    assert set(runs) == {"pi_model", "mean_teacher", "vat"}
    assert runs["mean_teacher"].config.ema_decay == 0.9 and runs["pi_model"].config.ema_decay == 0.99
    assert runs["pi_model"].config.lambda_u == 20.0 and runs["vat"].config.lambda_u == 0.3  # VAT keeps its own
    assert len({run.config.group for run in runs.values()}) == 1
    for run in runs.values():
        get_runner(page_store.url).wait(run.id)
    app.run()
    titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in app.get("plotly_chart")]
    assert titles == ["Test accuracy: Pi-Model, teacher and student, VAT", "Training against validation loss",
                      "Consistency weight w(t) * lambda"]


def test_runs_page_filters_renames_and_deletes_after_confirmation(page_store):
    kept = run_to_end(page_store, algorithm="supervised", name="kept")
    doomed = add_failed_run(page_store, name="doomed")
    app = open_page("views/runs.py")
    app.multiselect(key="filter-status").set_value(["failed"]).run()
    assert app.dataframe[0].value["name"].tolist() == ["doomed"]

    app.multiselect(key="filter-status").set_value([]).run()
    table = app.dataframe[0].value
    select_rows(app, [table["id"].tolist().index(doomed)])
    app.text_input[0].set_value("renamed")
    app.get("form_submit_button")[0].click().run()
    assert page_store.get_run(doomed).name == "renamed"

    select_rows(app, [app.dataframe[0].value["id"].tolist().index(doomed)])
    next(b for b in app.button if b.label.startswith("Delete")).click().run()
    assert {run.id for run in page_store.list_runs()} == {kept, doomed}  # not before confirming
    next(b for b in app.button if b.label == "Yes, delete").click().run()
    assert [run.id for run in page_store.list_runs()] == [kept]
    assert page_store.scalars(doomed).empty


def test_runs_page_offers_a_finished_runs_files_and_sends_it_to_an_allowed_mlflow_server(page_store, monkeypatch):
    pytest.importorskip("mlflow", reason="the scale extra (requirements-scale.txt) is not installed")
    import sslengine.export
    running = page_store.create_run(RunConfig(**SHORT))
    page_store.set_status(running, "running")
    finished = run_to_end(page_store, algorithm="fixmatch")
    app = open_page("views/runs.py")
    ids = app.dataframe[0].value["id"].tolist()
    select_rows(app, [ids.index(running)])
    assert "it can be exported once it has ended" in app.info[0].value and not app.get("download_button")

    select_rows(app, [ids.index(finished)])
    buttons = app.get("download_button")
    assert [b.proto.label for b in buttons] == ["Files (zip): scalars.csv, run.json, snapshots",
                                                "TensorBoard event files (zip)"]
    assert not any(b.proto.disabled for b in buttons)
    sent = []  # the real export to MLflow is read back in test_export; here: what the page asks of it
    monkeypatch.setattr(sslengine.export, "export", lambda *args: sent.append(args) or f"MLflow run at {args[3]}")
    monkeypatch.setenv("SSL_EXPLORER_MLFLOW_URIS", "http://mlflow.example:5000, https://other.example")
    app.text_input(key="mlflow-uri").set_value("http://mlflow.example:5000/")
    next(b for b in app.get("form_submit_button") if b.proto.label == "Send to MLflow").click().run()
    assert not app.exception and app.success[0].value == "Sent: MLflow run at http://mlflow.example:5000/"
    assert [(args[1], args[2], args[3]) for args in sent] == [(finished, "mlflow", "http://mlflow.example:5000/")]
    page_store.set_status(running, "failed")


def select_rows(app: AppTest, rows: list[int]):
    """Select dataframe rows the way the browser does: through the widget's state."""
    app.session_state["runs-table"] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    app.run()


@pytest.mark.parametrize("algorithm, picker", [("fixmatch", "threshold-run"), ("simclr", "embeddings-run"),
                                               ("entmin", "entropy-group"), ("mean_teacher", "consistency-group"),
                                               ("s4l_rotation", "compare-runs")])
def test_open_takes_a_run_to_the_page_that_shows_it(page_store, algorithm, picker):
    older, newer = (run_to_end(page_store, algorithm=algorithm, group=group, batch_size=64)
                    for group in ("first", "second"))
    app = open_page("views/runs.py")
    select_rows(app, [1])  # newest first: the older run
    app.button[0].click().run()  # Open
    assert not app.exception
    shown = app.multiselect(key=picker).value if picker == "compare-runs" else app.selectbox(key=picker).value
    assert shown == {"threshold-run": older, "embeddings-run": older, "compare-runs": [older]}.get(picker, "first")
    assert app.get("plotly_chart")  # Compare draws one run alone too


def test_a_link_to_a_run_the_page_does_not_hold_is_named(page_store):
    fixmatch = run_to_end(page_store, algorithm="fixmatch")
    simclr = run_to_end(page_store, algorithm="simclr", batch_size=64)
    app = AppTest.from_file("../app.py", default_timeout=60).switch_page("views/threshold.py")
    app.query_params["run"] = simclr  # a SimCLR run: not the threshold page's
    app.run()
    assert not app.exception
    assert app.warning[0].value.startswith(f"run: this page has no run '{simclr}'")
    assert app.selectbox(key="threshold-run").value == fixmatch
    app = AppTest.from_file("../app.py", default_timeout=60).switch_page("views/compare.py")
    app.query_params["runs"] = f"{fixmatch},gone"
    app.run()
    assert app.warning[0].value.startswith("runs: no run 'gone' in this store")
    assert app.multiselect(key="compare-runs").value == [fixmatch]


def test_compare_marks_differing_settings_and_exports_every_runs_scalars(page_store):
    first = run_to_end(page_store, algorithm="fixmatch", threshold=0.95)
    second = run_to_end(page_store, algorithm="fixmatch", threshold=0.7)
    app = open_page("views/compare.py")
    app.multiselect(key="compare-runs").set_value([first, second]).run()
    assert not app.exception
    configs = app.dataframe[0].value
    assert configs.index[configs["differs"]].tolist() == ["threshold"]
    assert app.get("download_button")[0].proto.label == "Download the scalars (CSV)"
    table = page_store.scalars_of([first, second])
    assert table.run_id.tolist() == [first] * len(page_store.scalars(first)) + [second] * len(
        page_store.scalars(second))
    assert table[table.run_id == second].drop(columns="run_id").reset_index(drop=True).equals(
        page_store.scalars(second))


def test_adaptive_threshold_runs_show_each_classes_threshold_over_steps(page_store):
    run_id = run_to_end(page_store, algorithm="flexmatch")
    app = open_page("views/threshold.py")
    assert not app.exception
    charts = {json.loads(chart.proto.spec)["layout"]["title"]["text"]: json.loads(chart.proto.spec)
              for chart in app.get("plotly_chart")}
    thresholds = charts["Per-class thresholds over steps"]
    assert [trace["name"] for trace in thresholds["data"]] == ["class 0", "class 1"]
    logged = page_store.scalars(run_id).query("key == 'threshold_1'").value.tolist()
    assert len(logged) == len(page_store.scalars(run_id).query("key == 'loss'"))  # every log step
    assert "Accuracy of the passing pseudo-labels, by class" in charts


def test_a_softmatch_run_draws_its_weight_against_confidence_from_its_last_logged_mean_and_spread(page_store):
    run_id = run_to_end(page_store, algorithm="softmatch")
    app = open_page("views/threshold.py")
    assert not app.exception
    (chart,) = [json.loads(c.proto.spec) for c in app.get("plotly_chart")
                if json.loads(c.proto.spec)["layout"]["title"]["text"].startswith("Weight against confidence")]
    final = page_store.final_scalars(run_id)
    assert f"mean {final['softmatch_mu']:.2f}, sigma {final['softmatch_sigma']:.2f}" in chart["layout"]["title"]["text"]
    assert [trace["name"] for trace in chart["data"]] == ["SoftMatch weight", "FixMatch, tau 0.95"]


def test_compare_lays_a_simclr_run_beside_a_classifier(page_store):
    """A SimCLR run stores embeddings, not logits: Compare draws its curves and what-if for the others."""
    simclr = run_to_end(page_store, algorithm="simclr", batch_size=64)
    fixmatch = run_to_end(page_store, algorithm="fixmatch")
    app = open_page("views/compare.py")
    app.multiselect(key="compare-runs").set_value([simclr, fixmatch]).run()
    assert not app.exception
    titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in app.get("plotly_chart")]
    assert any("kNN accuracy" in title for title in titles), titles
    assert len(titles) == 6 and "labeled loss" in titles  # five keys in rows of two, then the entropy
    assert len(app.metric) == 1  # the what-if threshold speaks of FixMatch only


def test_compare_maps_the_embeddings_of_simclr_runs_at_the_matched_step(page_store):
    runs = [run_to_end(page_store, algorithm="simclr", batch_size=64, seed=seed) for seed in (0, 1)]
    app = open_page("views/compare.py")
    app.multiselect(key="compare-runs").set_value(runs).run()
    assert not app.exception
    step = app.select_slider[0].value
    maps = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")
            if json.loads(chart.proto.spec)["layout"]["title"]["text"].startswith("PCA")]
    assert [run_id[:6] in figure["layout"]["title"]["text"] for run_id, figure in zip(runs, maps)] == [True] * 2
    assert all(f"@ step {step}" in figure["layout"]["title"]["text"] for figure in maps)
    embedded = page_store.arrays(runs[0], step)["embedding"]  # the probe set, then the labeled images
    labeled = page_store.arrays(runs[0], 0)["labeled_y"]
    points = {star: sum(len(np.frombuffer(base64.b64decode(trace["x"]["bdata"]), trace["x"]["dtype"]))
                        for trace in maps[0]["data"] if (trace["marker"].get("symbol") == "star") == star)
              for star in (False, True)}
    assert points == {False: len(embedded) - len(labeled), True: len(labeled)}
    assert [figure["layout"]["showlegend"] for figure in maps] == [False, True]  # one legend, on the last


def test_sweeps_page_with_no_sweep_says_how_to_start_one(page_store):
    app = open_page("views/sweeps.py")
    assert not app.exception and any("python -m sslengine sweep" in info.value for info in app.info)


def test_sweeps_page_fills_the_heat_map_with_mean_and_spread_and_links_each_cell_to_compare(page_store):
    import threading
    from sslengine.runner import execute
    from sslengine.sweeps import create_sweep, plan
    base = RunConfig(algorithm="fixmatch", **SHORT)
    sweep_id, run_ids = create_sweep(page_store, plan(base, {"threshold": [0.7, 0.95], "labels_per_class": [1, 2]}, 2))
    for run_id in run_ids[:-1]:
        execute(page_store, run_id, page_store.get_run(run_id).config, threading.Event())
    page_store.set_status(run_ids[-1], "failed", error="RuntimeError: boom")
    app = open_page("views/sweeps.py")
    assert not app.exception
    assert any("RuntimeError: boom" in seen(error) for error in app.error)
    z = json.loads(app.get("plotly_chart")[0].proto.spec)["data"][0]["z"]  # plotly sends arrays base64-encoded
    z = np.frombuffer(base64.b64decode(z["bdata"]), z["dtype"]).reshape(2, 2)
    assert np.isfinite(z).all()  # every cell filled, the one with a failed seed from its other seed
    expected = np.mean([page_store.final_scalars(r)["test_acc"] for r in run_ids[:2]])  # threshold 0.7, 1 label
    assert z[0][0] == pytest.approx(expected)
    table = app.dataframe[0].value
    assert table.open.iloc[0] == "/compare?runs=" + ",".join(run_ids[:2])
    assert table.finished.tolist() == ["2 of 2"] * 3 + ["1 of 2"]
    text = json.loads(app.get("plotly_chart")[0].proto.spec)["data"][0]["text"]
    assert "±" in text[0][0] and "±" not in text[1][1]  # one finished seed has no spread to show


def test_stop_sweep_stops_its_queued_runs_and_is_disabled_once_none_is_left(page_store):
    from sslengine.sweeps import create_sweep, plan
    points = plan(RunConfig(algorithm="fixmatch", **SHORT), {"threshold": [0.7, 0.9]}, 1)
    sweep_id, run_ids = create_sweep(page_store, points)
    page_store.set_status(run_ids[0], "finished")
    app = open_page("views/sweeps.py")
    button = app.button(key="stop-sweep")
    assert not app.exception and not button.disabled
    assert len(app.get("plotly_chart")) == 2  # the finished run's cell
    app = button.click().run()
    assert [run.status for run in page_store.sweep_runs(sweep_id)] == ["finished", "stopped"]
    assert not app.exception and app.button(key="stop-sweep").disabled
    assert app.get("progress")[0].proto.text == "2 of 2 runs ended (1 finished, 1 stopped) · 0 queued or running"


def test_a_sweep_of_three_settings_maps_two_and_holds_the_third_at_a_chosen_value(page_store):
    from sslengine.sweeps import create_sweep, plan
    grid = {"threshold": [0.7, 0.95], "labels_per_class": [1, 2], "lambda_u": [0.5, 1.0]}
    sweep_id, run_ids = create_sweep(page_store, plan(RunConfig(algorithm="fixmatch", **SHORT), grid, 1))
    accuracy = {}
    for i, run in enumerate(page_store.sweep_runs(sweep_id)):  # final accuracies set by hand, all different
        accuracy[run.config.threshold, run.config.labels_per_class, run.config.lambda_u] = i / 10
        page_store.log_scalars(run.id, 5, {"test_acc": i / 10})
        page_store.set_status(run.id, "finished")
    app = open_page("views/sweeps.py")
    assert not app.exception
    assert [app.selectbox(key=key).label for key in ("sweep-x", "sweep-y", "sweep-hold-threshold")] == [
        "Across", "Down", "threshold held at"]  # the grid's settings in alphabetical order
    app.selectbox(key="sweep-x").set_value("threshold").run()
    app.selectbox(key="sweep-y").set_value("labels_per_class").run()
    app.selectbox(key="sweep-hold-lambda_u").set_value(1.0).run()
    assert not app.exception
    z = json.loads(app.get("plotly_chart")[0].proto.spec)["data"][0]["z"]
    z = np.frombuffer(base64.b64decode(z["bdata"]), z["dtype"]).reshape(2, 2)  # rows: labels, columns: threshold
    expected = [[accuracy[t, n, 1.0] for t in (0.7, 0.95)] for n in (1, 2)]
    np.testing.assert_allclose(z, expected)


@pytest.mark.parametrize("grid", [{}, {"threshold": [0.7, 0.9]}], ids=["seeds only", "one setting"])
def test_a_sweep_of_fewer_than_two_settings_maps_its_seeds(page_store, grid):
    from sslengine.sweeps import create_sweep, plan
    sweep_id, run_ids = create_sweep(page_store, plan(RunConfig(algorithm="fixmatch", **SHORT), grid, 2))
    for i, run_id in enumerate(run_ids):
        page_store.log_scalars(run_id, 5, {"test_acc": 0.5 + i / 10})
        page_store.set_status(run_id, "finished")
    app = open_page("views/sweeps.py")
    assert not app.exception
    z = json.loads(app.get("plotly_chart")[0].proto.spec)["data"][0]["z"]
    z = np.frombuffer(base64.b64decode(z["bdata"]), z["dtype"])
    np.testing.assert_allclose(z, [0.55] if not grid else [0.55, 0.75])  # each cell the mean of its 2 seeds
    assert not any("Compare lays out at most" in c.value for c in app.caption)


def test_a_sweep_cell_of_more_seeds_than_compare_takes_opens_the_first_four_and_says_so(page_store):
    from sslengine.sweeps import create_sweep, plan
    sweep_id, run_ids = create_sweep(page_store, plan(RunConfig(algorithm="fixmatch", **SHORT), {}, 5))
    app = open_page("views/sweeps.py")
    assert app.dataframe[0].value.open.iloc[0] == "/compare?runs=" + ",".join(run_ids[:4])
    assert any("Compare lays out at most 4 runs" in c.value for c in app.caption)
    for run_id in run_ids:
        page_store.set_status(run_id, "stopped")


def test_a_sweep_with_no_finished_run_says_so_instead_of_drawing_empty_heat_maps(page_store):
    from sslengine.sweeps import create_sweep, plan
    points = plan(RunConfig(algorithm="fixmatch", **SHORT), {"threshold": [0.7, 0.9]}, 1)
    sweep_id, run_ids = create_sweep(page_store, points)
    page_store.set_status(run_ids[0], "running")
    page_store.log_scalars(run_ids[0], 5, {"test_acc": 0.5})  # not final: no cell shows it
    app = open_page("views/sweeps.py")
    assert not app.exception and not app.get("plotly_chart")
    assert any("No run of this sweep has finished yet" in info.value for info in app.info)
    assert app.dataframe[0].value.finished.tolist() == ["0 of 1", "0 of 1"]
    page_store.set_status(run_ids[0], "stopped")
    page_store.set_status(run_ids[1], "failed", error="RuntimeError: boom")
    app = open_page("views/sweeps.py")
    assert not app.exception and any("No run of this sweep finished, so" in info.value for info in app.info)


def test_the_sidebar_sums_up_a_sweeps_queued_runs_in_one_line_with_its_stop_button(page_store):
    from sslengine.sweeps import create_sweep, plan
    points = plan(RunConfig(algorithm="fixmatch", **SHORT), {"threshold": [0.6, 0.7, 0.8, 0.9]}, 2)
    sweep_id, run_ids = create_sweep(page_store, points)
    page_store.set_status(run_ids[0], "running")
    app = open_page("views/runs.py")
    assert not app.exception
    assert [p.proto.text for p in app.sidebar.get("progress")] == [f"threshold=0.6 seed=0 · step 0/{SHORT['steps']}"]
    assert f"Sweep {sweep_id}: 7 more runs queued" in [c.value for c in app.sidebar.caption]
    app.sidebar.button(key=f"stop-sweep-{sweep_id}").click().run()
    assert [run.status for run in page_store.sweep_runs(sweep_id)] == ["running"] + ["stopped"] * 7
    assert page_store.get_run(run_ids[0]).stop_requested
    page_store.set_status(run_ids[0], "stopped")


def test_without_ray_the_sweeps_form_says_how_to_get_it_and_cannot_start(page_store, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "ray", None)  # find_spec then answers None, as for a missing package
    app = open_page("views/sweeps.py")
    assert not app.exception
    assert "pip install -r requirements-scale.txt" in app.info[0].value
    (start,) = [b for b in app.get("form_submit_button") if b.proto.form_id == "sweep-form"]
    assert start.proto.disabled


def test_sweeps_form_checks_the_grid_then_records_the_sweep_and_starts_its_process(page_store, monkeypatch):
    pytest.importorskip("ray", reason="the form's Start waits for Ray, the extra in requirements-scale.txt")
    started = []
    monkeypatch.setattr("subprocess.Popen", lambda command, **kwargs: started.append(command))
    app = submit(open_page("views/sweeps.py"), "sweep-form", values1="0.5,1.5")
    assert [seen(e) for e in app.error] == ["threshold: must be in [0, 1], got 1.5"]
    app = submit(app, "sweep-form", values1="0.8", dataset="cifar10")
    assert seen(app.error[0]).startswith("dataset: cifar10 is not downloaded")
    app = submit(app, "sweep-form", dataset="digits", axis2="threshold")
    assert [seen(e) for e in app.error] == ["grid: threshold is given twice: sweep two different settings"]
    assert page_store.list_sweeps() == [] and started == []
    app = submit(app, "sweep-form", axis2="lambda_u", values2="0.5,2", seeds=1, dataset="moons")
    assert not app.exception and not app.error
    (sweep,) = page_store.list_sweeps()
    assert sweep["spec"]["grid"] == {"lambda_u": [0.5, 2.0], "threshold": [0.8]}
    assert len(page_store.sweep_runs(sweep["id"])) == 2
    assert started[0][-4:] == ["sweep-resume", sweep["id"], "--store", page_store.url]


def test_short_run_ids_as_the_pages_show_them_open_in_links(page_store):
    fixmatch = run_to_end(page_store, algorithm="fixmatch")
    supervised = run_to_end(page_store, algorithm="supervised")
    app = AppTest.from_file("../app.py", default_timeout=60).switch_page("views/compare.py")
    app.query_params["runs"] = f"{fixmatch[:6]},{supervised[:6]}"
    app.run()
    assert not app.exception and not app.warning
    assert app.multiselect(key="compare-runs").value == [fixmatch, supervised]
    app = AppTest.from_file("../app.py", default_timeout=60).switch_page("views/threshold.py")
    app.query_params["run"] = fixmatch[:6]
    app.run()
    assert not app.warning and app.selectbox(key="threshold-run").value == fixmatch


def test_lessons_page_trains_a_card_from_its_button_and_draws_its_charts_and_verdict(page_store):
    from sslengine.lessons import LESSONS, lesson_groups
    app = AppTest.from_file("../app.py", default_timeout=60).run()  # the start page
    assert not app.exception
    assert [button.label for button in app.button][:len(LESSONS)] == ["Train this lesson (seed 0)"] * len(LESSONS)
    spread_titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in app.get("plotly_chart")]
    assert len(spread_titles) == len(LESSONS) and all(t.startswith("Effect on the bench's") for t in spread_titles)
    app.button(key="lesson-start-entropy-boundary").click().run()
    (runs,) = lesson_groups(page_store, "entropy-boundary").values()
    assert set(runs) == {"supervised", "entmin"}
    for run_id in runs.values():
        get_runner(page_store.url).wait(run_id)
    app.run()
    assert not app.exception and not app.error
    specs = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    boundaries = [spec["layout"]["title"]["text"] for spec in specs if ":" in spec["layout"]["title"]["text"]]
    assert sorted(title.split(":")[0] for title in boundaries) == ["EntMin", "Supervised"]
    marked = [spec for spec in specs if any(trace.get("name") == "this run (seed 0)" for trace in spec["data"])]
    assert len(marked) == 1  # the entropy card's spread marks the run just trained; the others have no run
    (verdict,) = [*app.success, *app.warning]
    assert verdict.value.startswith("Shows it on this run (seed 0). Unlabeled points within")
    assert verdict.value.endswith("On the bench, seed 0 is one of the 7 of 10 seeds where it shows.")


@pytest.mark.skipif(not image_sets.IMAGE_SETS["fashion-mnist"].installed.present(),
                    reason="Debian's dataset-fashion-mnist is not installed; .ci/run installs it")
def test_a_cards_scale_switch_says_what_to_watch_on_that_scales_charts(page_store):
    """The entropy card draws boundaries on the small sets and entropy histograms on Fashion-MNIST: its "What to
    watch" follows the switch (at image scale it spoke of boundaries it does not draw); the others keep theirs."""
    for scale in lessons.SCALES:  # a few steps: the card says what to watch once it has runs
        lessons.start(get_runner(page_store.url), "entropy-boundary", steps=4, scale=scale).wait()
    app = AppTest.from_file("../app.py", default_timeout=60)
    app.session_state["lesson-scale-entropy-boundary"] = "images"
    app.run()
    assert not app.exception
    watched = [text.value for text in app.markdown if text.value.startswith("**What to watch:**")]
    assert watched == [f"**What to watch:** {lessons.LESSONS['entropy-boundary'].preset('images').watch}."]
    app.session_state["lesson-scale-entropy-boundary"] = "small"
    app.run()
    assert [text.value for text in app.markdown if text.value.startswith("**What to watch:**")] == [
        f"**What to watch:** {lessons.LESSONS['entropy-boundary'].watch}."]


def test_a_student_stops_the_later_stages_of_a_lesson_they_started_and_no_other_lessons_runs(page_store):
    from sslengine.lessons import lesson_groups
    app = AppTest.from_file("../app.py", default_timeout=60).run()
    app.session_state["role"] = "student"
    app.button(key="lesson-start-overfitting").click().run()
    ((group, runs),) = lesson_groups(page_store, "overfitting").items()
    for run_id in runs.values():
        get_runner(page_store.url).wait(run_id)
    # a later stage, as a lesson's thread starts it without the browser session, and another session's lesson
    later, others = (page_store.create_run(RunConfig(**SHORT, lesson="overfitting", group=g, role="later"))
                     for g in (group, "lesson overfitting seed 0 someone else's"))
    app.run()
    assert not app.button(key=f"stop-{later}").disabled and app.button(key=f"stop-{others}").disabled
    app.button(key=f"stop-{later}").click().run()
    assert page_store.get_run(later).stop_requested and not page_store.get_run(others).stop_requested
    for run_id in (later, others):
        page_store.set_status(run_id, "stopped")


def test_presenter_mode_enlarges_the_charts_and_folds_the_start_forms(page_store):
    run_to_end(page_store, algorithm="fixmatch")
    app = open_page("views/threshold.py")
    height = lambda app: json.loads(app.get("plotly_chart")[0].proto.spec)["layout"].get("height")
    assert app.expander[0].proto.expanded and height(app) is None
    app.toggle(key="presenter").set_value(True).run()
    assert not app.exception and not app.expander[0].proto.expanded
    assert height(app) == round(450 * 1.35)


def test_with_a_limit_of_one_three_pages_starting_give_one_running_and_two_queued_in_order(page_store, monkeypatch):
    monkeypatch.setenv("SSL_EXPLORER_MAX_TRAINING", "1")
    for _ in range(3):  # three students, three browser sessions
        submit(open_page("views/threshold.py"), "threshold-form", dataset="moons", steps=1500)
    runs = sorted(page_store.list_runs(), key=lambda run: run.created)
    assert [run.status for run in runs] == ["running", "queued", "queued"]
    app = open_page("views/threshold.py")
    texts = [bar.proto.text for bar in app.get("progress")]
    assert any(text.endswith("queued, 1st in line") for text in texts)
    assert any(text.endswith("queued, 2nd in line") for text in texts)
    for run in runs:
        get_runner(page_store.url).wait(run.id)
    runs = [page_store.get_run(run.id) for run in runs]
    assert [run.status for run in runs] == ["finished"] * 3
    assert runs[0].finished <= runs[1].started and runs[1].finished <= runs[2].started


def test_the_sidebar_lists_a_few_queued_runs_of_others_and_counts_the_rest(page_store, monkeypatch):
    monkeypatch.setenv("SSL_EXPLORER_MAX_TRAINING", "1")
    # The first run holds the one slot for the whole test: at 1 500 steps it ended, under CI's load, before
    # the sidebar was read, and the queue it counts was one shorter.
    for steps in [100_000] + [1500] * 7:  # eight students
        submit(open_page("views/threshold.py"), "threshold-form", dataset="moons", steps=steps)
    texts = [bar.proto.text for bar in open_page("views/threshold.py").get("progress")]
    assert sum(text.endswith(" in line") for text in texts) == 5
    assert any(text.endswith("queued, 5th in line") for text in texts)
    app = open_page("views/threshold.py")
    assert "2 more runs queued: the Runs page lists them" in [caption.value for caption in app.sidebar.caption]
    for run in page_store.list_runs():
        get_runner(page_store.url).stop(run.id)


def test_a_page_runs_again_at_once_for_its_own_runs_and_at_most_every_few_seconds_for_others():
    from views.kit.live import OTHERS_SECONDS, page_outdated
    drawn = (("a", "running"), ("b", "queued"))
    assert not page_outdated(drawn, drawn, {"a"}, 10 * OTHERS_SECONDS)
    assert page_outdated((("a", "finished"), ("b", "queued")), drawn, {"a"}, 0.5)
    assert not page_outdated((("a", "running"), ("b", "running")), drawn, {"a"}, 0.5)  # another's run started
    assert page_outdated((("a", "running"), ("b", "running")), drawn, {"a"}, OTHERS_SECONDS)
    assert not page_outdated((("c", "queued"), *drawn), drawn, {"a"}, 0.5)  # another's run added
    assert page_outdated(drawn[:1], drawn, {"b"}, 0.5)  # one of the page's deleted


def student_page(page: str) -> AppTest:
    app = AppTest.from_file("../app.py", default_timeout=60)
    app.session_state["role"] = "student"
    return app.run().switch_page(page).run()


def refusal(app: AppTest) -> str:
    return " ".join(seen(error) for error in app.error)


def test_a_class_limits_each_login_each_address_the_whole_queue_and_each_runs_size(page_store, monkeypatch):
    monkeypatch.setenv("SSL_EXPLORER_MAX_TRAINING", "1")
    for env, limit in (("MAX_QUEUED", 2), ("MAX_PER_ADDRESS", 3), ("MAX_QUEUE", 3), ("STUDENT_MAX_STEPS", 20_000)):
        monkeypatch.setenv(f"SSL_EXPLORER_{env}", str(limit))
    short = dict(dataset="moons", steps=20_000)  # long enough to stay in the queue until stopped
    first = student_page("views/threshold.py")
    for _ in range(3):
        first = submit(first, "threshold-form", **short)
    assert len(page_store.list_runs()) == 2  # one trains, one waits; the third is refused
    deadline = time.monotonic() + 60
    while "running" not in {run.status for run in page_store.list_runs()} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "queue: this login has 2 runs waiting or training, asks for 1 more and may keep at most 2" in refusal(first)
    second = student_page("views/threshold.py")  # another login from the same address
    second = submit(submit(second, "threshold-form", **short), "threshold-form", **short)
    assert len(page_store.list_runs()) == 3
    assert "the logins from your address have 3 runs waiting or training, ask for 1 more" in refusal(second)
    monkeypatch.setattr("views.kit.access.client_address", lambda: "10.0.0.8")
    third = submit(student_page("views/threshold.py"), "threshold-form", steps=20_001, dataset="moons")
    assert "steps: a student's run trains at most 20,000 steps on this server" in refusal(third)
    third = submit(third, "threshold-form", **short)
    fourth = student_page("views/threshold.py")  # a third address
    monkeypatch.setattr("views.kit.access.client_address", lambda: "10.0.0.9")
    fourth = submit(fourth, "threshold-form", **short)
    assert "the class's queue holds 3 waiting runs, and 1 more would pass its 3" in refusal(fourth)
    assert len(page_store.list_runs()) == 4  # every refusal wrote nothing
    teacher = submit(open_page("views/threshold.py"), "threshold-form", steps=30_000, dataset="moons")
    assert not teacher.error and len(page_store.list_runs()) == 5  # the instructor is held to none of them
    for run in page_store.list_runs():
        get_runner(page_store.url).stop(run.id)


def test_the_queue_admits_in_turns_by_login_oldest_first():
    from collections import Counter
    from sslengine.runner import admission_order
    waiting = [("a1", "a", 1), ("a2", "a", 1), ("a3", "a", 1), ("b1", "b", 1), ("c1", "c", 3), ("b2", "b", 1)]
    # a has had one run admitted: b and c first (b's is older), then a; c's three count as three
    assert admission_order(waiting, Counter({"a": 1})) == ["b1", "c1", "a1", "b2", "a2", "a3"]
    assert admission_order(waiting, Counter()) == ["a1", "b1", "c1", "a2", "b2", "a3"]
    assert admission_order([], Counter({"a": 2})) == []


def test_a_student_cannot_stop_the_instructors_sweep_on_the_sweeps_page_nor_in_the_sidebar(page_store):
    from sslengine.sweeps import create_sweep, plan
    sweep_id, _ = create_sweep(page_store, plan(RunConfig(algorithm="fixmatch", **SHORT), {"threshold": [0.7, 0.9]}, 1))
    app = AppTest.from_file("../app.py", default_timeout=60)
    app.session_state["role"] = "student"
    app = app.run().switch_page("views/sweeps.py").run()
    assert not app.exception
    assert app.button(key="stop-sweep").disabled and app.button(key=f"stop-sweep-{sweep_id}").disabled
    assert "stops only the sweeps they started" in app.button(key="stop-sweep").proto.help
    assert [run.status for run in page_store.sweep_runs(sweep_id)] == ["queued", "queued"]


def test_a_sweep_past_a_students_queue_is_refused_with_the_reason_and_nothing_is_recorded(page_store, monkeypatch):
    pytest.importorskip("ray")  # the form's Start is disabled without it
    monkeypatch.setenv("SSL_EXPLORER_MAX_QUEUED", "4")
    app = AppTest.from_file("../app.py", default_timeout=60)
    app.session_state["role"] = "student"
    app = app.run().switch_page("views/sweeps.py").run()
    app = submit(app, "sweep-form", seeds=2)  # the default grid, 2 x 2 settings: 8 runs
    assert any("queue: this login has 0 runs waiting or training, asks for 8 more and may keep at most 4" in error.value
               for error in app.error)
    assert not page_store.list_sweeps() and not page_store.list_runs()


@pytest.fixture
def served_to_a_class(monkeypatch):
    """The app bound beyond localhost, as `streamlit run app.py --server.address 0.0.0.0` does."""
    from streamlit import config
    from views.kit import access as _access
    monkeypatch.setattr(_access, "ATTEMPTS", _access.Attempts())  # no wrong secret of another test counts
    config.set_option("server.address", "0.0.0.0")
    yield monkeypatch
    config.set_option("server.address", "127.0.0.1")


def test_beyond_localhost_without_a_secret_the_app_serves_no_one(page_store, served_to_a_class):
    app = AppTest.from_file("../app.py", default_timeout=60).run()
    assert "has no access secret, so it serves no one" in seen(app.error[0])
    assert not app.button and not app.get("plotly_chart")


def login(secret: str) -> AppTest:
    app = AppTest.from_file("../app.py", default_timeout=60).run()
    app.text_input[0].input(secret)
    return app.button[0].click().run()


def test_with_secrets_a_login_decides_the_role_and_a_student_changes_only_their_runs(page_store, served_to_a_class):
    served_to_a_class.setenv("SSL_EXPLORER_SECRET", "teach")
    served_to_a_class.setenv("SSL_EXPLORER_STUDENT_SECRET", "learn")
    others = run_to_end(page_store, algorithm="supervised", name="someone else's")
    assert login("guess").error[0].value == "secret: not this server's"
    app = login("learn").switch_page("views/runs.py").run()
    assert not app.exception and app.session_state["role"] == "student"
    select_rows(app, [0])
    [button for button in app.button if button.label.startswith("Delete")][0].click().run()
    assert any("delete: someone else's is not yours: a student may delete only the runs they started" in seen(e)
               for e in app.error)
    app.text_input[0].input("mine now")
    [button for button in app.get("form_submit_button") if button.label == "Rename"][0].click().run()
    assert any("rename: someone else's is not yours" in seen(e) for e in app.error)
    assert page_store.get_run(others).name == "someone else's"
    assert "Sending to an MLflow server is for the instructor" in " ".join(c.value for c in app.caption)


def test_guessing_from_one_address_is_answered_13_times_in_ten_minutes_then_every_five_whatever_the_session():
    from views.kit.access import Attempts
    now = [0.0]
    attempts = Attempts(clock=lambda: now[0])
    answered = []
    while now[0] < 3600:  # a guesser trying four times a second for an hour, from any number of tabs
        if attempts.wait("10.0.0.7") == 0:
            answered.append(now[0])
            attempts.failed("10.0.0.7")
        now[0] += 0.25
    # By hand: four at once (three free failures, then the fourth starts the waits), then waits of 1, 2, 4, ...,
    # 256 s, then 300 s each.
    expected = [0, 0.25, 0.5, 0.75]
    for wait in [2.0 ** k for k in range(9)] + [300.0] * 10:
        expected.append(expected[-1] + wait)
    assert answered == expected and expected[-1] == 3511.75
    assert len([t for t in answered if t < 600]) == 13
    assert attempts.wait("10.0.0.8") == 0  # another address is not held up
    attempts.succeeded("10.0.0.7")
    assert attempts.wait("10.0.0.7") == 0


def test_wrong_secrets_make_the_address_wait_even_for_the_right_one_and_are_logged_without_the_attempt(
        page_store, served_to_a_class, caplog):
    from views.kit import access as _access
    now = [0.0]
    served_to_a_class.setattr(_access, "ATTEMPTS", _access.Attempts(clock=lambda: now[0]))
    served_to_a_class.setenv("SSL_EXPLORER_SECRET", "teach")
    served_to_a_class.setenv("SSL_EXPLORER_STUDENT_SECRET", "learn")
    for attempt in range(4):
        assert login(f"guess-{attempt}").error[0].value == "secret: not this server's"
    now[0] = 0.5  # the 4th failure made the address wait a second: not even the right secret is checked
    app = login("learn")
    assert app.error[0].value == "Too many wrong secrets from this address: the next one is checked in 1 s."
    assert "role" not in app.session_state
    now[0] = 1.0
    assert login("learn").session_state["role"] == "student"
    logged = [record.getMessage() for record in caplog.records if record.name == "ssl_explorer.access"]
    assert len(logged) == 4 and all("wrong access secret from 10.0.0.7" in line for line in logged)
    assert not [line for line in logged if "guess" in line]


def test_a_login_ends_when_its_secret_changes_and_after_the_idle_time(page_store, served_to_a_class):
    import time
    served_to_a_class.setenv("SSL_EXPLORER_SECRET", "teach")
    served_to_a_class.setenv("SSL_EXPLORER_STUDENT_SECRET", "learn")
    app = login("learn").run()
    assert app.session_state["role"] == "student" and not app.info
    served_to_a_class.setenv("SSL_EXPLORER_STUDENT_SECRET", "learn better")
    app.run()
    assert "The access secret changed" in app.info[0].value and "role" not in app.session_state
    assert app.text_input[0].label == "Access secret"
    app = login("teach").run()
    served_to_a_class.setenv("SSL_EXPLORER_IDLE_MINUTES", "0.01")  # 0.6 s
    time.sleep(0.8)
    app.run()
    assert "Logged out after 0.01 minutes without a page run" in app.info[0].value
    assert "role" not in app.session_state


def test_the_page_sends_to_mlflow_only_at_allowed_servers_and_requests_nothing_else(page_store, monkeypatch):
    import socket
    pytest.importorskip("mlflow")
    run_id = run_to_end(page_store, algorithm="supervised")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    monkeypatch.setenv("SSL_EXPLORER_MLFLOW_URIS", "http://mlflow.example:5000")
    app = open_page("views/runs.py")
    select_rows(app, [0])
    for uri, said in ((f"http://127.0.0.1:{port}/anything", "is not among this server's allowed tracking URIs"),
                      (str(page_store.url), "is not an http(s) tracking server"),
                      ("/tmp/deep/er", "is not an http(s) tracking server")):
        app.text_input(key="mlflow-uri").input(uri)
        app = [b for b in app.get("form_submit_button") if b.label == "Send to MLflow"][0].click().run()
        assert any(said in seen(error) for error in app.error), uri
    with pytest.raises(socket.timeout):
        listener.accept()  # nothing came
    listener.close()
    assert not Path("/tmp/deep/er").exists()
    assert {row[0] for row in page_store.engine.connect().exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type='table'")} >= {"runs"}
    assert "experiments" not in {row[0] for row in page_store.engine.connect().exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type='table'")}
    assert page_store.get_run(run_id).status == "finished"


def test_realistic_page_sweeps_the_mismatch_share_from_its_button_and_shows_both_sections(page_store, monkeypatch):
    app = open_page("views/realistic.py")
    assert not app.exception and any("No sweep yet" in info.value for info in app.info)
    app = submit(app, "mismatch-form", steps=30, third="pseudo_label")
    runs = page_store.list_runs()
    assert len(runs) == 11 and {run.config.mismatch for run in runs} == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert sum(run.algorithm == "supervised" for run in runs) == 1 and len({run.config.group for run in runs}) == 1
    app = submit(app, "imbalance-form", steps=30, imbalance=10.0)
    for run in page_store.list_runs():
        get_runner(page_store.url).wait(run.id)
    assert {run.status for run in page_store.list_runs()} == {"finished"}
    app.run()
    assert not app.exception and not app.error
    titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in app.get("plotly_chart")]
    assert "Test accuracy against the mismatch share" in titles
    assert any(title.startswith("Unseen-class samples passing") for title in titles)
    assert sum(": passing pseudo-labels by class (" in title for title in titles) == 3
    assert sum(title == "Per-class thresholds over steps" for title in titles) == 2  # FlexMatch, FreeMatch
    table = app.dataframe[0].value
    assert len(table) == 11 and set(table.method) == {"Supervised", "FixMatch", "Pseudo-Label"}
    assert table[table.method == "FixMatch"]["unseen passing"].notna().sum() == 4  # all shares but 0


def test_o_l_and_u_have_one_color_on_the_lessons_pipeline_and_compare_pages(page_store):
    """One store's O, L and U runs, as the U-over-O lesson and the pipeline's comparison both find them."""
    lesson = dict(lesson="labeled-vs-unlabeled", group="olu", batch_size=8, dataset="digits")  # its small preset
    runs = {"U": run_to_end(page_store, algorithm="fixmatch_simclr", variant="U", role="U", **lesson),
            "O": run_to_end(page_store, algorithm="fixmatch", role="O", **lesson),
            "L": run_to_end(page_store, algorithm="fixmatch_simclr", variant="L", role="L", **lesson)}
    from sslengine.plots import ROLE_COLORS

    def colors(app: AppTest, title: str = "accuracy") -> dict[str, str]:
        """Each named line's color in the page's first chart whose title has `title`."""
        spec = next(spec for spec in (json.loads(c.proto.spec) for c in app.get("plotly_chart"))
                    if title in spec["layout"]["title"]["text"].lower())
        return {trace["name"]: trace["line"]["color"] for trace in spec["data"] if "line" in trace}

    lessons_page = AppTest.from_file("../app.py", default_timeout=60).run()
    assert not lessons_page.exception
    assert {role: colors(lessons_page, "test accuracy over steps")[role] for role in "OLU"} == ROLE_COLORS

    pipeline = open_page("views/pipeline.py")
    assert not pipeline.exception
    assert {role: colors(pipeline)[role] for role in "OLU"} == ROLE_COLORS
    compare = open_page("views/compare.py")
    compare.multiselect(key="compare-runs").set_value(list(runs.values())).run()
    by_run = {name.split("(")[-1].rstrip(")"): color for name, color in colors(compare).items()}
    assert {role: by_run[run_id[:6]] for role, run_id in runs.items()} == ROLE_COLORS


def test_the_threshold_page_opens_on_a_pseudo_labelling_run_before_another_lessons(page_store):
    own = run_to_end(page_store, algorithm="fixmatch", lesson="pseudo-label-quality", role="fixmatch")
    plain = run_to_end(page_store, algorithm="fixmatch")
    run_to_end(page_store, algorithm="fixmatch", lesson="overfitting", role="fixmatch")  # the newest
    app = open_page("views/threshold.py")
    assert not app.exception and app.selectbox(key="threshold-run").value == plain
    assert app.selectbox(key="threshold-run").options[:2] == [
        app.selectbox(key="threshold-run").format_func(run_id) for run_id in (plain, own)]


def test_a_lessons_pair_on_the_entropy_page_and_its_card_say_what_they_show(page_store):
    lesson = dict(lesson="entropy-boundary", group="lesson entropy-boundary seed 1", seed=1, dataset="gap")
    for algorithm in ("supervised", "entmin"):
        run_to_end(page_store, algorithm=algorithm, role=algorithm, **lesson)
    entropy = open_page("views/entropy.py")
    assert not entropy.exception
    assert any(caption.value == "This comparison holds Supervised and EntMin of the 4 methods: the Lessons page's "
               "entropy-boundary card trains these alone." for caption in entropy.caption)
    card = AppTest.from_file("../app.py", default_timeout=60).run()
    assert not card.exception
    assert any(caption.value == "Shown below: this card's newest training, on seed 1; the button trains seed 0."
               for caption in card.caption)


def test_compare_says_when_two_runs_coincide_and_plots_only_the_loss_every_method_computes_alike(page_store):
    twins = [run_to_end(page_store, algorithm="fixmatch") for _ in range(2)]
    other = run_to_end(page_store, algorithm="entmin")
    app = open_page("views/compare.py")
    app.multiselect(key="compare-runs").set_value([*twins, other]).run()
    assert not app.exception
    captions = " ".join(caption.value for caption in app.caption)
    assert f"({twins[0][:6]}) and " in captions and "one line hides the other" in captions
    assert "the loss chart shows the labeled loss" in captions
    titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in app.get("plotly_chart")]
    assert "labeled loss" in titles and "loss" not in titles
    app.multiselect(key="compare-runs").set_value(twins[:1] + [other]).run()
    assert "one line hides the other" not in " ".join(caption.value for caption in app.caption)


def test_a_session_with_no_role_is_refused_everything_the_policy_decides(page_store):
    """No role is what a visitor of a server bound beyond localhost has before a secret: every question to the
    policy says no, each with a Refused naming what. (On localhost the gate gives the instructor's role,
    explicitly: the other page tests run as it.)"""
    run_to_end(page_store, algorithm="supervised", name="anyone's")

    def script():
        import streamlit as st

        from sslengine.config import RunConfig
        from sslengine.store import Store
        from views.kit import policy
        run = Store().list_runs()[0]
        questions = {"start": lambda: policy.check_start(Store(), [RunConfig()]),
                     "stop": lambda: policy.check_change(run, "stop"),
                     "rename": lambda: policy.check_change(run, "rename"),
                     "delete": lambda: policy.check_change(run, "delete"),
                     "sweep": lambda: policy.check_stop_sweep([run.id]),
                     "mlflow_uri": lambda: policy.check_mlflow_uri("http://127.0.0.1:5000")}
        for what, ask in questions.items():
            try:
                ask()
                st.text(f"{what}: allowed")
            except policy.Refused as refused:
                st.text(f"refused {refused.field} · {refused}")
        st.text(f"may change: {policy.may_change(run)}, may stop its sweep: {policy.may_stop_sweep([run.id])}")

    app = AppTest.from_function(script, default_timeout=60).run()
    assert not app.exception and "role" not in app.session_state
    answers = [text.value for text in app.text]
    assert answers[:6] == [f"refused {what} · {what}: {reason}" for what, reason in [
        ("start", "this session has no role: enter the access secret"),
        ("stop", "this session has no role: enter the access secret"),
        ("rename", "this session has no role: enter the access secret"),
        ("delete", "this session has no role: enter the access secret"),
        ("sweep", "this session has no role: enter the access secret"),
        ("mlflow_uri", "sending to MLflow is for the instructor; download the files instead")]]
    assert answers[6] == "may change: False, may stop its sweep: False"
    assert page_store.get_run(page_store.list_runs()[0].id).name == "anyone's"


@pytest.mark.slow
def test_a_flood_of_one_students_fifteen_sessions_keeps_to_the_caps_and_a_classmate_goes_before_their_fifth(
        page_store, monkeypatch):
    """bench.flood's claims in one process: student A's 15 sessions from one address press Start 5 times each;
    classmate B, from another address, presses once after A's first round. A's runs waiting or training never
    pass A's address cap, the queue never passes its cap, and B's run starts before A's fifth (turns by who
    started them, not first come, first served)."""
    import threading
    from sslengine.store import ACTIVE
    caps = {"MAX_TRAINING": 1, "MAX_PER_ADDRESS": 5, "MAX_QUEUE": 6}
    for name, value in caps.items():
        monkeypatch.setenv(f"SSL_EXPLORER_{name}", str(value))
    peak, done = {"a": 0, "queued": 0}, threading.Event()

    def watch():
        while not done.wait(0.05):
            active = [run for run in page_store.list_runs() if run.status in ACTIVE]
            peak["a"] = max(peak["a"], sum(run.address == "10.0.0.7" for run in active))
            peak["queued"] = max(peak["queued"], sum(run.status == "queued" for run in active))

    watcher = threading.Thread(target=watch)
    watcher.start()
    sessions = [student_page("views/threshold.py") for _ in range(15)]
    run = dict(dataset="moons", steps=3000)
    for press in range(5):
        sessions = [submit(session, "threshold-form", **run) for session in sessions]
        if press == 0:
            with monkeypatch.context() as elsewhere:
                elsewhere.setattr("views.kit.access.client_address", lambda: "10.0.0.8")
                submit(student_page("views/threshold.py"), "threshold-form", **run)
    runner = get_runner(page_store.url)
    for recorded in page_store.list_runs():
        runner.wait(recorded.id, timeout=600)
    done.set()
    watcher.join()
    runs = page_store.list_runs()
    a_runs = sorted((r for r in runs if r.address == "10.0.0.7"), key=lambda r: r.created)
    (b_run,) = [r for r in runs if r.address == "10.0.0.8"]
    assert all(r.status == "finished" for r in runs) and len(a_runs) >= 5
    assert peak["a"] == caps["MAX_PER_ADDRESS"] and peak["queued"] <= caps["MAX_QUEUE"]  # A reached its cap
    assert b_run.started < a_runs[4].started
    place = sorted(r.started for r in runs).index(b_run.started) + 1
    print(f"flood: {len(a_runs)} runs of A's 75 presses, A's peak {peak['a']} (cap 5), queue's peak "
          f"{peak['queued']} (cap 6), B's run was number {place} of {len(runs)} to start")


# Methods describe themselves: the pages render from each method's presentation -----------------------------
def test_every_method_carries_its_own_presentation_naming_a_page_that_exists():
    from sslengine.algorithms import ALGORITHMS
    from sslengine.algorithms.base import Presentation
    names = [method.presentation.name for method in ALGORITHMS.values()]
    assert len(set(names)) == len(ALGORITHMS)  # none inherited from the method it extends (Dash is FixMatch's)
    for name, method in ALGORITHMS.items():
        shown = method.presentation
        assert isinstance(shown, Presentation) and "presentation" in vars(method), name
        assert shown.page is None or Path(f"views/{shown.page}.py").is_file(), name
        assert shown.query in ("run", "group", "olu"), name
        assert {series.chart for series in shown.series} <= {"curves", "per class", "weights"}, name
        if shown.page == "threshold":  # the page shows the run's loss: LaTeX whose groups and delimiters close
            formula = shown.formula
            assert formula and formula.count("{") == formula.count("}"), name
            assert formula.count(r"\left") == formula.count(r"\right"), name
        if any(series.chart == "weights" for series in shown.series):
            assert callable(getattr(method, "weights", None)), name


def test_a_fixmatch_family_method_added_in_its_own_file_appears_on_the_threshold_page_with_no_page_edit(
        page_store, monkeypatch):
    """DESIGN.md's worked example: a method whose mask is max q >= tau / 2 and that logs its threshold, declared
    here as its own file would declare it and added to the registry; no page is touched. The threshold page
    offers it, starts it, draws its threshold beside the curves with its label and shows its formula; the Runs
    page opens it there."""
    from sslengine.algorithms import ALGORITHMS
    from sslengine.algorithms.base import AT_TAU, Presentation, Series, passes
    from sslengine.algorithms.fixmatch import FixMatch

    class HalfMatch(FixMatch):
        presentation = Presentation("HalfMatch", page="threshold",
                                    formula=r"\mathbb{1}\!\left[\max q_b \ge \tau / 2\right]",
                                    series=(AT_TAU, Series("halfmatch_tau", "curves", "HalfMatch's threshold")),
                                    about="HalfMatch lets through every label half as confident as FixMatch's.")

        def mask(self, q, unlabeled_index, p_l):
            half = self.config.threshold / 2
            return passes(q.max(dim=-1).values, half), {"halfmatch_tau": half}

    monkeypatch.setitem(ALGORITHMS, "halfmatch", HalfMatch)
    app = open_page("views/threshold.py")
    assert "HalfMatch" in app.selectbox(key="threshold-form-algorithm").options  # its display name
    app = submit(app, "threshold-form", algorithm="halfmatch", dataset="moons", steps=30)
    assert not app.exception
    (run,) = page_store.list_runs()
    get_runner(page_store.url).wait(run.id)
    app = open_page("views/threshold.py")
    assert not app.exception
    assert any("HalfMatch" in markdown.value for markdown in app.markdown)
    assert any(r"\tau / 2" in latex.value for latex in app.latex)
    curves = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")
              if json.loads(chart.proto.spec)["layout"]["title"]["text"].startswith("Test accuracy, mask rate")]
    assert [trace for trace in curves[0]["data"] if trace["name"] == "HalfMatch's threshold"]
    assert "HalfMatch lets through" in " ".join(caption.value for caption in app.caption)
    assert page_store.final_scalars(run.id)["halfmatch_tau"] == pytest.approx(0.475)
    from views.kit.pickers import page_of  # the Runs page's Open
    assert page_of(page_store.get_run(run.id)) == ("views/threshold.py", {"run": run.id})
