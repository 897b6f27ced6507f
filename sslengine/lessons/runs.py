"""A lesson's runs: its configs, checked at once; training it stage by stage; finding its trainings in a store."""
from __future__ import annotations

import threading
import uuid

from ..config import RunConfig
from ..runner import Checked, Runner, check
from ..store import Starter, Store
from .catalog import lesson
from .model import Preset, Role, Verdict


def configs(name: str, seed: int, device: str = "auto", group: str | None = None,
            steps: int | None = None, scale: str = "small") -> dict[str, Checked]:
    """Every role's config at `scale`, checked (a role that starts from another is checked without its parent);
    `steps` replaces every role's, for a smoke test of the path (bench/gpu.py --smoke)."""
    preset = lesson(name).preset(scale)
    group = group or f"lesson {name} {scale} seed {seed} {uuid.uuid4().hex[:6]}"
    built = {role.name: RunConfig(**preset.split, **role.settings | ({"steps": steps} if steps else {}), seed=seed,
                                  device=device, lesson=name, role=role.name, group=group,
                                  name=f"lesson {name} · {role.name} · seed {seed}"
                                       + (f" · {scale}" if scale != "small" else ""))
             for stage in preset.stages for role in stage}
    return {role: check(config) for role, config in built.items()}


class LessonRun:
    """A lesson training in stages: its first stage is started (or refused) before `start` returns, the
    rest by a thread as the runs they start from finish."""

    def __init__(self, runner: Runner, name: str, seed: int, device: str, steps: int | None = None,
                 starter: Starter | None = None, checked: dict[str, Checked] | None = None, scale: str = "small"):
        self.runner, self.starter = runner, starter
        self.configs = checked or configs(name, seed, device, steps=steps, scale=scale)
        first = next(iter(self.configs.values())).config
        self.group, self.stages = first.group, lesson(name).preset_for(first.dataset).stages
        self.runs: dict[str, str] = {}
        self.failed: str | None = None  # the first role that did not finish, once the lesson stopped there
        self._start_stage(self.stages[0])
        self._thread = threading.Thread(target=self._rest, name=f"lesson-{self.group}", daemon=True)
        self._thread.start()

    def _start_stage(self, stage: tuple[Role, ...]):
        run_ids = self.runner.start_together([(self.configs[role.name], self.runs[role.parent] if role.parent else None)
                                              for role in stage], self.starter)
        self.runs.update(zip((role.name for role in stage), run_ids))

    def _finished(self, stage: tuple[Role, ...]) -> bool:
        for role in stage:
            self.runner.wait(self.runs[role.name])
            if self.runner.store.get_run(self.runs[role.name]).status != "finished":
                self.failed = role.name
        return self.failed is None

    def _rest(self):
        stages = self.stages
        for done, stage in zip(stages, stages[1:]):
            if not self._finished(done):
                return
            self._start_stage(stage)
        self._finished(stages[-1])

    def wait(self) -> dict[str, str]:
        self._thread.join()
        return dict(self.runs)


def start(runner: Runner, name: str, seed: int = 0, device: str = "auto", steps: int | None = None,
          starter: Starter | None = None, checked: dict[str, Checked] | None = None,
          scale: str = "small") -> LessonRun:
    """Train a lesson at `scale`; `checked`: its configs as `configs` gave them, when the caller checked them."""
    return LessonRun(runner, name, seed, device, steps, starter, checked, scale)


def preset_of(store: Store, name: str, runs: dict[str, str]) -> Preset:
    """The preset these runs of the lesson trained: the one on their data set."""
    return lesson(name).preset_for(store.get_run(next(iter(runs.values()))).config.dataset)


def judge(store: Store, name: str, runs: dict[str, str]) -> Verdict:
    return preset_of(store, name, runs).judge(store, runs)


def lesson_groups(store: Store, name: str, scale: str | None = None) -> dict[str, dict[str, str]]:
    """The lesson's trainings in the store (at `scale`, or any), newest first: group -> role -> run id."""
    chosen, groups = lesson(name), {}
    for run in store.list_runs():
        if run.config.lesson == name and scale in (None, chosen.scale_of(run.config.dataset)):
            groups.setdefault(run.config.group, {})[run.config.role] = run.id
    return groups
