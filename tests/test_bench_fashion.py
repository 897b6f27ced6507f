"""The Fashion-MNIST benches: which rows the table runs and how it averages them; the speed bench's fp32 run."""
import pytest
import torch

from bench import fashion_speed
from bench.fashion import ALL_LABELS, SEMI, rows, table
from sslengine import train
from sslengine.algorithms import ALGORITHMS


def test_every_method_that_classifies_from_scratch_gets_a_row_beside_both_supervised_baselines():
    names = [fields["algorithm"] for _, fields in rows(list(SEMI))]
    assert names[:2] == ["supervised", "supervised"] and rows(list(SEMI))[1][1]["labels_per_class"] == ALL_LABELS
    assert set(names[2:]) == {name for name, method in ALGORITHMS.items()
                              if method.has_classifier and not method.parent_must} - {"supervised"}
    assert {"fixmatch", "remixmatch", "fixmatch_simclr"} <= set(names) and "simclr" not in names


def test_the_table_gives_each_row_its_mean_and_seeds_in_order():
    results = [{"row": "fixmatch", "seed": 1, "accuracy": 0.5, "seconds": 10.0},
               {"row": "fixmatch", "seed": 0, "accuracy": 0.7, "seconds": 20.0},
               {"row": "vat", "seed": 0, "accuracy": 0.25, "seconds": 3.0}]
    lines = table(results, ["supervised, same labels", "fixmatch", "vat"]).splitlines()
    assert lines[2:] == ["| fixmatch | 0.600 | 0.700 0.500 | 15 |", "| vat | 0.250 | 0.250 | 3 |"]


def test_the_speed_bench_trains_its_reference_with_the_autocast_off_and_gives_the_engines_back(monkeypatch):
    """The fp32 run is the code before `trains_in_bf16`: autocast asked for bf16 stays off in it, and after it
    (even one that fails) the engine's autocast is back, so the next run trains as the engine chooses."""
    def enabled(task):
        with train.autocast(torch.device("cpu"), True):
            return {"enabled": torch.is_autocast_enabled("cpu"), "task": task}

    monkeypatch.setattr(fashion_speed, "run_one", enabled)
    engine = train.autocast
    assert fashion_speed.fixmatch(3, 40, fp32=True) == {"enabled": False, "task": (
        "fixmatch", {"algorithm": "fixmatch", "seed": 3, "steps": 40, "device": "cpu"})}
    assert train.autocast is engine and fashion_speed.fixmatch(3, 40)["enabled"] is True

    monkeypatch.setattr(fashion_speed, "run_one", lambda task: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        fashion_speed.fixmatch(3, 40, fp32=True)
    assert train.autocast is engine
