"""Chart helpers whose output is checked by hand."""
import numpy as np
import pandas as pd
import pytest

from sslengine import plots
from sslengine.plots import image_as_text


def test_a_digit_hover_keeps_one_character_pair_per_pixel():
    digit = np.zeros((1, 8, 8))
    digit[0, 2, 3] = 1.0
    rows = image_as_text(digit).split("<br>")
    assert len(rows) == 8 and all(len(row) == 16 for row in rows)
    assert rows[2][6:8] == "██" and set(rows[0]) == {" "}


def test_a_colour_hover_shows_luminance_averaged_down_to_16_rows():
    photo = np.zeros((3, 32, 32))
    photo[:, :2, :2] = 1.0  # a white 2x2 corner: one full block
    photo[0, 2:4, :2] = 1.0  # a red block: luminance 0.299, the first shade above blank
    photo[1, 4:6, :2] = 0.5  # a half-green block: luminance 0.587 * 0.5
    rows = image_as_text(photo).split("<br>")
    assert len(rows) == 16 and all(len(row) == 32 for row in rows)
    assert rows[0][:2] == "██" and rows[1][:2] == "░░" and rows[0][2:] == " " * 30
    assert rows[2][:2] == "░░"  # 0.29: the same first shade


@pytest.mark.parametrize("log_x, no_effect, at", [(False, 0.0, 0.0), (True, 1.0, 0.0), (True, 10.0, 1.0)])
def test_an_effect_strip_marks_no_effect_where_its_axis_puts_it(log_x, no_effect, at):
    figure = plots.effect_spread([2.0, 4.0, 8.0], ["shows it", "no room to show it", "contradicts it"], [0, 1, 2],
                                 "ratio", "a test CPU", (1, 4.0), no_effect, log_x=log_x)
    assert figure.layout.xaxis.type == ("log" if log_x else "linear")
    (line,), (note, this_run) = figure.layout.shapes, figure.layout.annotations
    assert (line.x0, line.x1) == (no_effect, no_effect)  # a shape's x is the value, on either axis
    assert note.text == "no effect" and note.x == at  # an annotation's is its log10 on a log axis
    assert this_run.text == "this run" and this_run.x == pytest.approx(np.log10(4.0) if log_x else 4.0)
    assert [trace.name for trace in figure.data] == ["bench seed, shows it", "bench seed, no room to show it",
                                                     "bench seed, contradicts it", "this run (seed 1)"]
    assert [trace.marker.color for trace in figure.data[:3]] == [plots.CORRECT, "#999999", plots.WRONG]


def test_the_pseudo_label_gap_chart_draws_a_run_that_has_logged_only_its_step_0_test_figures():
    """Right after a lesson's press the run holds step 0's test figures alone: the card's chart draws empty
    curves, where it raised a KeyError that flashed a traceback on the projector."""
    step_0 = pd.DataFrame({"test_acc": [0.1], "test_loss": [2.3], "seconds": [0.0]}, index=pd.Index([0], name="step"))
    figure = plots.pseudo_label_gap(step_0, 50)
    assert [len(trace.x) for trace in figure.data] == [0, 0]
    later = step_0.assign(pseudo_label_acc=[0.4], pseudo_label_acc_passing=[0.9])
    assert list(plots.pseudo_label_gap(later, 50).data[1].y) == [0.9]


def test_an_image_tile_scales_each_pixel_to_a_block_and_frames_it():
    digit = np.zeros((1, 8, 8), np.uint8)
    digit[0, 2, 3] = 200
    tile = plots.image_tile(digit, side=80, frame="#e76f51")
    assert tile.shape == (86, 86, 3) and tile.dtype == np.uint8  # 8 px x 10, and 3 px of frame each side
    assert (tile[3 + 20:3 + 30, 3 + 30:3 + 40] == 200).all() and tile[3:3 + 20, 3:].max() <= 0xe7
    assert tile[0, 40].tolist() == [0xe7, 0x6f, 0x51] and tile[45, -1].tolist() == [0xe7, 0x6f, 0x51]
    photo = np.zeros((3, 32, 32), np.uint8)
    assert plots.image_tile(photo, side=96).shape == (96, 96, 3)  # unframed, 3 px a pixel


def test_final_accuracy_bars_stand_on_zero_and_end_at_one():
    figure = plots.final_accuracies(["U", "O", "L"], [0.911, 0.872, 0.78], ["", "", ""], ["#000"] * 3, "Final")
    assert list(figure.layout.yaxis.range) == [0, 1]  # bar heights are the accuracies, not their excess over 0.68


def test_runs_take_their_roles_color_whatever_their_order_and_stay_distinct():
    colors = plots.run_colors({"u run": "U", "plain": None, "o run": "O", "l run": "L"})
    assert [colors[label] for label in ("o run", "l run", "u run")] == [plots.ROLE_COLORS[r] for r in "OLU"]
    assert len(set(colors.values())) == 4
    twice = plots.run_colors({"first O": "O", "second O": "O"})
    assert twice["first O"] == plots.ROLE_COLORS["O"] and twice["second O"] != twice["first O"]


def test_correct_and_wrong_confidences_stand_side_by_side_in_opaque_bars():
    logits = np.log(np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]]))
    figure = plots.confidence_histogram(logits, np.array([0, 1, 1]), 0.5, 1.0)
    assert figure.layout.barmode == "group"
    assert [trace.name for trace in figure.data] == ["correct", "wrong"]
    assert all(trace.opacity in (None, 1) for trace in figure.data)
