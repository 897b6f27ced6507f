"""Lessons: the course's five observations, each one click away, with the charts that show it and a verdict
computed from the run's own numbers."""
import streamlit as st

from sslengine import image_sets, lessons, plots
from sslengine.lessons import Lesson
from sslengine.store import ACTIVE
from views.kit import engine, forms, live, policy, present, state

st.write(
    "Five observations the course makes, each as a card: what the course saw at CIFAR-10 scale on a GPU, what "
    "this preset showed on the bench's ten seeds, and a button that trains the preset on this machine. Each "
    "card has two scales: small sets (8x8 digits, 2-D points) train in about a minute on two CPU cores, "
    "Fashion-MNIST's photographs in minutes. The strip shows the effect on each bench seed and, once you "
    "trained, where your run falls among them. The verdict under the charts is computed from the numbers of the "
    "run you trained, and says so when they do not show the effect."
)
store = engine.store()
spreads = lessons.load_spread()
seed = st.number_input("Seed for the lessons' runs", 0, 2**31 - 1, 0, key=state.form_key("lessons", "seed"),
                       help="the presets were chosen on the bench's seeds 0-9; any other seed shows how they hold")


def start(name: str):
    try:
        seed, device, scale = state.form_value("lessons", "seed"), state.device(), state.lesson_scale(name)
        configs = lessons.configs(name, seed, device, scale=scale)
        first_stage = lessons.lesson(name).preset(scale).stages[0]
        policy.check_start(store, [configs[role.name].config for role in first_stage])
        handle = lessons.start(engine.runner(), name, seed, device, starter=policy.starter(), checked=configs)
        forms.remember(list(handle.runs.values()))
        policy.record_lesson(handle.group)
    except (lessons.ConfigError, policy.Refused) as error:
        state.set_lesson_error(name, str(error))
    else:
        state.set_lesson_error(name, None)


