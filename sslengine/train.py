"""The training loop every method shares: sample, step, EMA, log scalars, snapshot probes.

`train` writes everything it measures to the store and returns "finished" or "stopped"; it raises on error
and leaves marking the run failed to the runner.
"""
from __future__ import annotations

import math
import threading
import time

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .algorithms import ALGORITHMS
from .algorithms.base import Algorithm
from .config import RunConfig
from .data import Split, as_float, load_split
from .device import resolve_device
from .models import build_model
from .probes import (boundary_grid, embeddings, evaluate, knn_accuracy, labelling_logits, linear_probe_accuracy,
                     predict_logits, pseudo_label_stats)
from .store import Store

# Weight initialisation draws from torch's global generator, which all run threads share.
_INIT_LOCK = threading.Lock()


def snapshot_schedule(steps: int, max_snapshots: int, log_every: int) -> set[int]:
    """About evenly spaced steps from 0 (before training) to the last, at most `max_snapshots` of them, on log
    steps: each snapshot then has the curves' point of its own step beside it."""
    before_last = np.linspace(0, steps, min(max_snapshots, steps + 1))[:-1] / log_every
    return {min(int(s) * log_every, steps) for s in before_last.round()} | {steps}


# Before the last step, test accuracy is scored on a fixed sample of the test set and kNN accuracy against a
# fixed sample of the train labels: on a CPU, all 10 000 CIFAR test images at every log step would take
# longer than the training between them. The last step scores them all. Digits and the toys are smaller.
EVAL_SAMPLE = 2_000
KNN_BANK_SAMPLE = 10_000


def fixed_sample(n: int, size: int, seed: int, device: torch.device) -> torch.Tensor | slice:
    """Sorted indices of a random `size` of range(n), drawn apart from the run's generator (so runs on small
    sets, which take them all, draw the same numbers as before), or all of range(n) when n <= size."""
    if n <= size:
        return slice(None)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:size].sort().values.to(device)


def cosine_decay(step: int, total: int) -> float:
    """FixMatch's schedule: lr * cos(7 pi k / 16 K), ending at about a fifth of the initial rate."""
    return math.cos(7 * math.pi * step / (16 * total))


def autocast(device: torch.device):
    """bf16 on CUDA (tensor cores, fp32's range so no loss scaling); fp32 elsewhere: these CPUs have no bf16
    units, and autocast on them is slower."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def build(config: RunConfig, data: Split, device: torch.device, rng: torch.Generator, store: Store,
          parent_id: str | None) -> tuple[nn.Module, Algorithm]:
    """The run's model and method; a method that starts from a parent run adopts the parent's model."""
    method_class = ALGORITHMS[config.algorithm]
    with _INIT_LOCK:  # the method's own heads (SimCLR's projection, S4L's rotation head) are drawn here too
        torch.manual_seed(config.seed)
        model = build_model(config.model, tuple(data.x_labeled.shape[1:]), data.num_classes,
                            method_class.width_factor).to(device)
        if data.kind == "image":
            model = model.to(memory_format=torch.channels_last)  # faster convolutions on CPU and GPU alike
        if config.compile:
            model.embed.compile()  # in place: the weights keep their names, methods keep calling model.embed
        method = method_class(model, config, rng, num_unlabeled=len(data.y_unlabeled))
    if method_class.parent_must:
        method.adopt(restore(store, parent_id, device))
    return model, method


def restore(store: Store, run_id: str, device: torch.device) -> nn.Module:
    """A finished run's model with its final weights, rebuilt the way its run built it (parents first)."""
    run = store.get_run(run_id)
    data = load_split(run.config)
    model, _ = build(run.config, data, device, torch.Generator(device=device), store, run.parent)
    model.load_state_dict(store.checkpoint(run_id))
    return model


