"""Lessons: the course's observations, each as a preset of runs that shows it on a CPU, at two scales (toy sets
and digits in about a minute, Fashion-MNIST's photographs in minutes), and a verdict computed from those runs'
own numbers, which says so plainly when they do not show it.

    handle = start(get_runner(), "distill", seed=0)   # validates every run first, returns at once
    roles = handle.wait()                              # {"simclr": id, "teacher": id, "student": id}
    verdict = judge(store, "distill", roles)           # Verdict(holds=..., figures={...}, text="...")

A lesson trains in stages: the runs of one stage together, a later stage once the runs it starts from have
finished (fine-tune after SimCLR, distill after fine-tune). Every run carries its lesson, its role and the
lesson's `group` in its config, so a page finds a lesson's runs in the store wherever they were trained.
Each lesson names one figure as its effect. `python -m bench.lessons --seeds 0-9 [--scale images]` trains every
preset of a scale on ten seeds and writes each effect's distribution, the hold rate and the machine to
SPREAD_FILE (`spread.json` here, by lesson and scale); the cards draw it and generate their "Here" sentence
from it (`here`), so no figure on a card is typed by hand.

The package: `model` (roles, presets, verdicts, the Lesson record), one file a lesson (its figures, judges,
outcome rules and its two presets), `catalog` (the five, by name), `runs` (configs, training in stages,
finding a lesson's runs) and `spread` (the bench's seeds and the card's sentences).
"""
from ..errors import ConfigError
from .catalog import LESSONS, lesson
from .distill import judge_distill, outcome_distill
from .entropy_boundary import (IN_GAP_MAX, NEAR_MARGIN, TIE_MARGIN, judge_entropy, judge_entropy_images, near_in,
                               outcome_entropy, outcome_entropy_images)
from .labeled_vs_unlabeled import judge_views, outcome_views
from .model import CONTRADICTS, FASHION, NO_ROOM, SCALES, SHOWS, Lesson, Preset, Role, Verdict, final, seconds, \
    tie_margin
from .overfitting import judge_overfitting, outcome_overfitting, rise_text, validation_rise
from .pseudo_label_quality import judge_pseudo_labels, outcome_pseudo_labels, pseudo_label_phases
from .runs import LessonRun, configs, judge, lesson_groups, preset_of, start
from .spread import (DATA_WORDS, RELIABLE, SPREAD_FILE, Spread, here, load_spread, measured, scale_note, spread_of,
                     trains)
