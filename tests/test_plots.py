"""Chart helpers whose output is checked by hand."""
import numpy as np

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
