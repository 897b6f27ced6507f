"""Throughput benchmark: `python -m bench.throughput [--steps N] [--models wrn-28-2 resnet-18] [--device D]`

Images per second of one training step at CIFAR scale, for WRN-28-2 and the CIFAR ResNet-18:
  FixMatch: 64 labeled (weak) + 448 unlabeled weak + 448 unlabeled strong views, 32x32;
  SimCLR:   batch 512, two views each.
Two ways, in the same process, same model, batch, loss and optimizer:
  fast       the engine's own path: the dataset resident on the device as uint8, views made in batches on
             the device with per-sample parameters (sslengine.augment), channels_last, bf16 autocast on CUDA,
             the engine's FixMatch / SimCLR `train_step`; with --compile also torch.compile.
  reference  the common way: per-image PIL transforms (flip, pad-and-crop, RandAugment, cutout; SimCLR's crop,
             flip, colour jitter, grayscale) in DataLoaders with 2 workers, fp32, NCHW.
Also printed: the model FLOPs of one step (torch.utils.flop_counter, forward and backward) and the share of
the device's measured matmul peak each way reaches. The real CIFAR-10 is used when downloaded, else random
images of its shape (throughput does not depend on the pixels).
"""
from __future__ import annotations

import argparse
import random
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance, ImageOps
from torch.utils.data import DataLoader, Dataset, RandomSampler
from torch.utils.flop_counter import FlopCounterMode

from sslengine import image_sets
from sslengine.algorithms import ALGORITHMS
from sslengine.algorithms.base import masked_cross_entropy, pseudo_labels
from sslengine.algorithms.simclr import nt_xent
from sslengine.config import RunConfig
from sslengine.device import resolve_device
from sslengine.models import build_model
from sslengine.splits import as_float
from sslengine.train import autocast

LABELED, UNLABELED, SIMCLR_BATCH = 64, 448, 512
WORKERS = 2


# The reference: per-image PIL, as torchvision-style pipelines do it.

def pil_weak(image: Image.Image) -> Image.Image:
    if random.random() < 0.5:
        image = ImageOps.mirror(image)
    padded = ImageOps.expand(image, border=4, fill=(127, 127, 127))
    x, y = random.randint(0, 8), random.randint(0, 8)
    return padded.crop((x, y, x + 32, y + 32))


def _pil_affine(image, matrix):
    return image.transform(image.size, Image.AFFINE, matrix, fillcolor=(127, 127, 127))


PIL_OPS = [
    lambda im: im,
    ImageOps.autocontrast,
    ImageOps.equalize,
    lambda im: ImageEnhance.Brightness(im).enhance(random.uniform(0.5, 1.5)),
    lambda im: ImageEnhance.Color(im).enhance(random.uniform(0.0, 2.0)),
    lambda im: ImageEnhance.Contrast(im).enhance(random.uniform(0.5, 1.5)),
    lambda im: ImageEnhance.Sharpness(im).enhance(random.uniform(0.0, 2.0)),
    lambda im: ImageOps.posterize(im, random.randint(2, 4)),
    lambda im: ImageOps.solarize(im, random.randint(128, 255)),
    lambda im: im.rotate(random.uniform(-30, 30), fillcolor=(127, 127, 127)),
    lambda im: _pil_affine(im, (1, random.uniform(-0.3, 0.3), 0, 0, 1, 0)),
    lambda im: _pil_affine(im, (1, 0, 0, random.uniform(-0.3, 0.3), 1, 0)),
    lambda im: _pil_affine(im, (1, 0, random.uniform(-9.6, 9.6), 0, 1, 0)),
    lambda im: _pil_affine(im, (1, 0, 0, 0, 1, random.uniform(-9.6, 9.6))),
]


def pil_strong(image: Image.Image) -> Image.Image:
    image = pil_weak(image)
    for op in random.sample(PIL_OPS, 2):
        image = op(image)
    side = random.randint(1, 16)
    x, y = random.randint(0, 32 - side), random.randint(0, 32 - side)
    image = image.copy()
    image.paste((127, 127, 127), (x, y, x + side, y + side))
    return image


