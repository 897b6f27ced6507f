"""The Fashion-MNIST bench's table: which rows it runs and how it averages them."""
from bench.fashion import ALL_LABELS, SEMI, rows, table
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
