"""A class on one server: N students (headless Chromium pages on this machine) each press Start at once.

Run: python -m bench.classroom [--students 30] [--steps 200] [--limit 1] [--seconds 600]
Each page opens the threshold page, sets a short FixMatch run on two moons and presses Start. Printed: time
from the press to the page's first feedback ("queued" or "running"), time to the first live point for the
runs admitted at once, the queue wait (store: created to started), the server's RSS before, at its peak and
after, runs lost (not finished), exceptions on the pages. The reference: one student alone, same run.
Bounded: the pages close after --seconds whatever happened.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.browser import chromium, serving
from sslengine.store import ACTIVE, Store


# The page's progress bar once its run is recorded: queued (with its place), running, or already done.
FEEDBACK = "/(queued|running|finished) · /.test(document.body.innerText)"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (its threads included: the server trains in threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def browsers_cpu_seconds() -> float:
    """CPU time of every Chromium process on this machine, which the pages share with the server."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if "chromium" in (stat.parent / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace"):
                total += cpu_seconds(int(stat.parent.name))
        except (OSError, IndexError):  # a process that ended meanwhile
            continue
    return total


def classroom(students: int, steps: int, limit: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "runs.db"
        with serving(path, env={"SSL_EXPLORER_MAX_TRAINING": str(limit)}) as (url, server), chromium() as browser:
            pages = [browser.new_page(viewport={"width": 1400, "height": 1000}) for _ in range(students)]
            errors: list[str] = []
            for page in pages:
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.goto(f"{url}/threshold")
            for page in pages:
                page.get_by_role("button", name="Start").wait_for(timeout=120_000)
                page.locator('[data-testid="stNumberInput"]').filter(has_text="Steps").locator("input").fill(str(steps))
                page.locator('[data-testid="stSelectbox"]').filter(has_text="Dataset").click()
                page.get_by_role("option", name="moons", exact=True).click()
            before = rss_mb(server.pid)
            peak = [before]
            done = threading.Event()

            def watch():
                while not done.wait(0.5):
                    peak.append(rss_mb(server.pid))

            threading.Thread(target=watch, daemon=True).start()
            pressed = time.perf_counter()
            server_cpu, browsers_cpu = cpu_seconds(server.pid), browsers_cpu_seconds()
            for page in pages:
                page.get_by_role("button", name="Start").click()
            feedback: dict[int, float] = {}  # polled round the pages, so that no page waits behind another
            while len(feedback) < students and time.perf_counter() - pressed < seconds:
                for number, page in enumerate(pages):
                    if number not in feedback and page.evaluate(FEEDBACK):
                        feedback[number] = time.perf_counter() - pressed
                time.sleep(0.1)
            answered = time.perf_counter() - pressed
            server_cpu, browsers_cpu = cpu_seconds(server.pid) - server_cpu, browsers_cpu_seconds() - browsers_cpu
            feedback = list(feedback.values()) or [float("nan")]
            store = Store(str(path))
            deadline = pressed + seconds
            while any(run.status in ACTIVE for run in store.list_runs()) and time.perf_counter() < deadline:
                time.sleep(1)
            exceptions = sum(page.locator('[data-testid="stException"]').count() for page in pages)
            runs = store.list_runs()
            done.set()
            for page in pages:
                page.close()
            time.sleep(5)
            after = rss_mb(server.pid)
            waits = [run.started - run.created for run in runs if run.started]
            return {"students": students, "runs": len(runs), "answered": len(feedback),
                    "datasets": sorted({run.dataset for run in runs}),
                    "steps": sorted({run.config.steps for run in runs}),
                    "lost": sum(run.status != "finished" for run in runs),
                    "feedback_median": statistics.median(feedback), "feedback_max": max(feedback),
                    "wait_median": statistics.median(waits) if waits else float("nan"),
                    "wait_max": max(waits) if waits else float("nan"),
                    "train_median": statistics.median(run.wall_seconds for run in runs if run.wall_seconds),
                    "all_done": time.perf_counter() - pressed, "rss_before": before, "rss_peak": max(peak),
                    "rss_after": after, "exceptions": exceptions, "js_errors": len(errors),
                    "answered_after": answered, "server_cpu": server_cpu, "browsers_cpu": browsers_cpu,
                    "error_texts": sorted(set(errors))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--limit", type=int, default=1, help="runs trained at once (SSL_EXPLORER_MAX_TRAINING)")
    parser.add_argument("--seconds", type=float, default=600)
    args = parser.parse_args()
    alone = classroom(1, args.steps, args.limit, args.seconds)
    print(f"reference, one student: feedback {alone['feedback_median']:.1f} s, run trained in "
          f"{alone['train_median']:.1f} s, all done {alone['all_done']:.1f} s")
    result = classroom(args.students, args.steps, args.limit, args.seconds)
    print(f"{result['students']} students, limit {args.limit}, FixMatch on {', '.join(result['datasets'])} for "
          f"{', '.join(map(str, result['steps']))} steps each:")
    print(f"| press to feedback (median, max) | {result['feedback_median']:.1f} s, {result['feedback_max']:.1f} s "
          f"({result['feedback_median'] / alone['feedback_median']:.1f}x one student) |")
    print(f"| queue wait (median, max) | {result['wait_median']:.1f} s, {result['wait_max']:.1f} s |")
    print(f"| training time per run (median) | {result['train_median']:.1f} s "
          f"({result['train_median'] / alone['train_median']:.2f}x one student) |")
    print(f"| all runs done after | {result['all_done']:.0f} s |")
    print(f"| server RSS before, peak, after | {result['rss_before']:.0f}, {result['rss_peak']:.0f}, "
          f"{result['rss_after']:.0f} MB |")
    print(f"| pages that showed their run, runs recorded, lost | {result['answered']}, {result['runs']}, "
          f"{result['lost']} |")
    print(f"| exceptions on the pages, JavaScript errors | {result['exceptions']}, {result['js_errors']} |")
    cores = os.cpu_count() * result["answered_after"]
    print(f"| CPU from the presses to the last feedback ({result['answered_after']:.0f} s, {os.cpu_count()} cores) | "
          f"server {result['server_cpu']:.0f} s ({result['server_cpu'] / cores:.0%}), "
          f"Chromium pages {result['browsers_cpu']:.0f} s ({result['browsers_cpu'] / cores:.0%}) |")
    for text in result["error_texts"]:
        print(f"JavaScript error: {text[:300]}")


if __name__ == "__main__":
    main()
