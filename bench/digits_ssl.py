"""Digits with 2 labels per class, 3 seeds: the engine's methods against scikit-learn's references.

Run: python -m bench.digits_ssl [--seeds 3] [--steps N] [--methods NAME ...]
Prints test accuracy (mean and spread) and seconds per method, the ratio of each to LabelSpreading, and the
time at which FixMatch first reaches 95 % test accuracy. LabelSpreading and SelfTrainingClassifier see
exactly the same labeled, unlabeled and test points (sslengine.splits.load_split). The self-supervised methods'
test accuracy is their linear probe on the labeled images, beside the same probe on raw pixels; their kNN
accuracy is printed too.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier

from sslengine.config import RunConfig
from sslengine.metrics import pixel_probe_accuracy
from sslengine.runner import Runner
from sslengine.splits import load_split
from sslengine.store import Store

METHODS = ("supervised", "pseudo_label", "entmin", "fixmatch", "pi_model", "mean_teacher", "vat", "uda", "flexmatch",
           "freematch", "softmatch", "adamatch", "dash", "mixmatch", "remixmatch", "comatch", "simmatch",
           "s4l_rotation", "noisy_student", "meta_pseudo_labels", "enaet", "simclr", "byol", "mocov3")


def sklearn_reference(model, config: RunConfig) -> tuple[float, float]:
    """Fit transductively on labeled + unlabeled (-1), score on the test part."""
    split = load_split(config)
    x = np.concatenate([split.x_labeled, split.x_unlabeled]).reshape(-1, 64)
    y = np.concatenate([split.y_labeled, np.full(len(split.y_unlabeled), -1)])
    started = time.perf_counter()
    model.fit(x, y)
    accuracy = float((model.predict(split.x_test.reshape(-1, 64)) == split.y_test).mean())
    return accuracy, time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=RunConfig.steps)
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS, metavar="METHOD",
                        help=f"default: all of {', '.join(METHODS)}")
    args = parser.parse_args()

    runner = Runner(Store(str(Path(tempfile.mkdtemp()) / "bench.db")))
    results: dict[str, list[tuple[float, float]]] = {}
    knn: dict[str, list[float]] = {}
    fixmatch_time_to_95 = []
    for seed in range(args.seeds):
        base = RunConfig(dataset="digits", labels_per_class=2, seed=seed, steps=args.steps)
        results.setdefault("LabelSpreading (sklearn)", []).append(
            sklearn_reference(LabelSpreading(kernel="knn", n_neighbors=15, max_iter=100), base))
        results.setdefault("SelfTraining+LogReg (sklearn)", []).append(
            sklearn_reference(SelfTrainingClassifier(LogisticRegression(max_iter=1000), threshold=0.9), base))
        results.setdefault("linear probe on raw pixels", []).append((pixel_probe_accuracy(base), 0.0))
        for method in args.methods:
            # A fresh config per method: copying `base` would carry FixMatch's lambda_u and ema_decay.
            config = RunConfig(algorithm=method, dataset="digits", labels_per_class=2, seed=seed,
                               steps=args.steps)
            run_id = runner.start(config)
            runner.wait(run_id)
            run = runner.store.get_run(run_id)
            assert run.status == "finished", run.error
            final = runner.store.final_scalars(run_id)
            results.setdefault(method, []).append((final["test_acc"], run.wall_seconds))
            if "knn_acc" in final:
                knn.setdefault(method, []).append(final["knn_acc"])
            if method == "fixmatch":
                curve = runner.store.scalars_by_step(run_id)
                reached = curve[curve.test_acc >= 0.95]
                fixmatch_time_to_95.append(reached.seconds.iloc[0] if len(reached) else float("nan"))
            print(f"seed {seed} {method:14s} acc {results[method][-1][0]:.4f}  {run.wall_seconds:6.1f} s", flush=True)

    reference = np.mean([acc for acc, _ in results["LabelSpreading (sklearn)"]])
    print(f"\ndigits, 2 labels per class, {args.seeds} seeds, {args.steps} steps, "
          f"{torch.get_num_threads()} torch thread(s)")
    print(f"{'method':32s} {'test acc':>9s} {'± std':>7s} {'vs LabelSpreading':>18s} {'seconds':>8s} {'kNN':>7s}")
    for method, rows in results.items():
        acc = np.array([a for a, _ in rows])
        seconds = np.array([s for _, s in rows])
        knn_text = f"{np.mean(knn[method]):7.4f}" if method in knn else ""
        print(f"{method:32s} {acc.mean():9.4f} {acc.std():7.4f} {acc.mean() / reference:17.3f}x "
              f"{seconds.mean():8.2f} {knn_text}")
    if fixmatch_time_to_95:
        times = ", ".join("never" if np.isnan(t) else f"{t:.1f} s" for t in fixmatch_time_to_95)
        print(f"FixMatch first reaches 95 % test accuracy after: {times}")


if __name__ == "__main__":
    main()
