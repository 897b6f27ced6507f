"""Learning outcomes with fixed seeds and margins (about a minute and a half on one core)."""
import pytest

from sslengine.config import RunConfig
from sslengine.metrics import pixel_probe_accuracy
from sslengine.runner import Runner

pytestmark = pytest.mark.slow


def final_test_acc(runner, **overrides):
    run_id = runner.start(RunConfig(dataset="digits", labels_per_class=2, seed=0, **overrides))
    runner.wait(run_id)
    assert runner.store.get_run(run_id).status == "finished"
    return runner.store.final_scalars(run_id)["test_acc"]


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    from sslengine.store import Store
    return Runner(Store(str(tmp_path_factory.mktemp("learning") / "runs.db")))


@pytest.fixture(scope="module")
def supervised(runner):
    return final_test_acc(runner, algorithm="supervised")  # 0.809 at seed 0


def test_fixmatch_beats_supervised_on_digits_with_two_labels_per_class(runner, supervised):
    fixmatch = final_test_acc(runner, algorithm="fixmatch")
    # Measured at seed 0 (2026-12-02): supervised 0.779, FixMatch 0.907 (0.961 and 0.969 on seeds 1 and 2).
    assert fixmatch >= 0.90
    assert fixmatch >= supervised + 0.10


@pytest.mark.parametrize("algorithm,margin", [("pi_model", 0.05), ("mean_teacher", 0.05), ("flexmatch", 0.10),
                                              ("freematch", 0.10), ("noisy_student", 0.03),
                                              ("meta_pseudo_labels", 0.10), ("enaet", 0.07),
                                              ("fixmatch_simclr", 0.10), ("softmatch", 0.10), ("adamatch", 0.10),
                                              ("mixmatch", 0.10), ("remixmatch", 0.10), ("comatch", 0.10)])
def test_each_method_beats_supervised_on_digits_with_two_labels_per_class(runner, supervised, algorithm, margin):
    accuracy = final_test_acc(runner, algorithm=algorithm)
    # Measured at seed 0 with each method's defaults (2026-12-02): Pi-Model 0.918, Mean Teacher 0.902,
    # FlexMatch 0.959, FreeMatch 0.957, Noisy Student 0.814, Meta Pseudo Labels 0.941, EnAET 0.907,
    # FixMatch with SimCLR (variant U) 0.944, SoftMatch 0.948, AdaMatch 0.948; supervised 0.779. On an AMD EPYC
    # machine the same seed trains another way (float rounding): MixMatch 0.956, ReMixMatch 0.961, CoMatch
    # 0.956, supervised 0.809.
    assert accuracy >= supervised + margin


def test_s4l_rotation_learns_its_pretext_without_hurting_the_classifier(runner, supervised):
    """On 8x8 digits rotation is a weak pretext: S4L lands level with supervised (0.816 against 0.800 over
    3 seeds, bench/README.md), so this checks what the method does learn: the rotation of strong views."""
    run_id = runner.start(RunConfig(algorithm="s4l_rotation", dataset="digits", labels_per_class=2, seed=0))
    runner.wait(run_id)
    final = runner.store.final_scalars(run_id)
    assert final["rotation_acc"] >= 0.6  # chance is 0.25; measured 0.81
    assert final["test_acc"] >= supervised - 0.03  # measured 0.803 against 0.809


def test_simclr_embeddings_cluster_digits_without_labels(runner):
    """Issue 4's bar: kNN (all train labels) >= 0.97 and a linear probe on 20 labels >= 0.85."""
    run_id = runner.start(RunConfig(algorithm="simclr", dataset="digits", labels_per_class=2, seed=0))
    runner.wait(run_id)
    final = runner.store.final_scalars(run_id)
    assert final["knn_acc"] >= 0.97  # measured 0.989
    assert final["linear_probe_acc"] >= 0.85  # measured 0.879


@pytest.mark.parametrize("algorithm", ["byol", "mocov3"])
def test_byol_and_mocov3_embeddings_cluster_digits_and_beat_the_raw_pixel_probe(runner, algorithm):
    """Issue 18's bar: kNN >= 0.95, and a linear probe on the 20 labels above the same probe on raw pixels."""
    config = RunConfig(algorithm=algorithm, dataset="digits", labels_per_class=2, seed=0)
    run_id = runner.start(config)
    runner.wait(run_id)
    final = runner.store.final_scalars(run_id)
    assert final["knn_acc"] >= 0.95  # measured: BYOL 0.978, MoCo v3 0.985
    assert final["linear_probe_acc"] >= pixel_probe_accuracy(config) + 0.05  # 0.889 and 0.863 against 0.737
