"""bench/gpu.py, the script a lent GPU runs in one call, smoke-tested on the CPU so that it works that day."""
import json
import subprocess
import sys

import pytest

from bench.browser import ROOT
from sslengine import lessons


@pytest.mark.slow
def test_the_gpu_bench_runs_every_part_on_the_cpu_in_smoke_mode(tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, "bench/gpu.py", "--device", "cpu", "--smoke", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert results["smoke"] and {row["precision"] for row in results["throughput"]} == {"fp32", "bf16"}
    # A share, not a bound on it: the smoke run's peak is one small matmul timed beside the rest of the suite,
    # which a loaded CI machine measured below the step's own rate (a share over 1).
    assert all(row["images_per_s"] > 0 and 0 < row["share_of_peak"] < float("inf") for row in results["throughput"])
    assert set(results["vat_cosine_to_float64"]) == {"fp32", "bf16"}
    assert results["device_choice"] == {"auto": "cpu", "run_device": "cpu", "run_status": "finished"}
    assert [row["lesson"] for row in results["lessons"]] == list(lessons.LESSONS)
    assert all(row["figures"] is not None for row in results["lessons"])  # every stage of every lesson finished
