"""A class that one student tries to jam: many sessions of one student pressing Start, then a classmate's one.

Run: python -m bench.flood [--sessions 15] [--presses 5] [--steps 1500] [--queue 6] [--per-address 8]
The app is served to a class (both secrets, bound to 0.0.0.0, one run training at a time). Student A opens
--sessions pages from 127.0.0.1, logs in on each and presses the threshold page's Start --presses times on
each (a short FixMatch run on two moons). Student B, logged in before from this machine's other address,
presses Start once when A is done, again each second while refused. A thread reads the store five times a second.
Printed: A's runs waiting or training at most (the per-address cap binds: every session of A is a new login),
the queue's length at most against its cap, the runs recorded and refused, and whether B's run started before
A's fifth (the queue takes students in turns).
"""
from __future__ import annotations

import argparse
import json
import socket
import tempfile
import threading
import time
from pathlib import Path

from bench.browser import chromium, serving
from sslengine.store import ACTIVE, Store

REFUSED = "/may keep at most|would pass its/.test(document.body.innerText)"


def other_address() -> str | None:
    """This machine's address on its network (not loopback), as a second student's browser would reach it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def student_page(browser, url: str, steps: int):
    """A session of its own (a browser context each, as separate browsers would be), logged in as a student."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(180_000)  # fifteen live tabs on two cores redraw slowly
    page.goto(f"{url}/threshold", timeout=180_000)
    page.get_by_label("Access secret", exact=True).fill("learn", timeout=180_000)
    page.get_by_role("button", name="Enter").click()
    page.get_by_role("button", name="Start").wait_for(timeout=120_000)
    page.locator('[data-testid="stNumberInput"]').filter(has_text="Steps").locator("input").fill(str(steps))
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Dataset").click()
    page.get_by_role("option", name="moons", exact=True).click()
    return page


def flood(sessions: int, presses: int, steps: int, queue: int, per_address: int, seconds: float = 600) -> dict:
    b_address = other_address()
    env = {"STREAMLIT_SERVER_ADDRESS": "0.0.0.0", "SSL_EXPLORER_SECRET": "teach",
           "SSL_EXPLORER_STUDENT_SECRET": "learn", "SSL_EXPLORER_MAX_TRAINING": "1", "SSL_EXPLORER_MAX_QUEUE": str(queue),
           "SSL_EXPLORER_MAX_PER_ADDRESS": str(per_address)}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "runs.db"
        with serving(path, env=env) as (url, _), chromium() as browser:
            store = Store(str(path))
            seen = {"queued": 0, "a_active": 0}
            done = threading.Event()

            def watch():
                while not done.wait(0.2):
                    active = [run for run in store.list_runs() if run.status in ACTIVE]
                    seen["queued"] = max(seen["queued"], sum(run.status == "queued" for run in active))
                    seen["a_active"] = max(seen["a_active"], sum(run.address == "localhost" for run in active))

            threading.Thread(target=watch, daemon=True).start()
            # B is logged in before the flood: with fifteen live tabs open, a fresh login took 82 s here.
            classmate = student_page(browser, url.replace("127.0.0.1", b_address), steps) if b_address else None
            pages = [student_page(browser, url, steps) for _ in range(sessions)]
            refusals, started = 0, time.perf_counter()
            for _ in range(presses):
                for page in pages:
                    page.get_by_role("button", name="Start").click()
                    page.wait_for_timeout(300)  # a student's double click, not a script's
                    refusals += page.evaluate(REFUSED)
            flooded = time.perf_counter() - started
            b_run = None
            if classmate:
                deadline = time.perf_counter() + seconds
                while b_run is None and time.perf_counter() < deadline:
                    classmate.get_by_role("button", name="Start").click()
                    classmate.wait_for_timeout(1000)
                    b_run = next((run for run in store.list_runs() if run.address == b_address), None)
            deadline = time.perf_counter() + seconds
            while any(run.status in ACTIVE for run in store.list_runs()) and time.perf_counter() < deadline:
                time.sleep(0.5)
            done.set()
            runs = store.list_runs()
            a_runs = sorted((run for run in runs if run.address == "localhost"), key=lambda run: run.created)
            b_run = b_run and store.get_run(b_run.id)
            return {"sessions": sessions, "presses": presses * sessions, "a_runs": len(a_runs),
                    "a_logins": len({run.owner for run in a_runs}), "a_active_max": seen["a_active"],
                    "a_cap": per_address, "queued_max": seen["queued"], "queue_cap": queue,
                    "flood_seconds": round(flooded, 1),
                    "pages_showing_a_refusal_after_a_press": refusals,
                    "b_started_before_a_fifth": (b_run is not None and len(a_runs) >= 5 and b_run.started is not None
                                                 and a_runs[4].started is not None
                                                 and b_run.started < a_runs[4].started),
                    "b_queue_wait_s": round(b_run.started - b_run.created, 1) if b_run and b_run.started else None,
                    "lost": sum(run.status != "finished" for run in runs)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=15)
    parser.add_argument("--presses", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--queue", type=int, default=6)
    parser.add_argument("--per-address", type=int, default=8)
    args = parser.parse_args()
    print(json.dumps(flood(args.sessions, args.presses, args.steps, args.queue, args.per_address), indent=1))


if __name__ == "__main__":
    main()