def train(config: RunConfig, store: Store, run_id: str, stop: threading.Event) -> str:
    device = resolve_device(config.device)
    rng = torch.Generator(device=device).manual_seed(config.seed)
    data = load_split(config).to(device)
    model, method = build(config, data, device, rng, store, store.get_run(run_id).parent)
    ema = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
           if method.uses_ema else None)
    evaluated = ema.module if ema is not None else model
    method.teacher = ema.module if ema is not None else None
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, nesterov=True,
                                weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: cosine_decay(k, config.steps))

    probe_x = method.weak(as_float(data.x_unlabeled[:config.probe_size]))  # one fixed weak view
    probe_target = data.y_unlabeled[:config.probe_size].cpu().numpy()
    snapshots = snapshot_schedule(config.steps, config.max_snapshots, config.log_every)
    known = data.y_unlabeled >= 0  # kNN votes need labels: STL-10's unlabeled split has none
    x_bank, y_bank = data.x_unlabeled[known], data.y_unlabeled[known]
    test_sample = fixed_sample(len(data.y_test), EVAL_SAMPLE, config.seed, device)
    bank_sample = fixed_sample(len(y_bank), KNN_BANK_SAMPLE, config.seed, device)

    # 2-D data: the model's class probabilities over a grid, for decision boundaries, and the points.
    grid = None
    if data.kind == "points":
        points = torch.cat([data.x_labeled, data.x_unlabeled, data.x_test]).cpu().numpy()
        grid = torch.as_tensor(boundary_grid(points), device=device)

    def snapshot(step: int):
        values = {"target": probe_target}
        if method.has_classifier:
            values["logits"] = labelling_logits(method.pseudo_labeler(), probe_x).float().cpu().numpy()
        if method.learns_representation:  # the probe set, then the labeled samples, to mark them on maps
            both = torch.cat([probe_x, as_float(data.x_labeled)])
            values["embedding"] = embeddings(evaluated, both).cpu().numpy().astype(np.float16)
        if grid is not None and method.has_classifier:
            values["grid_probs"] = predict_logits(evaluated, grid).float().softmax(-1).cpu().numpy()
        if step == 0 and (grid is not None or method.learns_representation):
            values |= {"probe_x": probe_x.cpu().numpy(), "labeled_x": as_float(data.x_labeled).cpu().numpy(),
                       "labeled_y": data.y_labeled.cpu().numpy()}
        if step == 0 and grid is not None:
            values["grid"] = grid.cpu().numpy()
        store.log_arrays(run_id, step, values)
        if method.learns_representation:
            store.log_scalars(run_id, step, representation_scalars(step))

    def scored(step: int) -> tuple[torch.Tensor | slice, torch.Tensor | slice]:
        """Which test points and which kNN bank to score on: fixed samples before the last step, all at it."""
        return (slice(None), slice(None)) if step == config.steps else (test_sample, bank_sample)

    def test_scalars(step: int) -> dict[str, float]:
        """Accuracy and loss on the test part (its fixed sample before the last step), of the evaluated model
        and, when that is an EMA, of the student."""
        if not method.has_classifier:
            return {}
        some, _ = scored(step)
        x_test, y_test = data.x_test[some], data.y_test[some]
        values = dict(zip(("test_acc", "test_loss"), evaluate(evaluated, x_test, y_test)))
        if ema is not None:
            values["student_test_acc"] = evaluate(model, x_test, y_test)[0]
        return values

    def representation_scalars(step: int) -> dict[str, float]:
        """At snapshots (a pass over the data, samples of it before the last step): kNN accuracy of the
        embedding against the train labels, and the accuracy of a linear probe fitted on the run's labeled
        samples alone."""
        tests, banked = scored(step)
        labeled = embeddings(evaluated, data.x_labeled)
        train = torch.cat([labeled, embeddings(evaluated, x_bank[banked])])
        test, y_test = embeddings(evaluated, data.x_test[tests]), data.y_test[tests]
        values = {"knn_acc": knn_accuracy(train, torch.cat([data.y_labeled, y_bank[banked]]), test, y_test),
                  "linear_probe_acc": linear_probe_accuracy(labeled, data.y_labeled, test, y_test)}
        if not method.has_classifier:
            values["test_acc"] = values["linear_probe_acc"]  # the probe is the classifier
        return values

    store.log_scalars(run_id, 0, test_scalars(0) | {"seconds": 0.0})
    snapshot(0)
    started = time.perf_counter()
    n_labeled, n_unlabeled = len(data.y_labeled), len(data.y_unlabeled)
    model.train()
    for step in range(1, config.steps + 1):
        if stop.is_set():
            store.save_checkpoint(run_id, evaluated.state_dict())
            return "stopped"
        labeled = torch.randint(n_labeled, (config.batch_size,), device=device, generator=rng)
        unlabeled = torch.randint(n_unlabeled, (config.batch_size * config.mu,), device=device, generator=rng)
        with autocast(device):
            result = method.train_step(as_float(data.x_labeled[labeled]), data.y_labeled[labeled],
                                       as_float(data.x_unlabeled[unlabeled]), progress=(step - 1) / config.steps,
                                       unlabeled_index=unlabeled)
        optimizer.zero_grad(set_to_none=True)
        result.loss.backward()
        optimizer.step()
        schedule.step()
        if ema is not None:
            ema.update_parameters(model)

        if step % config.log_every == 0 or step == config.steps:
            if store.stop_requested(run_id):  # asked from another process or tab; raises once it is deleted
                stop.set()
            values = {"loss": result.loss.item(), **{k: v.item() for k, v in result.terms.items()},
                      **{k: float(v) for k, v in result.monitors.items()},
                      "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - started,
                      **test_scalars(step)}
            if result.unlabeled_logits is not None:
                values |= pseudo_label_stats(result.unlabeled_logits.detach().float().cpu().numpy(),
                                             data.y_unlabeled[unlabeled].cpu().numpy(),
                                             config.threshold, config.temperature)
            store.log_scalars(run_id, step, values)
        if step in snapshots:
            snapshot(step)
    store.save_checkpoint(run_id, evaluated.state_dict())  # for runs that start from this one
    return "finished"