def pil_simclr(image: Image.Image) -> Image.Image:
    area, ratio = random.uniform(0.08, 1.0) * 32 * 32, np.exp(random.uniform(np.log(3 / 4), np.log(4 / 3)))
    w, h = min(32, round((area * ratio) ** 0.5)), min(32, round((area / ratio) ** 0.5))
    x, y = random.randint(0, 32 - w), random.randint(0, 32 - h)
    image = image.resize((32, 32), Image.BILINEAR, box=(x, y, x + w, y + h))
    if random.random() < 0.5:
        image = ImageOps.mirror(image)
    if random.random() < 0.8:
        for enhance in random.sample([ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color], 3):
            image = enhance(image).enhance(random.uniform(0.2, 1.8))
        hsv = np.array(image.convert("HSV"))
        hsv[..., 0] = (hsv[..., 0].astype(int) + random.randint(-51, 51)) % 256
        image = Image.fromarray(hsv, "HSV").convert("RGB")
    if random.random() < 0.2:
        image = image.convert("L").convert("RGB")
    return image


def to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, np.float32) / 255).permute(2, 0, 1)


class PilViews(Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, *views):
        self.images, self.labels, self.views = images.transpose(0, 2, 3, 1), labels, views  # HWC for PIL

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = Image.fromarray(self.images[i])
        return (*(to_tensor(view(image)) for view in self.views), int(self.labels[i]))


def loader(dataset: Dataset, batch: int, device: torch.device):
    stream = DataLoader(dataset, batch, sampler=RandomSampler(dataset, replacement=True, num_samples=10 ** 9),
                        num_workers=WORKERS, persistent_workers=True, pin_memory=device.type == "cuda",
                        drop_last=True)
    return iter(stream)


# One step each way; each returns (seconds per step, model FLOPs per step).

