"""Run configuration: one flat dataclass shared by the command line, the pages and the store.

Defaults are chosen so that a digits run with 2 labels per class ends well inside a minute on 2 CPU cores.
`validate()` raises `ConfigError` naming the field and what is allowed, before anything touches the store.
"""
from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass

from .algorithms import ALGORITHMS
from .errors import ConfigError
from .image_sets import IMAGE_SETS
from .models import MODELS

# Sizes past which a run would not fit this kind of machine (or be a typo): refused before it is recorded.
UPPER_BOUNDS = {"steps": 2**21, "augmentations": 16, "batch_size": 4096, "mu": 64, "probe_size": 20_000, "n_samples": 200_000,
                "max_snapshots": 200, "log_every": 100_000, "labels_per_class": 100_000}
# Float settings past which a run overflows (lambda_u 1e300 trained to a NaN loss) or divides by almost zero
# (a temperature of 1e-300), far beyond any paper's: MixMatch's lambda_u is 75-100, its T 0.5, SimCLR's 0.1.
MAX_LR, MAX_LAMBDA_U, TEMPERATURE_RANGE = 10.0, 1000.0, (0.01, 100.0)
MAX_UNLABELED_BATCH = 8192  # batch_size x mu: FixMatch's ImageNet runs use 1024 x 5
POINT_SETS = ("moons", "circles", "gap")  # two-dimensional toy sets, drawn by seed
DATASETS = (*POINT_SETS, "digits", *IMAGE_SETS)  # the image sets are downloaded on request
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class RunConfig:
    algorithm: str = "fixmatch"
    dataset: str = "digits"
    labels_per_class: int = 2
    steps: int = 1000
    seed: int = 0
    threshold: float | None = None  # None: the method's own (0.95; UDA's 0.8)
    temperature: float = 1.0  # T of the pseudo-labels' confidence, q = softmax(logits / T) (FixMatch's family)
    sharpen_temperature: float | None = None  # T of sharpened soft targets: MixMatch's 0.5, UDA's 0.4
    contrastive_temperature: float = 0.2  # tau of the contrastive losses (SimCLR, MoCo v3, FixMatch with SimCLR)
    distill_temperature: float = 1.0  # T of the teacher's and student's softmax in distillation
    lambda_u: float | None = None
    mu: int | None = None  # unlabeled per labeled; SimCLR's contrastive batch is batch_size * mu
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float = 5e-4
    weak_augment: bool = True  # False: weak views are the inputs as they are (over-fitting, shown plainly)
    ema_decay: float | None = None
    ema_schedule: str | None = None  # "constant" after a warm-up, or "cosine": from ema_decay up to 1 (BYOL, MoCo v3)
    model: str = "auto"  # models.MODELS; auto: MLP for points, small CNN up to 28 px, WRN-28-2 above
    # Contrastive methods only.
    projection_layers: int = 2  # SimCLR's head: 2 layers, or 3 as in SimCLRv2
    augment_strength: float = 1.0  # s, scaling every SimCLR view's magnitudes
    variant: str = "U"  # FixMatch with SimCLR: the contrastive loss on the unlabeled (U) or labeled (L) views
    finetune_mode: str = "full"  # fine-tuning a SimCLR run: "full", or "linear" (frozen features)
    # MixMatch and ReMixMatch only: K augmented views of each unlabeled image, and MixUp's Beta(alpha, alpha).
    augmentations: int | None = None
    mixup_alpha: float = 0.75
    # Realistic settings (Oliver et al., 2018), for every method. mismatch: labeled and test data hold the
    # first 60 % of the classes, and this share of the unlabeled data comes from the others (None: every class
    # is labeled, as usual). imbalance: largest over smallest class, labeled and unlabeled, on an
    # exponential profile. label_noise: the share of labeled samples given a random other class.
    mismatch: float | None = None
    imbalance: float = 1.0
    label_noise: float = 0.0
    # Two-dimensional toy sets only.
    n_samples: int = 1000
    noise: float = 0.1
    device: str = "auto"
    compile: bool = False  # torch.compile the backbone: pays on long GPU runs, not on a minute on a CPU
    log_every: int = 10
    max_snapshots: int = 30
    probe_size: int = 1000
    name: str = ""
    group: str = ""  # runs started together to be shown together, e.g. one comparison of four methods
    lesson: str = ""  # the lesson (sslengine.lessons) whose preset this run is, and its role there
    role: str = ""

    def __post_init__(self):
        """Fill the fields left None with the method's defaults: a consistency weight of 1 suits a
        cross-entropy term (FixMatch) but not a softmax MSE averaged over classes (Pi-Model)."""
        method = ALGORITHMS.get(self.algorithm)
        for field, value in (method.defaults if method else {}).items():
            if getattr(self, field) is None:
                setattr(self, field, value)

    def validate(self) -> "RunConfig":
        for field in dataclasses.fields(self):  # inf and NaN pass every comparison below the wrong way
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(field.name, f"must be a finite number, got {value!r}")
        _one_of("algorithm", self.algorithm, ALGORITHMS)
        _one_of("dataset", self.dataset, DATASETS)
        _one_of("device", self.device, DEVICES)
        _one_of("model", self.model, MODELS)
        points = self.dataset in POINT_SETS
        if self.model != "auto" and (self.model == "mlp") != points:
            raise ConfigError("model", f"{self.model} does not take {self.dataset}'s "
                              f"{'2-D points' if points else 'images'}; use "
                              f"{'auto or mlp' if points else 'auto, small-cnn, wrn-28-2 or resnet-18'}")
        _in_range("threshold", self.threshold, 0.0, 1.0)
        for field in ("temperature", "contrastive_temperature", "distill_temperature", "sharpen_temperature"):
            if getattr(self, field) is not None:
                _in_range(field, getattr(self, field), *TEMPERATURE_RANGE)
        _in_range("lambda_u", self.lambda_u, 0.0, MAX_LAMBDA_U)
        _in_range("ema_decay", self.ema_decay, 0.0, 1.0)
        _one_of("ema_schedule", self.ema_schedule, ("constant", "cosine"))
        _in_range("noise", self.noise, 0.0, 1.0)
        if self.mismatch is not None:
            _in_range("mismatch", self.mismatch, 0.0, 1.0)
        _in_range("imbalance", self.imbalance, 1.0, 100.0)
        _in_range("label_noise", self.label_noise, 0.0, 0.9)
        if self.augmentations is not None:
            _at_least("augmentations", self.augmentations, 1, integer=True)
        _positive("mixup_alpha", self.mixup_alpha, most=100.0)
        _one_of("projection_layers", self.projection_layers, (2, 3))
        _in_range("augment_strength", self.augment_strength, 0.0, 2.0)
        _one_of("finetune_mode", self.finetune_mode, ("full", "linear"))
        _one_of("variant", self.variant, ("U", "L"))
        _positive("lr", self.lr, most=MAX_LR)
        _in_range("weight_decay", self.weight_decay, 0.0, 1.0)
        for field in ("labels_per_class", "steps", "mu", "batch_size", "log_every", "max_snapshots",
                      "probe_size"):
            _at_least(field, getattr(self, field), 1, integer=True)
        _at_least("n_samples", self.n_samples, 20, integer=True)
        for field, most in UPPER_BOUNDS.items():
            if getattr(self, field) is not None and getattr(self, field) > most:
                raise ConfigError(field, f"must be at most {most:,}, got {getattr(self, field):,}")
        if self.batch_size * self.mu > MAX_UNLABELED_BATCH:
            raise ConfigError("mu", f"batch_size x mu must be at most {MAX_UNLABELED_BATCH:,} unlabeled images a "
                                    f"step, got {self.batch_size} x {self.mu} = {self.batch_size * self.mu:,}")
        _at_least("seed", self.seed, 0, integer=True)
        for field in ("compile", "weak_augment"):
            if not isinstance(getattr(self, field), bool):
                raise ConfigError(field, f"must be true or false, got {getattr(self, field)!r}")
        return self

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown field; allowed: {', '.join(sorted(known))}")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        return cls.from_dict(json.loads(text))


def _plain_type(hint) -> type:
    """int for `int | None`: the type a setting's value takes when it is given."""
    return next(kind for kind in (typing.get_args(hint) or (hint,)) if kind is not type(None))


# Each setting's type, from RunConfig's type hints: the command line's flags and the sweepable fields.
FIELD_TYPES = {name: _plain_type(hint) for name, hint in typing.get_type_hints(RunConfig).items()}


def _one_of(field, value, allowed):
    if value not in allowed:
        raise ConfigError(field, f"{value!r} is not one of {', '.join(map(str, allowed))}")


def _in_range(field, value, low, high):
    if not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(field, f"must be in [{low:g}, {high:g}], got {value!r}")


def _positive(field, value, most):
    if not isinstance(value, (int, float)) or not 0 < value <= most:
        raise ConfigError(field, f"must be > 0 and at most {most:g}, got {value!r}")


def _at_least(field, value, low, integer=False):
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value < low:
        what = "an integer" if integer else "a number"
        raise ConfigError(field, f"must be {what} >= {low:g}, got {value!r}")
