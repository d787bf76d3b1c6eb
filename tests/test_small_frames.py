"""Split's small copies of decoded frames, read from the decoder's planes, against converting the whole frame."""
import contextlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from timelapse_d.camera_motion import analysis_size
from timelapse_d.media import decode_frames
from timelapse_d.small_frames import analysis_grey, analysis_grey_and_colour, detection_frame

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "assets" / "videos"


def frame_of(path: Path, index: int = 30):
    with contextlib.closing(decode_frames(path)) as frames:
        return next(frame for number, (_, frame) in enumerate(frames) if number == index)


@pytest.fixture(scope="module", params=["pyscenedetect_testvideo.mp4", "skyar_annarbor_pan.mp4"])
def frame(request):
    """A yuv420p frame of real footage: 1280x720, and 960x544."""
    return frame_of(VIDEOS / request.param)


@pytest.mark.parametrize("step", [1, 3, 5])
def test_the_detection_frame_is_every_step_th_pixel_of_ffmpegs_own_conversion(frame, step):
    """The same BT.601 conversion as swscale's (to rounding); each pixel takes its nearest chroma
    sample, where swscale interpolates, so at colour edges of sampled frames it differs more."""
    assert frame.format.name == "yuv420p"
    small = detection_frame(frame, step)
    whole = frame.to_ndarray(format="bgr24")
    assert small.shape[:2] == (-(-frame.height // step) // 2 * 2, -(-frame.width // step) // 2 * 2)
    difference = np.abs(small.astype(int) - whole[::step, ::step][:small.shape[0], :small.shape[1]])
    assert difference.max() <= 5 if step == 1 else difference.mean() < 3.0


def test_analysis_copies_are_area_averages_of_the_whole_converted_frame(frame):
    whole = frame.to_ndarray(format="rgb24")
    size = analysis_size(frame.width, frame.height)
    expected_grey = cv2.resize(cv2.cvtColor(whole, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
    expected_colour = cv2.resize(whole, size, interpolation=cv2.INTER_AREA)
    grey, colour = analysis_grey_and_colour(frame)
    assert np.array_equal(grey, analysis_grey(frame))
    assert grey.shape == expected_grey.shape and colour.shape == expected_colour.shape
    assert np.abs(grey.astype(int) - expected_grey).mean() < 2.0
    assert np.abs(colour.astype(int) - expected_colour).mean() < 2.0
    assert np.percentile(np.abs(colour.astype(int) - expected_colour), 99) <= 8


def test_a_star_dims_rather_than_vanishing():
    """A 2x2 bright point on black at 1280x720: averaged to 256x144 it stays, at a fifth of its
    brightness, wherever it lies; sampling every 5th pixel would keep it or lose it by its place."""
    import av

    image = np.zeros((720, 1280, 3), np.uint8)
    image[301:303, 601:603] = 255
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
    grey, colour = analysis_grey_and_colour(frame)
    assert 20 <= grey.max() <= 60 and grey[60, 120] == grey.max()
    assert 20 <= colour.max() <= 60


@pytest.mark.parametrize("pixel_format", ["rgb24", "yuvj420p", "yuv444p"])
def test_other_pixel_formats_go_through_swscale(frame, pixel_format):
    other = frame.reformat(format=pixel_format)
    grey, colour = analysis_grey_and_colour(other)
    reference_grey, reference_colour = analysis_grey_and_colour(frame)
    assert grey.shape == reference_grey.shape and colour.shape == reference_colour.shape
    assert np.abs(grey.astype(int) - reference_grey).mean() < 3.0
    assert np.abs(colour.astype(int) - reference_colour).mean() < 4.0
    small, reference = detection_frame(other, 4), detection_frame(frame, 4)  # sampled at another phase
    assert small.shape == reference.shape
    assert np.abs(small.mean(axis=(0, 1)) - reference.mean(axis=(0, 1))).max() < 3.0


def test_a_frame_tagged_bt709_is_converted_with_bt709():
    """HD footage usually declares BT.709; FFmpeg converts it with that matrix, and so does the
    analysis colour. On saturated colours BT.601 would be off by tens of levels."""
    import av

    image = np.zeros((144, 256, 3), np.uint8)
    image[:, :96], image[:, 96:192], image[:, 192:] = (220, 40, 40), (40, 200, 60), (30, 50, 210)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p", dst_colorspace=1)
    frame.colorspace = 1  # AVCOL_SPC_BT709
    as_709 = frame.to_ndarray(format="rgb24")
    frame.colorspace = 5  # the same planes read as BT.601
    as_601 = frame.to_ndarray(format="rgb24")
    frame.colorspace = 1
    colour = analysis_grey_and_colour(frame)[1]
    assert np.abs(colour.astype(int) - as_709).mean() < 2.0
    assert np.abs(as_601.astype(int) - as_709).mean() > 8.0


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_copies_of_a_rotated_video_are_upright_as_precompute_reads_it(tmp_path, rotation):
    """A phone's portrait video is stored sideways with a display rotation; OpenCV's reader (and
    so precompute) turns it upright, and split's copies must show the same picture."""
    import subprocess

    from timelapse_d.frame_reader import read_frames
    from timelapse_d.media import ffmpeg_exe
    from timelapse_d.small_frames import upright_size

    rotated = tmp_path / "rotated.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-display_rotation", str(rotation), "-i",
                    str(VIDEOS / "skyar_annarbor_pan.mp4"), "-frames:v", "5", "-c", "copy", str(rotated)], check=True)
    frame = frame_of(rotated, 0)
    upright = next(read_frames(rotated, [0]))[1]  # (H, W, 3) RGB as precompute reads it
    assert upright_size(frame) == (upright.shape[1], upright.shape[0])
    grey, colour = analysis_grey_and_colour(frame)
    expected = cv2.resize(upright, analysis_size(*upright_size(frame)), interpolation=cv2.INTER_AREA)
    assert colour.shape == expected.shape and grey.shape == expected.shape[:2]
    assert np.abs(colour.astype(int) - expected).mean() < 2.0
    assert np.array_equal(analysis_grey(frame), grey)
    small = detection_frame(frame, 1)
    assert np.abs(small[..., ::-1].astype(int) - upright[:small.shape[0], :small.shape[1]]).mean() < 2.0


@pytest.mark.parametrize("factor", [2, 3, 4, 5, 6, 7, 16, 17])
def test_the_block_mean_is_opencvs_area_resize_byte_for_byte(factor):
    """Random planes, stripes of 0 and 253 (an even factor's blocks average 126.5: a tie, to even),
    and white (the largest sums), read as strided views as the decoder's planes are; 2 and 17 are
    OpenCV's own (its vector path; sums past 16 bits)."""
    from timelapse_d.small_frames import _block_mean

    random = np.random.default_rng(factor).integers(0, 256, (9 * factor, 16 * factor + 7), dtype=np.uint8)
    stripes = np.resize(np.array([0, 253], np.uint8), random.shape)
    for plane in (random, stripes, np.full_like(random, 255)):
        view = plane[:, :16 * factor]
        expected = cv2.resize(view, (16, 9), interpolation=cv2.INTER_AREA)
        assert np.array_equal(_block_mean(view, factor), expected)
