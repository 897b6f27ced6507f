"""`python -m sslengine`: start, list, show, export and delete runs, and download image sets, without a browser.

Bad input exits with code 2 and one line naming the field and what is allowed; nothing is written then.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
import threading
from typing import Callable

from sqlalchemy.exc import DatabaseError
from tqdm import tqdm

from . import image_sets, lessons, sweeps
from .algorithms import ALGORITHMS
from .algorithms.base import Algorithm
from .config import FIELD_TYPES, ConfigError, RunConfig
from .export import FORMATS, export, finite, run_summary
from .runner import check, get_runner
from .store import HEARTBEAT_SECONDS, Store, UnknownRun, resolve_url, store_problem

# Every setting is a flag of its own type, but the algorithm (the positional argument), the switches below
# (--compile, --no-weak-augment) and a lesson's bookkeeping.
RUN_FLAGS = {name: kind for name, kind in FIELD_TYPES.items()
             if kind is not bool and name not in ("algorithm", "lesson", "role")}


# Fields left None take the method's own value (Algorithm.defaults).
PER_METHOD = set(Algorithm.defaults)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump, exit code 2
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m sslengine", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name, help_text):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--store", help="store path or SQLAlchemy URL (default: $SSL_EXPLORER_STORE or "
                                         "./ssl_explorer.db)")
        return sub

    def config_flags(sub):
        sub.add_argument("algorithm", help=f"one of {', '.join(ALGORITHMS)}")
        defaults = RunConfig()
        for field, kind in RUN_FLAGS.items():
            default = getattr(defaults, field) if field not in PER_METHOD else None
            sub.add_argument("--" + field.replace("_", "-"), type=kind, default=default,
                             help="default: the method's own" if field in PER_METHOD else f"default: {default!r}")
        sub.add_argument("--compile", action="store_true", help="torch.compile the backbone (pays on long GPU "
                                                                "runs)")
        sub.add_argument("--no-weak-augment", dest="weak_augment", action="store_false",
                         help="weak views are the inputs as they are (a supervised run then over-fits plainly)")

    run = command("run", "train one run and wait for it")
    config_flags(run)
    run.add_argument("--parent", help="the run to start from (finetune: a run that learned a representation: "
                                      "simclr, byol, mocov3; distill: a classifier)")
    run.add_argument("--json", action="store_true", help="print one line of JSON at the end")

    sweep = command("sweep", "a grid of settings times seeds, each point a run, trained as Ray tasks")
    config_flags(sweep)
    sweep.add_argument("--grid", action="append", default=[], metavar="FIELD=A,B,...",
                       help="a setting and its values, e.g. threshold=0.8,0.95; repeat for more settings")
    sweep.add_argument("--seeds", type=int, default=1, help="seeds 0 .. N-1 at every point (default 1)")
    sweep.add_argument("--address", help="a Ray cluster to join (default: start a local Ray)")
    sweep.add_argument("--max-concurrent", type=int, help="points training at once (default: as Ray places them)")
    sweep.add_argument("--json", action="store_true", help="print one line of JSON at the end")

    resume = command("sweep-resume", "train the queued runs of a recorded sweep (the Sweeps page starts this)")
    resume.add_argument("sweep_id")
    resume.add_argument("--address", help="a Ray cluster to join (default: start a local Ray)")
    resume.add_argument("--max-concurrent", type=int, help="points training at once")
    resume.add_argument("--json", action="store_true")

    stop = command("sweep-stop", "stop every run of a sweep that has not ended, wherever it trains")
    stop.add_argument("sweep_id")

    lesson = command("lesson", "train a lesson's preset runs and judge them: does this run show what the course saw?")
    lesson.add_argument("name", help=f"one of {', '.join(lessons.LESSONS)}")
    lesson.add_argument("--seed", type=int, default=0, help="default: 0")
    lesson.add_argument("--scale", default="small", help=f"one of {', '.join(lessons.SCALES)} (default: small: "
                                                          "toy sets and digits; images: Fashion-MNIST)")
    lesson.add_argument("--device", default="auto", help="default: 'auto'")
    lesson.add_argument("--json", action="store_true", help="print one line of JSON at the end")

    listing = command("list", "list the runs in the store")
    listing.add_argument("--json", action="store_true")
    show = command("show", "a run's config, status and final metrics")
    show.add_argument("run_id")
    show.add_argument("--json", action="store_true")
    export = command("export", "a run for CSV readers, MLflow or TensorBoard: config, every scalar, snapshots")
    export.add_argument("run_id")
    export.add_argument("--format", choices=FORMATS, default="csv",
                        help="csv: scalars.csv, run.json, snapshots/step_<N>.npz; mlflow: a run with params, "
                             "metrics and artifacts; tensorboard: event files (default csv)")
    export.add_argument("--out", help="csv: a folder (default exports/RUN_ID); tensorboard: a log dir (default "
                                      "runs); mlflow: a tracking URI or a folder (default: $MLFLOW_TRACKING_URI, "
                                      "else ./mlflow.db)")
    export.add_argument("--experiment", default="ssl-explorer", help="mlflow: the experiment, made if missing")
    delete = command("delete", "delete a run and everything it logged")
    delete.add_argument("run_id")
    download = commands.add_parser("download", help="fetch image sets from their official addresses into "
                                                     f"${image_sets.DATA_ENV} (default ~/.cache/ssl-explorer)")
    download.add_argument("names", nargs="+", metavar="NAME",
                          help=f"one or more of {', '.join(image_sets.IMAGE_SETS)}")
    return parser


def _config(args) -> RunConfig:
    return RunConfig(algorithm=args.algorithm.replace("-", "_"), compile=args.compile, weak_augment=args.weak_augment,
                     **{field: getattr(args, field) for field in RUN_FLAGS})


def cmd_run(args) -> int:
    config = _config(args)
    algorithm = config.algorithm
    checked = check(config)  # before the store is opened: bad input leaves no trace
    if args.parent:  # a parent run lives in a store that exists: do not create one to look for it
        Store(args.store, must_exist=True)
    runner = get_runner(args.store)
    run_id = runner.start(checked, parent=args.parent)
    try:
        with tqdm(total=config.steps, desc=f"{algorithm} {run_id}", disable=args.json, unit="step") as bar:
            while not runner.wait(run_id, timeout=0.25):
                bar.update((runner.store.last_step(run_id) or 0) - bar.n)
            bar.update((runner.store.last_step(run_id) or 0) - bar.n)
    except KeyboardInterrupt:
        runner.stop(run_id)
        runner.wait(run_id)
    summary = run_summary(runner.store, run_id)
    if args.json:
        print(json.dumps({key: summary[key] for key in ("run_id", "status", "wall_seconds", "metrics", "error")}))
    else:
        _print_summary(summary)
    return 0 if summary["status"] == "finished" else 1


def cmd_sweep(args) -> int:
    checked = sweeps.plan(_config(args), sweeps.parse_grid(args.grid), args.seeds)  # before the store is opened
    if importlib.util.find_spec("ray") is None:  # before anything is recorded, not as every run failing
        raise ConfigError("sweep", "needs Ray, the optional extra: pip install -r requirements-scale.txt")
    store = Store(args.store)
    sweep_id, run_ids = sweeps.create_sweep(store, checked)
    return _train_sweep(store, sweep_id, run_ids, args)


def _sweep_store(args) -> Store:
    store = Store(args.store, must_exist=True)
    if args.sweep_id not in {sweep["id"] for sweep in store.list_sweeps()}:
        raise ConfigError("sweep_id", f"no sweep {args.sweep_id!r} in the store {store.url}")
    return store


def cmd_sweep_resume(args) -> int:
    store = _sweep_store(args)
    queued = [run.id for run in store.sweep_runs(args.sweep_id) if run.status == "queued"]
    return _train_sweep(store, args.sweep_id, queued, args)


def cmd_sweep_stop(args) -> int:
    stopped = sweeps.stop_sweep(_sweep_store(args), args.sweep_id)
    print(f"sweep {args.sweep_id}: asked {len(stopped)} runs to stop" + (f" ({', '.join(stopped)})" if stopped else ""))
    return 0


@contextlib.contextmanager
def _every(seconds: float, action: Callable[[], None]):
    """Call `action` every `seconds` from a thread while the block runs, and once more at its end."""
    done = threading.Event()

    def loop():
        while not done.wait(seconds):
            action()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        action()


def _train_sweep(store: Store, sweep_id: str, run_ids: list[str], args) -> int:
    store.claim(run_ids)
    ended: list[str] = []
    total = sum(store.get_run(run_id).config.steps for run_id in run_ids)
    with tqdm(total=total, desc=f"sweep {sweep_id}", unit="step", disable=args.json) as bar, \
            _every(1.0, lambda: bar.update(sum(store.last_step(run_id) or 0 for run_id in run_ids) - bar.n)), \
            _every(HEARTBEAT_SECONDS, lambda: store.beat(run_ids, "queued")):  # the runs Ray has not started
        bar.set_postfix_str(f"0 of {len(run_ids)} runs ended")
        try:  # the bar counts every run's steps, as each run writes them to the store, wherever it trains
            sweeps.run_on_ray(store, run_ids, args.address, args.max_concurrent,
                              on_done=lambda run_id, status: (
                                  ended.append(status),
                                  bar.set_postfix_str(f"{len(ended)} of {len(run_ids)} runs ended")))
        except KeyboardInterrupt:  # stopping the sweep stops its runs, wherever they train
            sweeps.stop_sweep(store, sweep_id)
            raise
        except Exception as error:  # no Ray, no cluster at the address...: the runs say why, for the page
            message = ("Ray is not installed: pip install -r requirements-scale.txt"
                       if isinstance(error, ImportError) else f"{type(error).__name__}: {error}")
            for run_id in run_ids:
                if store.get_run(run_id).status == "queued":
                    store.set_status(run_id, "failed", error=f"the sweep could not train it: {message}")
            raise
    rows = [run_summary(store, run_id) for run_id in run_ids]
    if args.json:
        print(json.dumps({"sweep_id": sweep_id, "runs": [{key: row[key] for key in
                                                          ("run_id", "name", "status", "metrics", "error")}
                                                         for row in rows]}))
    else:
        print(f"sweep {sweep_id}: {sum(row['status'] == 'finished' for row in rows)} of {len(rows)} finished")
        for row in rows:
            acc = row["metrics"].get("test_acc")
            print(f"  {row['run_id']}  {row['name'][:40]:40s}  {row['status']:9s}  "
                  f"{'-' if acc is None else f'{acc:.4f}'}" + (f"  {row['error']}" if row["error"] else ""))
    return 0 if all(row["status"] == "finished" for row in rows) else 1


def _print_summary(summary: dict):
    print(f"{summary['run_id']}  {summary['name']}  {summary['status']}"
          + (f"  ({summary['wall_seconds']:.1f} s on {summary['device']})" if summary["wall_seconds"] else ""))
    if summary["error"]:
        print(f"error: {summary['error']}")
    for key, value in sorted(summary["metrics"].items()):
        print(f"  {key:28s} {'-' if value is None else f'{value:.4g}'}")


def cmd_lesson(args) -> int:
    # Checked before the store is opened: no trace of bad input.
    checked = lessons.configs(args.name, args.seed, args.device, scale=args.scale)
    runner = get_runner(args.store)
    handle = lessons.start(runner, args.name, args.seed, args.device, checked=checked)
    try:
        runs = handle.wait()
    except KeyboardInterrupt:
        for run_id in handle.runs.values():
            runner.stop(run_id)
        raise
    if handle.failed:
        run = runner.store.get_run(runs[handle.failed])
        print(f"error: lesson {args.name}: its {handle.failed} run {run.id} {run.status}"
              + (f": {run.error}" if run.error else ""), file=sys.stderr)
        return 1
    verdict = lessons.judge(runner.store, args.name, runs)
    if args.json:
        print(json.dumps({"lesson": args.name, "scale": args.scale, "seed": args.seed, "runs": runs,
                          "holds": verdict.holds, "outcome": verdict.outcome, "reason": verdict.reason,
                          "figures": finite(verdict.figures), "verdict": verdict.text}))
    else:
        for role, run_id in runs.items():
            print(f"  {role:12s} {run_id}")
        print(f"{args.name}: {verdict.outcome}" + (f" ({verdict.reason})" if verdict.reason else "")
              + f" · {verdict.text}")
    return 0


def cmd_list(args) -> int:
    store = Store(args.store)
    rows = [run_summary(store, run.id) for run in store.list_runs()]
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'id':12s}  {'name':28s}  {'algorithm':12s}  {'dataset':8s}  {'status':11s}  test_acc")
    for row in rows:
        acc = row["metrics"].get("test_acc")
        print(f"{row['run_id']:12s}  {row['name'][:28]:28s}  {row['algorithm']:12s}  {row['dataset']:8s}  "
              f"{row['status']:11s}  {'-' if acc is None else f'{acc:.4f}'}")
    return 0


def cmd_show(args) -> int:
    store = Store(args.store, must_exist=True)
    summary = run_summary(store, args.run_id, with_config=True)
    if args.json:
        print(json.dumps(summary))
    else:
        _print_summary(summary)
        print("config:")
        for key, value in summary["config"].items():
            print(f"  {key:28s} {value!r}")
    return 0


def cmd_export(args) -> int:
    store = Store(args.store, must_exist=True)
    run_id = store.resolve_id(args.run_id)
    print(f"exported {run_id} to {export(store, run_id, args.format, args.out, args.experiment)}")
    return 0


def cmd_delete(args) -> int:
    store = Store(args.store, must_exist=True)
    run_id = store.resolve_id(args.run_id)
    store.delete_run(run_id)
    print(f"deleted {run_id}")
    return 0


def cmd_download(args) -> int:
    for name in args.names:
        print(f"{name}: {image_sets.download(name)}")
    return 0


COMMANDS = {"run": cmd_run, "lesson": cmd_lesson, "list": cmd_list, "show": cmd_show, "export": cmd_export,
            "delete": cmd_delete, "download": cmd_download, "sweep": cmd_sweep, "sweep-resume": cmd_sweep_resume,
            "sweep-stop": cmd_sweep_stop}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ConfigError, UnknownRun) as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    except DatabaseError as error:  # a write to a read-only store, a lock held too long
        print(f"error: store: {store_problem(args.store or resolve_url(), error)}", file=sys.stderr)
        return 2
