"""Fingerprints of seed-0 digits runs, to show that a refactor changes no number.

Run: python -m bench.fingerprint --out before.json [--methods NAME ...]; change the code; then
     python -m bench.fingerprint --compare before.json
Each method trains with its defaults (digits, 2 labels per class, seed 0, one torch thread); its fingerprint is
a hash of every logged scalar but the timings and of every snapshot array, with its final test accuracy. The
SimCLR pipeline (SimCLR, fine-tune, distill, 300 steps each) counts as one entry. The reference run in the same
process is FixMatch's, and the printout gives each method's seconds against it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import tempfile

import torch

from sslengine.config import RunConfig
from sslengine.runner import Runner
from sslengine.store import Store
from sslengine.train import CLOCKS

METHODS = ("fixmatch", "flexmatch", "freematch", "softmatch", "adamatch", "fixmatch_simclr:U", "fixmatch_simclr:L",
           "supervised", "pseudo_label", "entmin", "pi_model", "mean_teacher", "s4l_rotation", "noisy_student",
           "meta_pseudo_labels", "enaet", "remixmatch", "comatch", "simmatch", "pipeline")


def fingerprint(store: Store, run_id: str) -> dict:
    run = store.get_run(run_id)
    assert run.status == "finished", run.error
    frame = store.scalars(run_id)
    digest = hashlib.sha256(frame[~frame.key.isin(CLOCKS)].to_csv(index=False).encode())
    for step in store.snapshot_steps(run_id):
        for key, value in sorted(store.arrays(run_id, step).items()):
            digest.update(key.encode())
            digest.update(value.tobytes())
    return {"test_acc": store.final_scalars(run_id).get("test_acc"), "hash": digest.hexdigest()[:16],
            "seconds": run.wall_seconds}


def train(runner: Runner, method: str) -> dict[str, dict]:
    """The fingerprints of one entry's runs (the pipeline: three runs, each from the one before)."""
    split = dict(dataset="digits", labels_per_class=2, seed=0)
    if method == "pipeline":
        prints, parent = {}, None
        for stage in ("simclr", "finetune", "distill"):
            parent = runner.start(RunConfig(algorithm=stage, steps=300, **split), parent=parent)
            runner.wait(parent)
            prints[stage] = fingerprint(runner.store, parent)
        return prints
    name, _, variant = method.partition(":")
    run_id = runner.start(RunConfig(algorithm=name, **split, **({"variant": variant} if variant else {})))
    runner.wait(run_id)
    return {method: fingerprint(runner.store, run_id)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS, metavar="METHOD",
                        help=f"default: all of {', '.join(METHODS)}")
    parser.add_argument("--out", help="write the fingerprints here (JSON)")
    parser.add_argument("--compare", help="fingerprints written before: say which differ")
    args = parser.parse_args()
    torch.set_num_threads(1)  # float sums in one order, whatever the machine
    runner = Runner(Store(f"{tempfile.mkdtemp()}/fingerprint.db"))
    prints: dict[str, dict] = {}
    for method in args.methods:
        prints |= train(runner, method)
    reference = prints.get("fixmatch", {}).get("seconds")
    before = json.load(open(args.compare)) if args.compare else {}
    for name, mine in prints.items():
        old = before.get(name)
        verdict = "" if old is None else ("  same" if old["hash"] == mine["hash"] else
                                          f"  DIFFERENT (was {old['hash']}, test acc {old['test_acc']:.4f})")
        ratio = f"{mine['seconds'] / reference:5.2f}x FixMatch" if reference else ""
        print(f"{name:20s} {mine['hash']}  test acc {mine['test_acc']:.4f}  {mine['seconds']:6.1f} s {ratio}{verdict}")
    if args.out:
        with open(args.out, "w") as out:
            json.dump(prints, out, indent=1)
    if before and any(before.get(name, {}).get("hash") not in (None, mine["hash"]) for name, mine in prints.items()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
