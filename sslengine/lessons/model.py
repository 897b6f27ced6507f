"""What a lesson is: its stages of roles, the figures its judge reads from the runs, and a verdict with one of
three outcomes, each from the figures by the lesson's own rule."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import ConfigError
from ..splits import load_split
from ..store import Store


@dataclass(frozen=True)
class Role:
    name: str
    settings: dict  # RunConfig fields beyond the lesson's split
    parent: str | None = None  # the role whose run this one starts from


# A run's verdict has three outcomes: it shows the lesson's effect past the margin its lesson states; the seed
# left no room to show it (supervised already in the gap, two accuracies tied within the test set's noise); or
# it contradicts it.
SHOWS, NO_ROOM, CONTRADICTS = "shows it", "no room to show it", "contradicts it"


@dataclass(frozen=True)
class Verdict:
    outcome: str  # SHOWS, NO_ROOM or CONTRADICTS
    figures: dict[str, float]
    text: str  # the numbers, in one line
    reason: str = ""  # why there was no room, or what contradicts the lesson

    def __post_init__(self):  # plain Python values, for JSON
        if self.outcome not in (SHOWS, NO_ROOM, CONTRADICTS):
            raise ValueError(f"outcome {self.outcome!r}")
        object.__setattr__(self, "figures", {key: float(value) for key, value in self.figures.items()})

    @property
    def holds(self) -> bool:
        return self.outcome == SHOWS


def decide(outcome: Callable[[dict[str, float]], tuple[str, str]], figures: dict[str, float], text: str) -> Verdict:
    """The verdict of a lesson's `outcome` rule on these figures."""
    result, reason = outcome(figures)
    return Verdict(result, figures, text, reason)


def tie_margin(a: float, b: float, n: int) -> float:
    """Two standard errors of the difference of two accuracies, each measured on n test samples: a difference
    inside it is a tie within the test set's sampling noise."""
    return 2 * math.sqrt((a * (1 - a) + b * (1 - b)) / n)


def test_size(store: Store, run_id: str) -> int:
    return len(load_split(store.get_run(run_id).config).y_test)


# The images scale's split: Fashion-MNIST, from Debian's package offline, at the course's 4 labels a class.
FASHION = {"dataset": "fashion-mnist", "labels_per_class": 4}
# A lesson's scales, as its card's switch names them.
SCALES = {"small": "Small sets · about a minute", "images": "Fashion-MNIST · minutes"}


@dataclass(frozen=True)
class Preset:
    """A lesson's runs at one scale, and how its verdict is read from them."""
    split: dict  # dataset and labels shared by every role
    stages: tuple[tuple[Role, ...], ...]
    judge: Callable[[Store, dict[str, str]], Verdict]
    outcome: Callable[[dict[str, float]], tuple[str, str]]  # a verdict's outcome and reason, from its figures
    # Why the preset falls short where it holds on fewer than RELIABLE of the bench's seeds: from their mean figures
    shortfall: Callable[[dict[str, float]], str] = lambda means: ""
    watch: str = ""  # what to look at where this preset's charts differ from the lesson's `watch`

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(role.name for stage in self.stages for role in stage)


@dataclass(frozen=True)
class Lesson:
    name: str
    title: str
    course: str  # the course material's finding, at CIFAR-10 scale on a GPU
    watch: str  # what to look at on the charts
    presets: dict[str, Preset]  # by scale (SCALES), each on a data set of its own
    # The figures (bench means) the card quotes beside the course's, by what they are, in `scale_note`
    headline: dict[str, str]
    effect: str  # the verdict's figure that measures the lesson's effect, one number a seed
    effect_label: str
    page: str  # the method page that shows these runs: its url path and query parameter
    no_effect: float = 0.0  # the effect's value where the lesson shows nothing (1 for a ratio)

    def __post_init__(self):
        if set(self.presets) != set(SCALES):
            raise ValueError(f"{self.name}: presets for {sorted(self.presets)}, not for every scale {list(SCALES)}")
        datasets = [preset.split["dataset"] for preset in self.presets.values()]
        if len(set(datasets)) < len(datasets):  # a run's data set tells which preset it belongs to
            raise ValueError(f"{self.name}: two scales on one data set")

    def preset(self, scale: str) -> Preset:
        if scale not in self.presets:
            raise ConfigError("scale", f"{scale!r} is not a scale; known: {', '.join(SCALES)}")
        return self.presets[scale]

    def watch_at(self, scale: str) -> str:
        """What to look at on the card's charts at `scale`."""
        return self.preset(scale).watch or self.watch

    def preset_for(self, dataset: str) -> Preset:
        """The preset whose runs train on `dataset`."""
        return self.preset(self.scale_of(dataset))

    def scale_of(self, dataset: str) -> str | None:
        """The scale whose preset trains on `dataset` (None: no preset does, a run of an older one)."""
        return next((scale for scale, preset in self.presets.items() if preset.split["dataset"] == dataset), None)

    @property
    def ratio(self) -> bool:
        """An effect that is a ratio (no effect: 1): its seed noise is multiplicative, so it is averaged and
        spread on a log scale."""
        return self.no_effect == 1

    def scaled(self, effects: list[float]) -> np.ndarray:
        return np.log(effects) if self.ratio else np.asarray(effects, dtype=float)

    def shown(self, effect: float) -> str:
        return f"x{effect:.2f}" if self.ratio else f"{effect:+.3f}"


# Reading runs ---------------------------------------------------------------------------------------------
def final(store: Store, run_id: str, key: str = "test_acc") -> float:
    return store.final_scalars(run_id).get(key, float("nan"))


def seconds(store: Store, run_id: str) -> float:
    return store.final_scalars(run_id).get("seconds", float("nan"))


# Reading runs ---------------------------------------------------------------------------------------------
def final(store: Store, run_id: str, key: str = "test_acc") -> float:
    return store.final_scalars(run_id).get(key, float("nan"))


def seconds(store: Store, run_id: str) -> float:
    return store.final_scalars(run_id).get("seconds", float("nan"))
