"""Flow colours on the Middlebury wheel, side-by-side panels, MP4 and GIF writing."""
import numpy as np
import pytest
from PIL import Image

from fgla_model.render import colour_wheel, flow_to_color, side_by_side, wheel_legend, write_animation
from timelapse_d.errors import UsageError
from timelapse_d.media import probe_video


def hue_of(rgb):
    import colorsys

    return colorsys.rgb_to_hsv(*(np.asarray(rgb) / 255.0))[0] * 360


def test_colour_wheel_has_the_55_middlebury_hues():
    wheel = colour_wheel()
    assert wheel.shape == (55, 3)
    assert wheel[0].tolist() == [255, 0, 0]  # red
    assert wheel[15].tolist() == [255, 255, 0]  # yellow after RY = 15
    assert wheel[21].tolist() == [0, 255, 0]  # green after YG = 6
    assert wheel[36].tolist() == [0, 0, 255]  # blue after GC + CB = 15


@pytest.mark.parametrize("direction, hue", [
    ((1, 0), 0),  # right: red
    ((1, 1), 27),  # down-right: orange
    ((0, 1), 54),  # down: yellow
    ((-1, 0), 191),  # left: cyan-blue
    ((0, -1), 261),  # up: blue-violet
    ((1, -1), 292),  # up-right: magenta
])
def test_known_directions_map_to_known_hues(direction, hue):
    vector = np.array([[direction]], np.float64) / np.hypot(*direction)
    colour = flow_to_color(vector, max_magnitude=1.0)[0, 0]
    assert min(abs(hue_of(colour) - hue), 360 - abs(hue_of(colour) - hue)) <= 6, (direction, colour.tolist())


def test_zero_is_white_and_length_sets_saturation():
    flow = np.array([[[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [3.0, 0.0]]])
    colours = flow_to_color(flow, max_magnitude=1.0)[0]
    assert colours[0].tolist() == [255, 255, 255]
    assert colours[1].tolist() == [255, 127, 127]  # half way to the full hue
    assert colours[2].tolist() == [255, 0, 0]
    assert colours[3].tolist() == [191, 0, 0]  # beyond max_magnitude: the hue at 75 %
    # max_magnitude scales: 2 px at max 4 is the same colour as 0.5 at max 1
    assert flow_to_color(np.array([[[2.0, 0.0]]]), 4.0)[0, 0].tolist() == [255, 127, 127]
    with pytest.raises(ValueError, match="max_magnitude"):
        flow_to_color(flow, 0.0)


def test_legend_and_side_by_side():
    legend = wheel_legend(41)
    assert legend[20, 20].tolist() == [255, 255, 255]  # centre: zero motion
    assert legend[20, 40][0] == 255 and legend[20, 40][1] < 30  # right edge: red
    assert legend[0, 0].tolist() == [255, 255, 255]  # outside the disk
    frame = np.full((60, 100, 3), 7, np.uint8)
    flow = np.zeros((16, 16, 2))
    flow[:, :, 0] = 1.0
    panel = side_by_side(frame, flow, max_magnitude=1.0)
    assert panel.shape == (60, 200, 3)
    assert (panel[:, :100] == 7).all()
    assert panel[40, 150].tolist() == [255, 0, 0]  # the flow, resized to the frame, outside the legend


def test_mp4_and_gif_are_written_and_readable(tmp_path):
    frames = [np.full((48, 80, 3), 30 * i, np.uint8) for i in range(6)]
    write_animation(tmp_path / "a.mp4", frames, fps=8)
    info = probe_video(tmp_path / "a.mp4")
    assert (info.frames, info.width, info.height, info.codec) == (6, 80, 48, "h264")
    write_animation(tmp_path / "a.gif", iter(frames), fps=10)
    with Image.open(tmp_path / "a.gif") as gif:
        assert (gif.n_frames, gif.size, gif.info["duration"], gif.info["loop"]) == (6, (80, 48), 100, 0)
        gif.seek(3)
        assert np.abs(np.asarray(gif.convert("RGB")).astype(int) - 90).max() <= 1
    with pytest.raises(UsageError, match=r"\.webm"):
        write_animation(tmp_path / "a.webm", frames, fps=8)