def timed(step, steps: int, device: torch.device) -> float:
    step()  # warm-up: allocations, cuDNN / oneDNN choices, workers starting, compilation
    step()
    synchronize(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return (time.perf_counter() - started) / steps


def synchronize(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def model_for(name: str, method: str, device: torch.device, fast: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(name, (3, 32, 32), 10).to(device)
    if method == "simclr":
        ALGORITHMS["simclr"].equip(model, RunConfig(algorithm="simclr", dataset="cifar10"))  # the projection head
    return model.to(memory_format=torch.channels_last) if fast else model


def fast_step(name: str, method: str, images: torch.Tensor, labels: torch.Tensor, device, compile_: bool,
              bf16: bool | None = None, labeled: int = LABELED, unlabeled: int = UNLABELED):
    """The engine's step (in bf16 or not where `bf16` says, else as the loop chooses), on `labeled` + 2
    `unlabeled` views for FixMatch."""
    config = RunConfig(algorithm=method, dataset="cifar10", batch_size=labeled if method == "fixmatch" else
                       SIMCLR_BATCH, mu=unlabeled // labeled if method == "fixmatch" else 1)
    model = model_for(name, method, device, fast=True)
    if compile_:
        model.embed.compile()
    g = torch.Generator(device).manual_seed(0)
    algorithm = ALGORITHMS[method](model, config, g, num_classes=10, num_unlabeled=len(images))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.03, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def step():
        drawn = torch.randint(len(images), (config.batch_size,), device=device, generator=g)
        undrawn = torch.randint(len(images), (config.batch_size * config.mu,), device=device, generator=g)
        with autocast(device, bf16):
            result = algorithm.train_step(as_float(images[drawn]), labels[drawn], as_float(images[undrawn]),
                                          progress=0.5, unlabeled_index=undrawn)
        optimizer.zero_grad(set_to_none=True)
        result.loss.backward()
        optimizer.step()
    return step


def reference_step(name: str, method: str, images: np.ndarray, labels: np.ndarray, device):
    model = model_for(name, method, device, fast=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.03, momentum=0.9, nesterov=True, weight_decay=5e-4)
    if method == "fixmatch":
        labeled = loader(PilViews(images, labels, pil_weak), LABELED, device)
        unlabeled = loader(PilViews(images, labels, pil_weak, pil_strong), UNLABELED, device)
    else:
        unlabeled = loader(PilViews(images, labels, pil_simclr, pil_simclr), SIMCLR_BATCH, device)

    def step():
        if method == "fixmatch":
            x, y = (t.to(device, non_blocking=True) for t in next(labeled))
            weak, strong, _ = (t.to(device, non_blocking=True) for t in next(unlabeled))
            logits_x, logits_weak, logits_strong = model(torch.cat([x, weak, strong])).split(
                [LABELED, UNLABELED, UNLABELED])
            loss = F.cross_entropy(logits_x, y) + masked_cross_entropy(logits_strong,
                                                                       *pseudo_labels(logits_weak, 0.95, 1.0))
        else:
            a, b, _ = (t.to(device, non_blocking=True) for t in next(unlabeled))
            z_a, z_b = model.projection(model.embed(torch.cat([a, b]))).chunk(2)
            loss = nt_xent(z_a, z_b, 0.2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def step_flops(name: str, method: str, device: torch.device, batch: int | None = None) -> int:
    """Forward and backward FLOPs of the model on one step's images (convolutions and matmuls)."""
    model = model_for(name, method, device, fast=False)
    batch = batch or (LABELED + 2 * UNLABELED if method == "fixmatch" else 2 * SIMCLR_BATCH)
    x = torch.rand(batch, 3, 32, 32, device=device)
    with FlopCounterMode(display=False) as counter:
        out = model(x) if method == "fixmatch" else model.projection(model.embed(x))
        out.float().square().mean().backward()
    return counter.get_total_flops()


def matmul_peak(device: torch.device, dtype: torch.dtype | None = None, n: int | None = None) -> tuple[float, str]:
    """FLOP/s of a large square matmul in `dtype` (else the one the fast path computes in): the best of 5."""
    dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
    n, repeats = (n or 8192, 20) if device.type == "cuda" else (n or 2048, 2)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(5):
        synchronize(device)
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - started)
    return 2 * n ** 3 * repeats / best, str(dtype).removeprefix("torch.")


def cifar_images() -> tuple[np.ndarray, np.ndarray, str]:
    try:
        images = image_sets.load("cifar10")
        return images.x_train, images.y_train, "CIFAR-10"
    except image_sets.DataError:
        rng = np.random.default_rng(0)
        return (rng.integers(0, 256, (10_000, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 10_000),
                "random images of CIFAR-10's shape (CIFAR-10 is not downloaded)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="timed steps per measurement (CPU 2, GPU 20)")
    parser.add_argument("--models", nargs="+", default=["wrn-28-2", "resnet-18"])
    parser.add_argument("--methods", nargs="+", default=["fixmatch", "simclr"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="also time the fast path with torch.compile")
    args = parser.parse_args()
    device = resolve_device(args.device)
    steps = args.steps or (20 if device.type == "cuda" else 2)
    images, labels, source = cifar_images()
    resident = torch.as_tensor(images, device=device), torch.as_tensor(labels, device=device)
    peak, dtype = matmul_peak(device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device {name}; torch {torch.__version__}; data: {source}; {steps} timed steps after 2 warm-up")
    print(f"matmul peak measured: {peak / 1e12:.2f} TFLOP/s ({dtype})")
    print(f"{'model':10s} {'step':9s} {'images':>6s} {'GFLOP':>7s} {'reference img/s':>16s} {'fast img/s':>11s} "
          f"{'ratio':>6s} {'ref % peak':>10s} {'fast % peak':>11s}")
    for model in args.models:
        for method in args.methods:
            batch = LABELED + 2 * UNLABELED if method == "fixmatch" else 2 * SIMCLR_BATCH
            flops = step_flops(model, method, device)
            paths = {"reference": reference_step(model, method, images, labels, device),
                     "fast": fast_step(model, method, *resident, device, compile_=False)}
            if args.compile:
                paths["fast+compile"] = fast_step(model, method, *resident, device, compile_=True)
            seconds = {path: timed(step, steps, device) for path, step in paths.items()}
            for path in [p for p in seconds if p != "reference"]:
                share = lambda s: 100 * flops / s / peak
                print(f"{model:10s} {method + ('' if path == 'fast' else ' (compiled)'):9s} {batch:6d} "
                      f"{flops / 1e9:7.0f} {batch / seconds['reference']:16.1f} {batch / seconds[path]:11.1f} "
                      f"{seconds['reference'] / seconds[path]:5.2f}x {share(seconds['reference']):9.1f}% "
                      f"{share(seconds[path]):10.1f}%")


if __name__ == "__main__":
    main()
