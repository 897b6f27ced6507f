"""Seconds a lesson's press takes with its page open: the dashboard served on a fresh store, the Lessons page in
headless Chromium, each card's button pressed in turn (one lesson training at a time, as a teacher would), and
the time from the click to the card's verdict. A screenshot of each card lands in --shots.

Run: python -m bench.lessons_page [--seed 0] [--lessons NAME ...] [--shots test-output/lessons]
The reference is the same lesson trained from the command line in this process, right after. Each lesson's
seconds with the page open are added to its entry in sslengine.lessons.SPREAD_FILE, for the card to show.
"""
from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from bench.browser import chromium, serve
from bench.lessons import machine, train
from sslengine import lessons
from sslengine.store import Store


def press(page, index: int, seed: int, timeout_s: float) -> float:
    """Click the index-th card's button and wait for that card's verdict; its seconds."""
    before = page.get_by_text(re.compile(rf"on this run \(seed {seed}\)")).count()
    started = time.perf_counter()
    page.get_by_role("button", name=f"Train this lesson (seed {seed})").nth(index).click()
    page.wait_for_function(f"(document.body.innerText.match(/on this run \\(seed {seed}\\)/g) || []).length > {before}",
                           timeout=timeout_s * 1000)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lessons", nargs="+", default=list(lessons.LESSONS), choices=list(lessons.LESSONS))
    parser.add_argument("--shots", type=Path, default=Path("test-output/lessons"))
    args = parser.parse_args()
    args.shots.mkdir(parents=True, exist_ok=True)
    print(machine())
    with tempfile.TemporaryDirectory() as folder, serve(Path(folder) / "runs.db") as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_role("button", name="Train this lesson (seed 0)").nth(len(lessons.LESSONS) - 1).wait_for()
        if args.seed:
            field = page.get_by_label("Seed for the lessons' runs")
            field.fill(str(args.seed)), field.press("Enter")
            page.get_by_role("button", name=f"Train this lesson (seed {args.seed})").first.wait_for()
        page_seconds = {}
        for name in args.lessons:
            index = list(lessons.LESSONS).index(name)
            page_seconds[name] = press(page, index, args.seed, timeout_s=300)
            page.wait_for_timeout(1500)  # the charts draw
            heading = page.get_by_role("heading", name=lessons.lesson(name).title)
            card = page.locator('[data-testid="stVerticalBlock"]', has=heading).last  # the innermost: the card
            card.screenshot(path=str(args.shots / f"{name}-seed{args.seed}.png"))
            verdict = card.get_by_text(re.compile(r"on this run \(seed")).inner_text()
            print(f"{name:22s} {page_seconds[name]:5.1f} s with the page open · {verdict}", flush=True)
        errors = page.locator('[data-testid="stException"]').count()
        print(f"exceptions on the page: {errors}")
    written = json.loads(lessons.SPREAD_FILE.read_text())
    with tempfile.TemporaryDirectory() as folder:
        store = Store(str(Path(folder) / "runs.db"))
        for name in args.lessons:
            _, seconds = train(store, name, args.seed)
            print(f"{name:22s} {page_seconds[name]:5.1f} s with the page open, {seconds:5.1f} s from the command "
                  f"line ({page_seconds[name] / seconds:.2f}x)")
            if name in written["lessons"]:
                written["lessons"][name]["page_seconds"] = {"seed": args.seed, "seconds": page_seconds[name],
                                                            "command_line_seconds": seconds}
    lessons.SPREAD_FILE.write_text(json.dumps(written, indent=1) + "\n")


if __name__ == "__main__":
    main()
