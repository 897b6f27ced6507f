"""The training loop every method shares: sample, step, EMA, log what `Measurements` measures.

`train` writes everything it measures to the store and returns "finished" or "stopped"; it raises on error
(`Diverged` once a logged loss is NaN or infinite) and leaves marking the run failed to the runner.
"""
from __future__ import annotations

import contextlib
import math
import threading
import time

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .algorithms import ALGORITHMS
from .algorithms.base import Algorithm, cosine_decay
from .config import RunConfig
from .device import resolve_device
from .errors import Diverged
from .evaluation import Measurements
from .models import build_model
from .splits import Split, as_float, load_split
from .store import Store

# Weight initialisation draws from torch's global generator, which all run threads share.
_INIT_LOCK = threading.Lock()
CLOCKS = ("seconds", "wall_seconds")  # the scalars that time a run, not what it learnt


class TrainingClock:
    """`seconds`, the run's training time: its clock stops while the run measures itself (test passes, probes,
    snapshots, store writes), so a run that measures more does not look slower; `wall_seconds` keeps counting."""

    def __init__(self):
        self.started, self.measuring = time.perf_counter(), 0.0

    @contextlib.contextmanager
    def stopped(self):
        """The training and wall seconds at the stop; the block's time counts as measuring."""
        stop = time.perf_counter()
        yield {"seconds": stop - self.started - self.measuring, "wall_seconds": stop - self.started}
        self.measuring += time.perf_counter() - stop


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast (fp32's range, so no loss scaling) where `bf16` says; VAT's power iteration stays fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def trains_in_bf16(device: torch.device, data: Split) -> bool:
    """bf16 on CUDA (tensor cores), and on a CPU with bf16 units (`cpu_has_bf16`) for the image sets of 28 px
    and more; fp32 elsewhere. On this project's AVX2 CPUs bf16 is emulated: a FixMatch step of the 28x28 CNN
    took 3.8 s against 0.44 s in fp32. On an AVX512-BF16 EPYC (2 cores) the same step took 20 ms against 35 ms,
    and 1 600-step FixMatch runs on Fashion-MNIST at 4 labels a class trained 1.4x faster with the same mean
    accuracy on seeds 0-2, 0.669 (`bench/fashion_speed.py`; at 1 200 steps 0.662 against 0.645, supervised
    0.576 against 0.574). Digits and the 2-D toys stay fp32: their shipped lesson spreads were measured so."""
    if device.type == "cuda":
        return True
    return device.type == "cpu" and data.kind == "image" and data.x_labeled.shape[-1] >= 28 and cpu_has_bf16()


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), as oneDNN reports it."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return False


def build(config: RunConfig, data: Split, device: torch.device, rng: torch.Generator, store: Store,
          parent_id: str | None) -> tuple[nn.Module, Algorithm, AveragedModel | None]:
    """The run's model with its method's heads, the EMA of its weights where the method keeps one, and the
    method; a method that starts from a parent run adopts the parent's model."""
    method_class = ALGORITHMS[config.algorithm]
    with _INIT_LOCK:  # the method's own heads (SimCLR's projection, S4L's rotation head) are drawn here too
        torch.manual_seed(config.seed)
        model = build_model(config.model, tuple(data.x_labeled.shape[1:]), data.num_classes,
                            method_class.width_factor).to(device)
        if data.kind == "image":
            model = model.to(memory_format=torch.channels_last)  # faster convolutions on CPU and GPU alike
        if config.compile:
            model.embed.compile()  # in place: the weights keep their names, methods keep calling model.embed
        model = method_class.equip(model, config)
        # The average of the model as drawn: no method both keeps one and adopts a parent's weights.
        ema = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
               if method_class.uses_ema else None)
        method = method_class(model, config, rng, data.num_classes, len(data.y_unlabeled),
                              data.labeled_marginal(),
                              average=ema.module if ema is not None else None)
    if method_class.parent_must:
        method.adopt(restore(store, parent_id, device))
    return model, method, ema


def restore(store: Store, run_id: str, device: torch.device) -> nn.Module:
    """A finished run's model with its final weights, rebuilt the way its run built it (parents first)."""
    run = store.get_run(run_id)
    data = load_split(run.config)
    model, _, _ = build(run.config, data, device, torch.Generator(device=device), store, run.parent)
    model.load_state_dict(store.checkpoint(run_id))
    return model


def train(config: RunConfig, store: Store, run_id: str, stop: threading.Event) -> str:
    device = resolve_device(config.device)
    rng = torch.Generator(device=device).manual_seed(config.seed)
    data = load_split(config).to(device)
    model, method, ema = build(config, data, device, rng, store, store.get_run(run_id).parent)
    evaluated = ema.module if ema is not None else model
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, nesterov=True,
                                weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: cosine_decay(k, config.steps))

    measure = Measurements(config, data, method, evaluated, student=model if ema is not None else None)
    bf16 = trains_in_bf16(device, data)

    def test(step: int) -> dict[str, float]:
        """The live test passes (a sample of the test set) in the steps' precision: the 28x28 CNN's took 82 ms in
        bf16 against 310 ms in fp32 on the AVX512-BF16 EPYC; the last step's, on the whole test set, in fp32."""
        with autocast(device, bf16 and step < config.steps):
            return measure.test(step)

    def snapshot(step: int):
        values, representation = measure.snapshot(step)
        store.log_arrays(run_id, step, values)
        if representation:
            store.log_scalars(run_id, step, representation)

    store.log_scalars(run_id, 0, test(0) | {"seconds": 0.0, "wall_seconds": 0.0})
    snapshot(0)
    clock = TrainingClock()
    n_labeled, n_unlabeled = len(data.y_labeled), len(data.y_unlabeled)
    model.train()
    for step in range(1, config.steps + 1):
        if stop.is_set():
            store.save_checkpoint(run_id, evaluated.state_dict())
            return "stopped"
        labeled = torch.randint(n_labeled, (config.batch_size,), device=device, generator=rng)
        unlabeled = torch.randint(n_unlabeled, (config.batch_size * config.mu,), device=device, generator=rng)
        with autocast(device, bf16):
            result = method.train_step(as_float(data.x_labeled[labeled]), data.y_labeled[labeled],
                                       as_float(data.x_unlabeled[unlabeled]), progress=(step - 1) / config.steps,
                                       unlabeled_index=unlabeled)
        optimizer.zero_grad(set_to_none=True)
        result.loss.backward()
        optimizer.step()
        schedule.step()
        if ema is not None:
            ema.multi_avg_fn = get_ema_multi_avg_fn(method.ema_decay(step, config.steps))
            ema.update_parameters(model)

        if step % config.log_every == 0 or step == config.steps:
            loss = result.loss.item()  # waits for the step's work on a GPU, which is training
            with clock.stopped() as seconds:
                if store.stop_requested(run_id):  # asked from another process or tab; raises once it is deleted
                    stop.set()
                values = {"loss": loss, **{k: v.item() for k, v in result.terms.items()},
                          **{k: float(v) for k, v in result.monitors.items()},
                          "lr": optimizer.param_groups[0]["lr"], **seconds,
                          **test(step), **measure.pseudo_labels(result, unlabeled)}
                store.log_scalars(run_id, step, values)
            if not math.isfinite(loss):
                raise Diverged(loss, step)
        if step in measure.snapshot_steps:
            with clock.stopped():
                snapshot(step)
    store.save_checkpoint(run_id, evaluated.state_dict())  # for runs that start from this one
    return "finished"