def chart_pseudo_labels(runs: dict[str, str]):
    frame = store.scalars_by_step(runs["fixmatch"])
    steps = store.get_run(runs["fixmatch"]).config.steps
    present.chart(st, plots.pseudo_label_gap(frame, max(steps // 10, 1)), key="lesson-a")


def chart_views(runs: dict[str, str]):
    roles = [role for role in ("U", "O", "L") if role in runs]
    left, right = present.chart_columns(2)
    present.chart(left, plots.final_accuracies(
        roles, [lessons.final(store, runs[role]) for role in roles],
        [f" · {lessons.seconds(store, runs[role]):.0f} s" for role in roles],
        [plots.ROLE_COLORS[role] for role in roles], "Final test accuracy and seconds"), key="lesson-b-final")
    present.chart(right, plots.series_over_steps(
        [(role, store.scalars(runs[role]), "test_acc", plots.ROLE_COLORS[role], "solid") for role in roles],
        "Test accuracy over steps (the EMA model)"), key="lesson-b-curves")


def chart_overfitting(runs: dict[str, str]):
    semi = next(role for role in runs if role != "supervised")
    frames = {role: store.scalars(run_id) for role, run_id in runs.items()}
    sup_color, semi_color = plots.RUN_COLORS[0], plots.RUN_COLORS[1]
    left, right = present.chart_columns(2)
    figure = plots.series_over_steps(
        [("supervised, training", frames["supervised"], "loss_x", sup_color, "dot"),
         ("supervised, validation", frames["supervised"], "test_loss", sup_color, "solid"),
         (f"{semi}, training (labeled)", frames[semi], "loss_x", semi_color, "dot"),
         (f"{semi}, validation", frames[semi], "test_loss", semi_color, "solid")],
        "Training and validation loss (log scale)")
    present.chart(left, figure.update_yaxes(type="log"), key="lesson-c-loss")
    present.chart(right, plots.series_over_steps(
        [("supervised", frames["supervised"], "test_acc", sup_color, "solid"),
         (semi, frames[semi], "test_acc", semi_color, "solid")], "Test accuracy"), key="lesson-c-acc")


def chart_entropy(runs: dict[str, str]):
    entropy = lessons.lesson("entropy-boundary")
    if lessons.preset_of(store, entropy.name, runs) is entropy.preset("images"):
        chart_entropy_images(runs)
        return
    columns = present.chart_columns(2)
    for column, role in zip(columns, ("supervised", "entmin")):
        if role not in runs:
            continue
        steps = store.snapshot_steps(runs[role])
        if not steps:
            continue
        last, first = (engine.snapshot(store.url, runs[role], step) for step in (steps[-1], 0))
        title = (f"{'EntMin' if role == 'entmin' else 'Supervised'}: test {lessons.final(store, runs[role]):.1%}, "
                 f"{lessons.near_in(first, last):.1%} of points near its boundary")
        present.chart(column, plots.decision_boundary(last, first, title, height=420), key=f"lesson-d-{role}")
    st.caption("Background: the model's P(class 1); black line: its decision boundary (P = 0.5); stars: the "
               "labeled points; dots: unlabeled points by their hidden true class. \"Near\" is within "
               f"{lessons.NEAR_MARGIN} of the line: a boundary in the gap has almost none.")


def chart_entropy_images(runs: dict[str, str]):
    """No boundary can be drawn over images: how sure each model is of the unlabeled probe images, and its
    accuracy."""
    logits = {}
    for role in ("supervised", "entmin"):
        if role in runs and (steps := store.snapshot_steps(runs[role])):
            logits[role] = engine.snapshot(store.url, runs[role], steps[-1])["logits"]
    left, right = present.chart_columns(2)
    colors = {"supervised": plots.RUN_COLORS[0], "entmin": plots.RUN_COLORS[1]}
    if logits:
        present.chart(left, plots.entropy_histograms(logits, colors), key="lesson-d-entropy")
    present.chart(right, plots.series_over_steps(
        [(role, store.scalars(run_id), "test_acc", colors[role], "solid") for role, run_id in runs.items()],
        "Test accuracy"), key="lesson-d-acc")
    st.caption(f"\"Near\" the boundary: an unlabeled image whose two likeliest classes' probabilities lie within "
               f"{lessons.TIE_MARGIN} of each other; EntMin's loss piles its entropy at zero.")


def chart_distill(runs: dict[str, str]):
    names = {"simclr": "SimCLR (linear probe)", "teacher": "teacher (fine-tuned)", "student": "student (distilled)"}
    roles = [role for role in names if role in runs]
    present.chart(st, plots.final_accuracies(
        [names[role] for role in roles], [lessons.final(store, runs[role]) for role in roles],
        [f" · {lessons.seconds(store, runs[role]):.0f} s" for role in roles], list(plots.RUN_COLORS[:len(roles)]),
        "Final test accuracy by stage"), key="lesson-e")


CHARTS = {"pseudo-label-quality": chart_pseudo_labels, "labeled-vs-unlabeled": chart_views,
          "overfitting": chart_overfitting, "entropy-boundary": chart_entropy, "distill": chart_distill}


def link(lesson: Lesson, group: str, runs: dict[str, str]):
    path, query = lesson.page.split("?")
    key, value = query.split("=")
    try:
        value = value.format(group=group, **runs)
    except KeyError:  # a role not trained yet
        return
    st.page_link(f"views/{path}.py", label=f"Open these runs on the {path} page", icon=":material/open_in_new:",
                 query_params={key: value})


def card(lesson: Lesson):
    """The card at the scale its switch shows; only its runs' progress and charts tick while they train (the
    whole page runs again when a run ends, and draws the verdict): redrawing all five parts every second took a
    core from training."""
    with st.container(border=True):
        st.subheader(lesson.title)
        scale = st.segmented_control("Scale", list(lessons.SCALES), format_func=lessons.SCALES.get, default="small",
                                     required=True, key=state.lesson_scale_key(lesson.name))
        preset = lesson.preset(scale)
        groups = lessons.lesson_groups(store, lesson.name, scale)
        group = next(iter(groups), None)
        runs = groups.get(group, {})
        current = {role: store.get_run(run_id) for role, run_id in runs.items()}
        st.markdown(f"**The course** (CIFAR-10 on a GPU): {lesson.course}")
        spread = lessons.spread_of(lesson.name, scale, spreads)
        st.markdown(f"**What it trains**: {lessons.trains(lesson, scale)}"
                    + (f" {lessons.scale_note(lesson, spread)}" if spread else ""))
        verdict = (lessons.judge(store, lesson.name, runs) if set(runs) == set(preset.roles)
                   and all(run.status == "finished" for run in current.values()) else None)
        seed_run = next(iter(current.values())).config.seed if current else None
        if spread:
            st.markdown(f"**Here** (this preset): {lessons.here(lesson, spread)}")
            present.chart(st, plots.effect_spread(spread.effects, spread.outcomes, spread.seeds, lesson.effect_label,
                                                 spread.machine,
                                                 (seed_run, verdict.figures[lesson.effect]) if verdict else None,
                                                 lesson.no_effect, log_x=lesson.ratio),
                         key=f"lesson-spread-{lesson.name}")
        else:
            st.caption(f"This preset has not been measured on the bench's seeds: run python -m bench.lessons "
                       f"--scale {scale}.")
        dataset = preset.split["dataset"]
        missing = dataset in image_sets.IMAGE_SETS and not image_sets.state(dataset).startswith(
            ("downloaded", "installed"))
        if missing:
            package = image_sets.IMAGE_SETS[dataset].installed
            st.caption(f"{dataset} is not on this machine: "
                       + (f"`apt-get install {package.package}`, or " if package else "")
                       + "Download in the sidebar's Image sets.")
        st.button(f"Train this lesson (seed {seed})", key=f"lesson-start-{lesson.name}", type="primary",
                  icon=":material/play_arrow:", on_click=start, args=(lesson.name,),
                  disabled=missing or any(run.status in ACTIVE for run in current.values()))
        if seed_run is not None and seed_run != seed:
            st.caption(f"Shown below: this card's newest training, on seed {seed_run}; the button trains seed {seed}.")
        if message := state.lesson_error(lesson.name):
            st.error(present.plain(message), icon=":material/error:")
        if not runs:
            st.caption("Not trained in this store yet.")
            return

        @st.fragment(run_every=live.live_every(*current.values(), seconds=2 * live.LIVE_SECONDS))
        def progress_and_charts():
            for role, run_id in runs.items():
                run = store.get_run(run_id)
                present.run_status(run, f"The {role} run", progress=run.status not in ("finished", "failed"))
            CHARTS[lesson.name](runs)

        progress_and_charts()
        st.markdown(f"**What to watch:** {lesson.watch_at(scale)}.")
        if verdict:
            figures = verdict.text[:1].upper() + verdict.text[1:]
            said = (f"{verdict.outcome.capitalize()} on this run (seed {seed_run})"
                    + (f": {verdict.reason}" if verdict.reason else "") + f". {figures}."
                    + (f" {spread.placement(seed_run)}" if spread else ""))
            show = {lessons.SHOWS: (st.success, ":material/check:"), lessons.NO_ROOM: (st.info, ":material/remove:"),
                    lessons.CONTRADICTS: (st.warning, ":material/warning:")}[verdict.outcome]
            show[0](said, icon=show[1])
        link(lesson, group, runs)


for each in lessons.LESSONS.values():
    card(each)
