"""The dashboard as a user meets it: a server process on a store, and headless Chromium driven by Playwright.

Shared by the browser tests and the dashboard benchmark.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
# Without the networking flags Chromium keeps calling home, which a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serve(store_path: str | Path, timeout: float = 60, script: str | Path = "app.py", env: dict | None = None):
    """`streamlit run app.py` (or another script) on a free port over the given store; yields its URL."""
    with serving(store_path, timeout, script, env) as (url, _):
        yield url


# The one setting of the caller's a server keeps: the image-set cache (the tests' own, empty one).
KEPT_SETTINGS = ("SSL_EXPLORER_DATA",)


def server_environment(store_path: str | Path, env: dict | None = None) -> dict[str, str]:
    """The caller's environment without its dashboard and Streamlit settings (an SSL_EXPLORER_MAX_QUEUED left
    in a shell made the class test's student start a sweep past the queue it checks), the store, and `env`."""
    inherited = {key: value for key, value in os.environ.items()
                 if not key.startswith(("SSL_EXPLORER_", "STREAMLIT_")) or key in KEPT_SETTINGS}
    return inherited | {"SSL_EXPLORER_STORE": str(store_path), "SSL_EXPLORER_LAYOUTS": "on"} | (env or {})


@contextlib.contextmanager
def serving(store_path: str | Path, timeout: float = 60, script: str | Path = "app.py", env: dict | None = None):
    """As `serve`, yielding (URL, the server's process). The server sees the settings given in `env`, none of the
    caller's (`server_environment`). Its output goes to a file, not a pipe: nothing reads a pipe while the
    server runs, and once its 64 kB filled with logged tracebacks the server would block on its next write."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true", "--server.port",
             str(port)], cwd=ROOT, env=server_environment(store_path, env), stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        process.kill()
                        process.wait()
                        log.seek(0)
                        raise RuntimeError(f"the dashboard did not start:\n{log.read().decode()}")
                    time.sleep(0.3)
            yield url, process
        except BaseException:  # a failing test's output carries what the server logged (CI keeps no files)
            log.seek(0)
            sys.stderr.write(f"the dashboard's log, its end:\n{log.read().decode(errors='replace')[-6000:]}\n")
            raise
        finally:
            process.terminate()
            process.wait(10)


@contextlib.contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def chart_points(page, title: str) -> int:
    """Points in the first trace of the plotly chart whose title contains `title`, -1 if there is none.

    Read from plotly's parsed data: Streamlit wraps titles in <b>, and numeric arrays travel base64-encoded.
    """
    return page.evaluate("""title => {
        const chart = [...document.querySelectorAll('.js-plotly-plot')]
            .find(c => c.layout && c.layout.title && String(c.layout.title.text).includes(title));
        return chart && chart._fullData.length ? chart._fullData[0].x.length : -1;
    }""", title)
