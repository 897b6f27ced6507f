"""Consistency and teachers: Pi-Model against Mean Teacher on one split, with the teacher's EMA decay, and VAT's
adversarial perturbation beside them."""

import streamlit as st

from sslengine import plots
from sslengine.config import DATASETS, RunConfig
from views.kit import engine, forms, live, pickers, present, state

FORM = "consistency-form"
METHODS = present.names(page="consistency")
PI, TEACHER, STUDENT, VAT = plots.RUN_COLORS

st.write(
    "Pi-Model and Mean Teacher ask the model to give the same answer on two noisy views of each unlabeled "
    "image. The Pi-Model's target is its own second pass; Mean Teacher's is a teacher whose weights are an exponential "
    "moving average of the student's, so the target is steadier. Drag the EMA decay and watch the teacher's "
    "curve against its student's: on digits (seed 0, 1 000 steps) the teacher reached 0.902 at alpha 0.95, "
    "0.842 at 0.99 and 0.744 at 0.999, its student within 0.006 of it each time: a slow teacher's targets "
    "hold the student back too. The loss chart sets the training loss on "
    "the few labeled images (near zero within a hundred steps) against the validation loss on the test "
    "images; for what a supervised model alone does with few labels (its validation loss turning upward), "
    "see the over-fitting card on the Lessons page. VAT asks for the same answer under the one small "
    "perturbation that changes the prediction most (found by a power iteration on the KL divergence), instead "
    "of a random augmentation; it keeps its own weight lambda = 0.3 and adds an entropy term."
)
st.latex(r"\ell = \mathrm{CE}\big(y, f_\theta(x)\big) + w(t)\,\lambda\,\frac{1}{C\,\mu B}\sum_u"
         r"\big\lVert \mathrm{softmax} f_\theta(\mathcal{A}(u)) - \mathrm{softmax} f_{\theta'}(\mathcal{A}'(u))"
         r"\big\rVert^2")
st.latex(r"\theta' = \theta \text{ (Pi-Model)},\qquad \theta' \leftarrow \alpha\theta' + (1-\alpha)\theta"
         r"\text{ after each step (Mean Teacher)},\qquad w(t) = e^{-5(1 - t / 0.4)^2} \text{ then } 1")
st.latex(r"\text{VAT: } \ell = \mathrm{CE}\big(y, f(x)\big) + w(t)\,\lambda\,\frac{1}{\mu B}\sum_u"
         r"\mathrm{KL}\big(p(u)\,\Vert\,p(u + r_{adv})\big) + 0.06\,H\big(p(u)\big),"
         r"\quad w(t) = \min(t / 0.4, 1)")
st.latex(r"r_{adv} = \epsilon\,\frac{g}{\lVert g\rVert},\quad g = \nabla_d\,\mathrm{KL}\big(p(u)\,\Vert\,"
         r"p(u + \xi d)\big),\quad d \sim \mathcal{N}(0, I),\ \xi = 10^{-6}")
present.glossary("ema", "lambda_u", "mu")
store = engine.store()


def form_configs() -> list[RunConfig]:
    values = state.form_values(FORM, ("dataset", "labels_per_class", "lambda_u", "steps", "seed"))
    alpha = state.form_value(FORM, "ema_decay")
    return forms.together(values, [("pi_model", METHODS["pi_model"], {}),
                                    ("mean_teacher", METHODS["mean_teacher"], {"ema_decay": alpha}),
                                    ("vat", METHODS["vat"], {"lambda_u": RunConfig(algorithm="vat").lambda_u})],
                           f"alpha {alpha}")


def select_started(run_ids: list[str]):
    state.choose("consistency-group", store.get_run(run_ids[0]).config.group)


mean_teacher = RunConfig(algorithm="mean_teacher")
with st.expander("Run the three", expanded=not present.presenting()):
    with st.form(FORM, border=False):
        a, b, c, d, e, f = st.columns(6)
        a.selectbox("Dataset", DATASETS, index=DATASETS.index("digits"), key=state.form_key(FORM, "dataset"))
        forms.field(b, FORM, "labels_per_class", st.number_input, "Labels per class", 1, 1000, 2)
        c.slider("Teacher EMA decay alpha", 0.5, 0.999, mean_teacher.ema_decay, 0.001, format="%.3f",
                 key=state.form_key(FORM, "ema_decay"))
        d.slider("Consistency weight lambda", 0.0, 50.0, mean_teacher.lambda_u, 0.5,
                 key=state.form_key(FORM, "lambda_u"))
        forms.field(e, FORM, "steps", st.number_input, "Steps", 1, 100_000, 1000, step=100)
        f.number_input("Seed", 0, 2**31 - 1, 0, key=state.form_key(FORM, "seed"))
        forms.other_errors(FORM, {"labels_per_class", "steps"})
        st.form_submit_button("Run the three", type="primary", icon=":material/play_arrow:",
                              on_click=forms.start_runs, args=(FORM, form_configs, select_started))

groups = {group: pickers.newest_by_method(runs) for group, runs in pickers.run_groups(METHODS).items()}
group = pickers.choose("Comparison", groups, "consistency-group",
                      "No comparison yet: press Run the three, or start `python -m sslengine run pi-model --group "
                      "G`, `python -m sslengine run mean-teacher --group G` and `python -m sslengine run vat --group "
                      "G`.", query="group")


@st.fragment(run_every=live.live_every(*groups[group].values(), seconds=live.SNAPSHOT_SECONDS))
def show_group(run_ids: dict[str, str]):
    runs = {algorithm: store.get_run(run_id) for algorithm, run_id in run_ids.items()}
    for algorithm, run in runs.items():
        present.run_status(run, METHODS[algorithm], progress=False)
    frames = {algorithm: store.scalars(run.id) for algorithm, run in runs.items()}
    pi, mt, vat = frames.get("pi_model"), frames.get("mean_teacher"), frames.get("vat")
    accuracy, ramp, losses = [], [], []
    if pi is not None:
        accuracy.append(("Pi-Model", pi, "test_acc", PI, "solid"))
        ramp.append(("Pi-Model", pi, "consistency_weight", PI, "solid"))
        losses += [("Pi-Model, training (labeled)", pi, "loss_x", PI, "dot"),
                   ("Pi-Model, validation", pi, "test_loss", PI, "solid")]
    if mt is not None:
        accuracy += [("Mean Teacher: teacher", mt, "test_acc", TEACHER, "solid"),
                     ("Mean Teacher: student", mt, "student_test_acc", STUDENT, "solid")]
        ramp.append(("Mean Teacher", mt, "consistency_weight", TEACHER, "dash"))
        losses += [("Mean Teacher, training (labeled)", mt, "loss_x", TEACHER, "dot"),
                   ("Mean Teacher (teacher), validation", mt, "test_loss", TEACHER, "solid")]
    if vat is not None:
        accuracy.append(("VAT", vat, "test_acc", VAT, "solid"))
        ramp.append(("VAT", vat, "consistency_weight", VAT, "dot"))
        losses += [("VAT, training (labeled)", vat, "loss_x", VAT, "dot"),
                   ("VAT, validation", vat, "test_loss", VAT, "solid")]
    left, right = present.chart_columns(2)
    present.chart(left, plots.series_over_steps(accuracy, "Test accuracy: Pi-Model, teacher and student, VAT"),
                      key="accuracy")
    present.chart(right, plots.series_over_steps(losses, "Training against validation loss"), key="losses")
    present.chart(st, plots.series_over_steps(ramp, "Consistency weight w(t) * lambda"), key="ramp")


show_group({algorithm: run.id for algorithm, run in groups[group].items()})
