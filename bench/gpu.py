"""The GPU path in one call: `python bench/gpu.py [--device cuda] [--smoke] [--out bench/results/gpu.json]`.

Measured on the device (CUDA where present), each figure beside the same one on this machine's CPU:
  throughput  FixMatch steps and images per second, WRN-28-2 at 32x32, batch 64, mu 7 (64 labeled, 448 weak and
              448 strong views), in bf16 autocast and in fp32, and the share of the device's bf16 matmul peak;
  lessons     each lesson's preset on the device (seed 0): seconds and its verdict's figures, beside the bench
              file's CPU figures for the same seed;
  vat         the cosine of VAT's adversarial direction, under bf16 autocast and in fp32, to the same direction
              computed in float64 (1 is exact);
  device      what device "auto" picks, and the device a run started through the runner records.
Synthetic images of CIFAR-10's shape: throughput does not depend on the pixels, and the device may reach no
network. --smoke runs every part on small batches and a few steps (CI runs it on the CPU), so the script is known
to work the day a GPU is lent. Within 10 minutes on one GPU.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from the work tree, as on the lent machine

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.throughput import fast_step, matmul_peak, step_flops, synchronize, timed  # noqa: E402
from sslengine import lessons  # noqa: E402
from sslengine.algorithms.vat import adversarial_perturbation  # noqa: E402
from sslengine.config import RunConfig  # noqa: E402
from sslengine.device import resolve_device  # noqa: E402
from sslengine.models import build_model  # noqa: E402
from sslengine.runner import Runner  # noqa: E402
from sslengine.splits import as_float, load_split  # noqa: E402
from sslengine.store import Store  # noqa: E402
from sslengine.train import autocast, cpu_has_bf16  # noqa: E402

FULL = dict(labeled=64, unlabeled=448, steps=20, lesson_steps=None)
SMOKE = dict(labeled=4, unlabeled=8, steps=1, lesson_steps=10)


def throughput(device: torch.device, sizes: dict) -> list[dict]:
    """FixMatch's step on WRN-28-2 in fp32 and bf16 on the device and on the CPU (bf16 there only where the
    CPU has bf16 units, or in a smoke run)."""
    rng = np.random.default_rng(0)
    images = torch.as_tensor(rng.integers(0, 256, (2_000, 3, 32, 32), dtype=np.uint8))
    labels = torch.as_tensor(rng.integers(0, 10, 2_000))
    batch = sizes["labeled"] + 2 * sizes["unlabeled"]
    rows = []
    for where in dict.fromkeys([device, torch.device("cpu")]):
        flops = step_flops("wrn-28-2", "fixmatch", where, batch)
        peak, _ = matmul_peak(where, torch.bfloat16 if where.type == "cuda" else torch.float32,
                              n=None if sizes["steps"] > 1 else 256)
        for bf16 in (False, True):
            if where.type == "cpu" and bf16 and not (cpu_has_bf16() or sizes["steps"] == 1):
                continue
            step = fast_step("wrn-28-2", "fixmatch", images.to(where), labels.to(where), where, compile_=False,
                             bf16=bf16, labeled=sizes["labeled"], unlabeled=sizes["unlabeled"])
            seconds = timed(step, sizes["steps"] if where == device else max(1, sizes["steps"] // 10), where)
            rows.append({"device": where.type, "precision": "bf16" if bf16 else "fp32", "images": batch,
                         "steps_per_s": 1 / seconds, "images_per_s": batch / seconds,
                         "share_of_peak": flops / seconds / peak,
                         "peak": f"{peak / 1e12:.2f} TFLOP/s {'bf16' if where.type == 'cuda' else 'fp32'} matmul"})
    return rows


def lesson_runs(device: torch.device, steps: int | None) -> list[dict]:
    """Each lesson's preset on the device, seed 0, with the bench file's CPU figures for seed 0 beside it."""
    measured = lessons.load_spread()
    runner = Runner(Store(str(Path(tempfile.mkdtemp()) / "gpu.db")))
    rows = []
    for name in lessons.LESSONS:
        started = time.perf_counter()
        roles = lessons.start(runner, name, seed=0, device=device.type, steps=steps).wait()
        verdict = lessons.judge(runner.store, name, roles) if all(
            runner.store.get_run(run_id).status == "finished" for run_id in roles.values()) else None
        cpu = measured.get(name, {}).get("small", {})
        at_0 = cpu.get("seeds", []).index(0) if 0 in cpu.get("seeds", []) else None
        rows.append({"lesson": name, "seconds": time.perf_counter() - started,
                     "outcome": verdict.outcome if verdict else None,
                     "figures": verdict.figures if verdict else None,
                     "cpu_seconds": cpu["seconds"][at_0] if at_0 is not None else None,
                     "cpu_figures": cpu["figures"][at_0] if at_0 is not None else None,
                     "cpu_machine": cpu.get("machine")})
    return rows


def vat_direction(device: torch.device) -> dict[str, float]:
    """Mean cosine, over a digits batch, of VAT's power-iteration direction to the float64 one from the same
    start, in fp32 and under bf16 autocast on the device."""
    data = load_split(RunConfig(dataset="digits", labels_per_class=2))
    u = as_float(torch.as_tensor(data.x_unlabeled[:128]))
    torch.manual_seed(0)
    reference_model = build_model("small-cnn", tuple(u.shape[1:]), 10).double().eval()

    def direction(dtype: torch.dtype, where: torch.device, bf16: bool) -> torch.Tensor:
        model = build_model("small-cnn", tuple(u.shape[1:]), 10).to(where, dtype).eval()
        model.load_state_dict(reference_model.state_dict())
        x = u.to(where, dtype)
        with torch.no_grad():
            p = model(x).float().softmax(-1).to(dtype)
        with autocast(where, bf16):
            d = adversarial_perturbation(model, x, p, 1.0, torch.Generator(where).manual_seed(0))
        return d.double().cpu().flatten(1)

    # The float64 reference draws its random start on the same device, so the three begin from one d.
    exact = direction(torch.float64, device, False)
    return {name: torch.nn.functional.cosine_similarity(direction(torch.float32, device, bf16), exact).mean().item()
            for name, bf16 in (("fp32", False), ("bf16", True))}


def device_choice() -> dict[str, str]:
    """What "auto" resolves to here, and the device a short run started through the runner records."""
    runner = Runner(Store(str(Path(tempfile.mkdtemp()) / "device.db")))
    run_id = runner.start(RunConfig(dataset="digits", steps=5, log_every=5, max_snapshots=2))
    runner.wait(run_id)
    run = runner.store.get_run(run_id)
    return {"auto": str(resolve_device("auto")), "run_device": run.device, "run_status": run.status}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--smoke", action="store_true", help="small batches, a few steps: checks the path runs")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gpu.json")
    args = parser.parse_args(argv)
    device, sizes = resolve_device(args.device), SMOKE if args.smoke else FULL
    started = time.perf_counter()
    results = {"device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "CPU",
               "torch": torch.__version__, "smoke": args.smoke, "date": time.strftime("%Y-%m-%d"),
               "throughput": throughput(device, sizes), "vat_cosine_to_float64": vat_direction(device),
               "device_choice": device_choice(), "lessons": lesson_runs(device, sizes["lesson_steps"])}
    synchronize(device)
    results["seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"{results['device']} · torch {results['torch']} · {results['seconds']:.0f} s · written to {args.out}")
    print("| device | precision | images a step | steps/s | images/s | share of peak |")
    print("|---|---|---|---|---|---|")
    for row in results["throughput"]:
        print(f"| {row['device']} | {row['precision']} | {row['images']} | {row['steps_per_s']:.2f} | "
              f"{row['images_per_s']:.0f} | {row['share_of_peak']:.1%} of {row['peak']} |")
    print(f"VAT direction, cosine to float64: {results['vat_cosine_to_float64']}")
    print(f"device: {results['device_choice']}")
    for row in results["lessons"]:
        print(f"lesson {row['lesson']}: {row['seconds']:.1f} s (CPU {row['cpu_seconds']}), {row['outcome']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
