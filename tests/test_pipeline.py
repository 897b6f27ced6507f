"""The SimCLRv2 pipeline as linked runs: pretrain -> fine-tune -> distill, each starting from its parent."""
import pytest
import torch

from sslengine.config import ConfigError, RunConfig
from sslengine.runner import Runner
from sslengine.train import restore

SHORT = dict(dataset="moons", n_samples=400, steps=30, log_every=10, max_snapshots=3, probe_size=200)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from sslengine.store import Store
    runner = Runner(Store(str(tmp_path_factory.mktemp("pipeline") / "runs.db")))

    def run(algorithm, parent=None, **config):
        run_id = runner.start(RunConfig(algorithm=algorithm, **SHORT | config), parent=parent)
        runner.wait(run_id)
        assert runner.store.get_run(run_id).status == "finished", runner.store.get_run(run_id).error
        return run_id

    pretrain = run("simclr", batch_size=64)
    full = run("finetune", parent=pretrain)
    linear = run("finetune", parent=pretrain, finetune_mode="linear")
    student = run("distill", parent=full)
    return runner, dict(pretrain=pretrain, full=full, linear=linear, student=student)


def test_each_stage_records_its_parent(pipeline):
    runner, ids = pipeline
    parents = {stage: runner.store.get_run(run_id).parent for stage, run_id in ids.items()}
    assert parents == dict(pretrain=None, full=ids["pretrain"], linear=ids["pretrain"], student=ids["full"])


def test_restore_rebuilds_every_stage_with_its_final_weights(pipeline):
    runner, ids = pipeline
    for run_id in ids.values():
        model = restore(runner.store, run_id, torch.device("cpu"))
        saved = runner.store.checkpoint(run_id)
        assert model.state_dict().keys() == saved.keys()
        assert all(torch.equal(model.state_dict()[key], saved[key]) for key in saved)


def test_fine_tuning_starts_from_the_first_projection_layer_and_linear_mode_leaves_it_frozen(pipeline):
    runner, ids = pipeline
    cpu = torch.device("cpu")
    pretrained = restore(runner.store, ids["pretrain"], cpu)
    full, linear = restore(runner.store, ids["full"], cpu), restore(runner.store, ids["linear"], cpu)
    first_layer = pretrained.projection[0].weight
    assert torch.equal(linear.embed.module[1].weight, first_layer)  # frozen: untouched by 30 steps
    assert not torch.equal(full.embed[1].weight, first_layer)  # trained
    assert torch.equal(linear.embed.module[0][0].weight, pretrained.embed[0].weight)


def test_the_distilled_student_is_half_as_wide_and_learns_from_the_teacher(pipeline):
    runner, ids = pipeline
    student = restore(runner.store, ids["student"], torch.device("cpu"))
    teacher = restore(runner.store, ids["full"], torch.device("cpu"))
    assert student.embed[0].out_features * 2 == teacher.embed[0][0].out_features
    assert runner.store.final_scalars(ids["student"])["test_acc"] > 0.6  # moons: a teacher worth copying


@pytest.mark.parametrize("algorithm,parent,message", [
    ("finetune", None, "parent: finetune starts from a run that can learn a representation: give its id"),
    ("finetune", "full", "cannot learn a representation"),
    ("distill", "nosuchrun", "parent: no run 'nosuchrun'"),
    ("fixmatch", "pretrain", "parent: fixmatch trains from scratch and takes no parent run"),
])
def test_a_bad_parent_is_named_and_nothing_is_written(pipeline, algorithm, parent, message):
    runner, ids = pipeline
    before = runner.store.list_runs()
    with pytest.raises(ConfigError, match=message):
        runner.start(RunConfig(algorithm=algorithm, **SHORT), parent=ids.get(parent, parent))
    assert runner.store.list_runs() == before


def test_a_parent_of_another_dataset_is_refused(pipeline):
    runner, ids = pipeline
    with pytest.raises(ConfigError, match="dataset: must be the parent run's, 'moons'"):
        runner.start(RunConfig(algorithm="finetune", dataset="circles"), parent=ids["pretrain"])


@pytest.mark.parametrize("pretrainer", ["byol", "mocov3"])
def test_byol_and_mocov3_runs_are_fine_tuned_from_their_target_networks_projection(pipeline, pretrainer):
    """Their checkpoint is the target (the loop's EMA), the network their kNN and probe measured."""
    runner, _ = pipeline
    pretrain = runner.start(RunConfig(algorithm=pretrainer, batch_size=64, **SHORT))
    runner.wait(pretrain)
    tuned = runner.start(RunConfig(algorithm="finetune", finetune_mode="linear", **SHORT), parent=pretrain)
    runner.wait(tuned)
    assert runner.store.get_run(tuned).status == "finished", runner.store.get_run(tuned).error
    cpu = torch.device("cpu")
    target, linear = restore(runner.store, pretrain, cpu), restore(runner.store, tuned, cpu)
    assert torch.equal(linear.embed.module[1].weight, target.projection[0].weight)
    assert "predictor.0.weight" in runner.store.checkpoint(pretrain)  # the whole online-and-target model
