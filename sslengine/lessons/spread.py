"""The bench's spread over seeds (`python -m bench.lessons` writes SPREAD_FILE, beside this file) and the card's
sentences made from it and from the presets' own configs, so that no figure on a card is typed by hand."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..algorithms import ALGORITHMS
from ..models import small_cnn_width
from ..splits import load_split
from .catalog import lesson
from .model import CONTRADICTS, NO_ROOM, SHOWS, Lesson
from .runs import configs


SPREAD_FILE = Path(__file__).resolve().parent / "spread.json"
RELIABLE = 0.9  # the share of seeds on which a lesson must hold to be shown as reliable


def load_spread(path: Path = SPREAD_FILE) -> dict[str, dict[str, dict]]:
    """What `python -m bench.lessons` measured, by lesson and scale: machine, seeds, per seed the verdict's
    figures, whether it held and the seconds a press took; {} before the bench has run."""
    return json.loads(path.read_text())["lessons"] if path.exists() else {}


@dataclass(frozen=True)
class Spread:
    lesson: Lesson
    scale: str
    machine: str
    seeds: list[int]
    effects: list[float]
    outcomes: list[str]  # each seed's, from its figures by the lesson's rule of today
    seconds: list[float]
    means: dict[str, float]  # every figure's mean over the seeds
    page_seconds: float | None  # one press with the Lessons page open (bench/lessons_page.py), where measured

    @classmethod
    def of(cls, lesson_: Lesson, scale: str, entry: dict) -> "Spread":
        figures, outcome = entry["figures"], lesson_.preset(scale).outcome
        return cls(lesson_, scale, entry["machine"], entry["seeds"], [f[lesson_.effect] for f in figures],
                   [outcome(f)[0] for f in figures], entry["seconds"],
                   {key: float(np.mean([f[key] for f in figures])) for key in figures[0]},
                   entry.get("page_seconds", {}).get("seconds"))

    @property
    def holds(self) -> list[bool]:
        return [outcome == SHOWS for outcome in self.outcomes]

    def count(self, outcome: str) -> int:
        return self.outcomes.count(outcome)

    def tally(self) -> str:
        """"it shows it on 7 of 10, no room on 3": the outcomes that occurred, by count."""
        parts = [f"it shows it on {self.count(SHOWS)} of {len(self.outcomes)}"] + [
            f"{'no room' if outcome == NO_ROOM else 'contradicts it'} on {self.count(outcome)}"
            for outcome in (NO_ROOM, CONTRADICTS) if self.count(outcome)]
        return ", ".join(parts)

    def placement(self, seed: int) -> str:
        """Where a run's seed falls among the bench's: "Seed 1 is one of the 3 of 10 bench seeds with no room"."""
        if seed not in self.seeds:
            return f"On the bench's seeds {self.tally()}."
        outcome = self.outcomes[self.seeds.index(seed)]
        which = {SHOWS: "where it shows", NO_ROOM: "with no room to show it", CONTRADICTS: "that contradict it"}
        return (f"On the bench, seed {seed} is one of the {self.count(outcome)} of {len(self.seeds)} seeds "
                f"{which[outcome]}.")

    @property
    def reliable(self) -> bool:
        return self.count(SHOWS) >= RELIABLE * len(self.outcomes)

    @property
    def mean(self) -> float:
        """The effects' mean (a ratio's geometric mean)."""
        mean = self.lesson.scaled(self.effects).mean()
        return float(np.exp(mean) if self.lesson.ratio else mean)

    @property
    def sd(self) -> float:
        """The effects' seed standard deviation (a ratio's: of its log)."""
        return float(self.lesson.scaled(self.effects).std(ddof=1))

    @property
    def strength(self) -> float:
        """How many seed spreads (sd) the mean effect lies from no effect (a ratio's: on the log scale)."""
        scaled = self.lesson.scaled(self.effects)
        return float((scaled.mean() - self.lesson.scaled([self.lesson.no_effect])[0]) / self.sd)


def seed_range(seeds: list[int]) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ", ".join(map(str, seeds))


def here(lesson_: Lesson, spread: Spread) -> str:
    """The card's sentence on what this preset showed over the bench's seeds, from the bench's file."""
    label = lesson_.effect_label[0].upper() + lesson_.effect_label[1:]
    text = (f"On {spread.machine}, seeds {seed_range(spread.seeds)}: {spread.tally()}. {label}: "
            f"{lesson_.shown(spread.mean)} on average"
            + (" (geometric mean), seed spread (sd of its log) " if lesson_.ratio else ", seed spread (sd) ")
            + f"{spread.sd:.3f}, {spread.strength:.1f} spreads from no effect, from "
            f"{lesson_.shown(min(spread.effects))} to {lesson_.shown(max(spread.effects))}; a press took "
            f"{np.mean(spread.seconds):.0f} s from the command line"
            + (f", {spread.page_seconds:.0f} s with this page open." if spread.page_seconds else "."))
    if not spread.reliable:
        text += (f" **At this scale the preset does not show it reliably** (on fewer than {RELIABLE:.0%} of seeds). "
                 + lesson_.preset(spread.scale).shortfall(spread.means))
    return text


# What a preset's data set is, in words, for the card's "What it trains".
DATA_WORDS = {"digits": "scikit-learn's 8x8 grey digits", "moons": "two moons (2-D points)",
              "gap": "two clusters with a gap between them (2-D points)",
              "fashion-mnist": "Fashion-MNIST's 28x28 grey photographs"}


def trains(lesson_: Lesson, scale: str = "small") -> str:
    """What the preset trains, from its configs: the data, how many labels, the model, each role's steps."""
    built = {role: checked.config for role, checked in configs(lesson_.name, seed=0, scale=scale).items()}
    first = next(iter(built.values()))
    split = load_split(first)
    side = split.x_labeled.shape[-1]
    model = "an MLP" if split.kind == "points" else f"the small CNN, {small_cnn_width(side)} wide"
    roles = ", ".join(f"{role}{'' if role == c.algorithm else f' ({c.algorithm})'} {c.steps:,} steps"
                      + (" at half width" if ALGORITHMS[c.algorithm].width_factor == 0.5 else "")
                      for role, c in built.items())
    return (f"{DATA_WORDS.get(first.dataset, first.dataset)}, {first.labels_per_class} labeled a class "
            f"({len(split.y_labeled)} labeled, {len(split.y_unlabeled):,} unlabeled); {model}; {roles}.")


def scale_note(lesson_: Lesson, spread: Spread) -> str:
    """Why the card's numbers are not the course's: its scale, and the preset's own figures from the bench."""
    figures = ", ".join(f"{label} {spread.means[key]:.0%}" for key, label in lesson_.headline.items())
    data = DATA_WORDS[lesson_.preset(spread.scale).split["dataset"]]
    return (f"The course's numbers come from CIFAR-10's 32x32 colour photographs on a GPU; this preset trains on "
            f"{data}, a smaller and easier task, so its numbers differ and only the direction of the effect "
            f"carries over: here {figures} (means of {len(spread.seeds)} seeds).")


def spread_of(name: str, scale: str, spreads: dict[str, dict[str, dict]] | None = None) -> Spread | None:
    """The bench's spread of the lesson's preset at `scale`, or None where the bench has not measured it."""
    entry = (load_spread() if spreads is None else spreads).get(name, {}).get(scale)
    return Spread.of(lesson(name), scale, entry) if entry else None


def measured(name: str, scale: str = "small") -> str:
    """The lesson's `here` sentence from the bench's file, or "" where the bench has not measured it."""
    spread = spread_of(name, scale)
    return here(lesson(name), spread) if spread else ""
