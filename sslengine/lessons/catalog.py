"""The lessons, in the order the page shows them: one file each."""
from __future__ import annotations

from ..errors import ConfigError
from . import distill, entropy_boundary, labeled_vs_unlabeled, overfitting, pseudo_label_quality
from .model import Lesson

LESSONS = {lesson.name: lesson for lesson in (pseudo_label_quality.LESSON, labeled_vs_unlabeled.LESSON,
                                               overfitting.LESSON, entropy_boundary.LESSON, distill.LESSON)}


def lesson(name: str) -> Lesson:
    if name not in LESSONS:
        raise ConfigError("lesson", f"{name!r} is not a lesson; known: {', '.join(LESSONS)}")
    return LESSONS[name]
