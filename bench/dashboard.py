"""Dashboard benchmark: `python -m bench.dashboard` (about 4 minutes on 2 cores).

1. Server time of one what-if refresh of the threshold page (the whole script, as Streamlit's AppTest runs
   it) over a stored snapshot of 1 000 and of 10 000 probe points; median of 15 slider moves.
2. From the page, in headless Chromium with a fresh, empty store: seconds from pressing Start to the first
   point on the live chart (FixMatch on digits).
3. Cold start: seconds from `streamlit run app.py` to the Lessons page's title drawn in Chromium, against a
   one-line Streamlit script started the same way (median of 3 each).
4. Training time of that run (its own `seconds` at the last step) against the same run from the command
   line, in a separate process; several pairs, interleaved, since this shared machine's speed drifts by
   10-20 % from one minute to the next; the median ratio is the figure.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.browser import ROOT, chart_points, chromium, serve
from sslengine.config import RunConfig
from sslengine.store import ACTIVE, Store

LIVE_CHART = "Test accuracy, mask rate and pseudo-label accuracy over steps"
LIVE_KEYS = ("test_acc", "mask_rate", "pseudo_label_acc", "pseudo_label_acc_passing")
# Shorter runs than the default 1 000 steps, more of them: the page's cost per second is the same, and the
# median of many pairs is steadier on a machine whose speed drifts.
STEPS, PAIRS = 400, 5


def synthetic_run(store: Store, probe_size: int) -> str:
    """A finished FixMatch-shaped run: 100 log steps of scalars, 30 snapshots of 10-class probe logits."""
    rng = np.random.default_rng(0)
    run_id = store.create_run(RunConfig(name=f"probe {probe_size}", probe_size=probe_size))
    for step in range(0, 1001, 10):
        store.log_scalars(run_id, step, {key: rng.random() for key in LIVE_KEYS})
    target = rng.integers(0, 10, probe_size)
    for step in np.linspace(0, 1000, 30).round().astype(int):
        logits = rng.normal(size=(probe_size, 10)) * 3
        logits[np.arange(probe_size), target] += step / 200  # more confident and more right as it trains
        store.log_arrays(run_id, int(step), {"logits": logits.astype(np.float32), "target": target})
    store.set_status(run_id, "finished")
    return run_id


def refresh_seconds(probe_size: int, moves: int = 15) -> float:
    from streamlit.testing.v1 import AppTest
    import os

    with tempfile.TemporaryDirectory() as folder:
        os.environ["SSL_EXPLORER_STORE"] = str(Path(folder) / "runs.db")
        run_id = synthetic_run(Store(), probe_size)
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
        app = app.switch_page("views/threshold.py").run()
        times = []
        for threshold in np.linspace(0.5, 0.99, moves):
            started = time.perf_counter()
            app.slider(key=f"tau-{run_id}").set_value(float(threshold)).run()
            times.append(time.perf_counter() - started)
        assert not app.exception, app.exception
        return statistics.median(times)


def run_from_the_page(steps: int) -> tuple[float, float]:
    """(seconds from Start to the first live point, the run's own training seconds)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "runs.db"
        store = Store(str(path))
        with serve(path) as url, chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/threshold")
            page.get_by_role("button", name="Start").wait_for()
            page.wait_for_load_state("networkidle")
            steps_input = page.locator('[data-testid="stNumberInput"]').filter(has_text="Steps")
            steps_input.locator("input").fill(str(steps))
            page.get_by_role("button", name="Start").click()
            pressed = time.perf_counter()
            while chart_points(page, LIVE_CHART) < 1:
                page.wait_for_timeout(50)
            first_point = time.perf_counter() - pressed
            (run,) = store.list_runs()
            while store.get_run(run.id).status in ACTIVE:
                time.sleep(0.5)
            return first_point, store.final_scalars(run.id)["seconds"]


def first_paint(browser, script: Path, title: str, last: str | None = None) -> tuple[float, float | None]:
    """Seconds from starting the server to `title` drawn as the page's heading, the browser already open, and
    to the button `last` drawn (the page's end)."""
    with tempfile.TemporaryDirectory() as folder:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        started = time.perf_counter()
        with serve(Path(folder) / "runs.db", script=script) as url:
            page.goto(url)
            page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
            titled = time.perf_counter() - started
            if last:
                page.get_by_role("button", name=last).last.wait_for(timeout=60_000)
            drawn = time.perf_counter() - started if last else None
        page.close()
        return titled, drawn


def cold_start(tries: int = 3) -> tuple[float, float, float]:
    """Medians: the app's title drawn, its Lessons page drawn to the last card's button, and a one-line
    Streamlit script's title."""
    with tempfile.TemporaryDirectory() as folder, chromium() as browser:
        hello = Path(folder) / "hello.py"
        hello.write_text("import streamlit as st\nst.title('Hello')\n")
        app = [first_paint(browser, ROOT / "app.py", "Lessons", "Train this lesson") for _ in range(tries)]
        reference = [first_paint(browser, hello, "Hello")[0] for _ in range(tries)]
        return (statistics.median(t for t, _ in app), statistics.median(d for _, d in app),
                statistics.median(reference))


def run_from_the_command_line(steps: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run([sys.executable, "-m", "sslengine", "run", "fixmatch", "--json", "--steps",
                                 str(steps), "--store", str(Path(folder) / "runs.db")], cwd=ROOT,
                                capture_output=True, text=True, check=True)
        return json.loads(result.stdout.splitlines()[-1])["metrics"]["seconds"]


def main():
    small, large = refresh_seconds(1_000), refresh_seconds(10_000)
    print("what-if refresh of the threshold page, server time (median of 15 slider moves):")
    print(f"  probe  1 000 points: {small * 1000:6.0f} ms   ({small / 0.3:.2f}x the 300 ms budget)")
    print(f"  probe 10 000 points: {large * 1000:6.0f} ms   ({large / small:.2f}x the 1 000-point refresh)")
    titled, drawn, hello = cold_start()
    print(f"cold start in Chromium, from server start: Lessons title {titled:.1f} s, the whole page {drawn:.1f} s; "
          f"a one-line Streamlit script's title {hello:.1f} s (ratios {titled / hello:.2f}, {drawn / hello:.2f})")
    print(f"FixMatch on digits ({STEPS} steps, other settings default), started from the page in Chromium, "
          "against the command line:")
    ratios = []
    for _ in range(PAIRS):
        cli_seconds = run_from_the_command_line(STEPS)
        first_point, page_seconds = run_from_the_page(STEPS)
        ratios.append(page_seconds / cli_seconds)
        print(f"  first live point {first_point:.1f} s after Start; training {page_seconds:.1f} s with the "
              f"page open, {cli_seconds:.1f} s from the command line: ratio {ratios[-1]:.3f}")
    print(f"  median ratio, page open / command line: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
