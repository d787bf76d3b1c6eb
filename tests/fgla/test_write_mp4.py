"""The MP4 writer of animations (``render.write_mp4``): frames encoded while they are made, on one
thread; the file decodes to the frames; a failure on either side leaves no file and no thread."""
import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from fgla_model import render
from fgla_model.render import ENCODER_QUEUE, check_x264, write_animation, write_mp4
from timelapse_d.errors import UsageError

STILLS = Path(__file__).resolve().parents[3] / "shared" / "assets" / "images" / "stills"
FRAMES, HEIGHT, WIDTH = 10, 96, 160


@pytest.fixture(scope="module")
def frames():
    """(FRAMES, HEIGHT, WIDTH, 3) uint8: a real still panned 3 px right per frame."""
    image = cv2.cvtColor(cv2.imread(str(STILLS / "al_coast_input1.png")), cv2.COLOR_BGR2RGB)
    image = cv2.resize(image, (WIDTH + 3 * FRAMES, HEIGHT), interpolation=cv2.INTER_AREA)
    return np.stack([image[:, 3 * t: 3 * t + WIDTH] for t in range(FRAMES)])


def decode(path):
    """The video's frames as RGB, (T, H, W, 3) uint8, and its stream's codec and pixel format."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoded = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(stream)])
        return decoded, stream.codec_context.name, stream.codec_context.pix_fmt


def psnr(a, b):
    """PSNR in dB of two uint8 arrays of one shape."""
    return 10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2))


def encoder_threads():
    return [thread for thread in threading.enumerate() if thread.name.startswith("mp4-encoder")]


def test_the_mp4_decodes_to_the_frames(tmp_path, frames):
    write_mp4(tmp_path / "a.mp4", iter(frames), fps=8)
    decoded, codec, pix_fmt = decode(tmp_path / "a.mp4")
    assert (decoded.shape, codec, pix_fmt) == (frames.shape, "h264", "yuv420p")
    # each frame close to its source (~36.8 dB at CRF 18; lossless yuv420p ~38.8, CRF 28 ~32.5, RGB read
    # as BGR ~18.5) and far from its neighbour (~22.5): frames dropped, repeated or reordered would fail
    own = [psnr(d, f) for d, f in zip(decoded, frames)]
    assert min(own) > 34, own
    assert all(psnr(d, f) < o - 5 for d, f, o in zip(decoded[1:], frames, own[1:])), own
    lossless = tmp_path / "lossless.mp4"
    write_animation(lossless, frames, fps=8, crf=0, preset="ultrafast")
    assert psnr(decode(lossless)[0], frames) > psnr(decoded, frames)  # CRF is the quality knob
    write_mp4(tmp_path / "b.mp4", frames, fps=8)
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()  # same frames, same bytes


def test_frames_are_encoded_as_they_are_made(tmp_path, frames, monkeypatch):
    encode, encoded, behind = render._encode, [], []
    monkeypatch.setattr(render, "_encode", lambda *args: (encode(*args), encoded.append(args[-1])))

    def made():
        for t, frame in enumerate(frames):
            behind.append(t - len(encoded))  # frames handed over but not yet encoded when frame t is made
            yield frame

    write_mp4(tmp_path / "a.mp4", made(), fps=8)
    assert len(encoded) == FRAMES + 1  # and the flush
    assert max(behind) <= ENCODER_QUEUE, behind


def test_a_failure_while_generating_leaves_no_file_and_no_thread(tmp_path, frames):
    def failing():
        yield from frames[:4]
        raise RuntimeError("generator broke")

    with pytest.raises(RuntimeError, match="generator broke"):
        write_mp4(tmp_path / "a.mp4", failing(), fps=8)
    assert list(tmp_path.iterdir()) == [] and encoder_threads() == []
    (tmp_path / "b.mp4").write_bytes(b"the previous video")
    with pytest.raises(RuntimeError, match="generator broke"):
        write_mp4(tmp_path / "b.mp4", failing(), fps=8)
    assert list(tmp_path.iterdir()) == [tmp_path / "b.mp4"]  # the previous file, untouched
    assert (tmp_path / "b.mp4").read_bytes() == b"the previous video"


def test_an_encoder_error_stops_generation_and_leaves_no_file_and_no_thread(tmp_path, frames, monkeypatch):
    encode = render._encode
    calls = []

    def breaks_at_the_third(out, stream, frame):
        calls.append(frame)
        if len(calls) == 3:
            raise OSError("disk full")
        encode(out, stream, frame)

    def endless():
        while True:
            yield frames[0]

    monkeypatch.setattr(render, "_encode", breaks_at_the_third)
    with pytest.raises(OSError, match="disk full"):
        write_mp4(tmp_path / "a.mp4", endless(), fps=8)
    assert len(calls) <= 3 + ENCODER_QUEUE  # generation stopped soon after
    assert list(tmp_path.iterdir()) == [] and encoder_threads() == []


def test_bad_frames_and_settings_are_named(tmp_path, frames):
    with pytest.raises(ValueError, match="even sizes, got 159x96"):
        write_mp4(tmp_path / "a.mp4", [frames[0][:, :159]], fps=8)
    with pytest.raises(ValueError, match="a frame is 80x96, the first was 160x96"):
        write_mp4(tmp_path / "a.mp4", [frames[0], frames[1][:, :80]], fps=8)
    with pytest.raises(ValueError, match="no frames"):
        write_mp4(tmp_path / "a.mp4", [], fps=8)
    assert list(tmp_path.iterdir()) == [] and encoder_threads() == []
    with pytest.raises(UsageError, match="--crf .* got 52"):
        check_x264(52, "veryfast")
    with pytest.raises(UsageError, match="--preset .* got 'quick'"):
        check_x264(18, "quick")
