"""Reading chosen frames of a video as a stream: only the frames asked for are converted, and
never more than one frame is held.

A video is either a file OpenCV can decode (frame ``n`` is the ``n``-th decoded frame, 0-based,
the numbering the split stage used) or a folder of ``<name>_frames_XXXXXXXX.jpg`` files in
numbered subfolders (Sky Time-lapse), where frame ``n`` is the file numbered ``n``.

    >>> import tempfile, numpy as np
    >>> from timelapse_d.media import write_video
    >>> path = tempfile.mkdtemp() + "/ramp.mp4"
    >>> write_video(path, [np.full((16, 16, 3), 10 * i, np.uint8) for i in range(12)], fps=4)
    >>> [(n, round(frame.mean() / 10)) for n, frame in read_frames(path, [1, 5, 9])]
    [(1, 1), (5, 5), (9, 9)]
"""
from __future__ import annotations

import re
import threading
from pathlib import Path
from queue import Full, Queue
from typing import Iterable, Iterator

import numpy as np

from timelapse_d.media import VideoProbeError

_FRAME_NUMBER = re.compile(r"_frames_(\d{8})\.jpg$")


def frame_files(folder: str | Path, start: int, end: int) -> list[Path]:
    """The frame files of a frame-folder video numbered in [start, end), in order."""
    frames = {}
    for path in Path(folder).rglob("*_frames_*.jpg"):
        match = _FRAME_NUMBER.search(path.name)
        if match and start <= int(match.group(1)) < end:
            frames[int(match.group(1))] = path
    return [frames[number] for number in sorted(frames)]


def read_frames(path: str | Path, indices: Iterable[int], prefetch: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(n, frame)`` for each wanted frame number in increasing order; frame (H, W, 3) uint8 RGB.

    ``prefetch > 0`` decodes in a background thread, up to that many frames ahead, while the caller
    works on the previous ones (OpenCV releases the GIL while decoding).
    Raises VideoProbeError naming the video when it cannot be opened or ends before a wanted frame.
    """
    if prefetch > 0:
        yield from _prefetched(read_frames(path, indices), prefetch)
        return
    wanted = sorted(set(int(n) for n in indices))
    if not wanted:
        return
    if wanted[0] < 0:
        raise ValueError(f"frame numbers must be >= 0, got {wanted[0]}")
    path = Path(path)
    if path.is_dir():
        yield from _read_folder(path, wanted)
    else:
        yield from _read_file(path, wanted)


def _prefetched(frames: Iterator, depth: int) -> Iterator:
    """The same items, produced by a background thread at most ``depth`` ahead; its errors re-raised here."""
    done = object()
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in frames:
                while not stop.is_set():
                    try:
                        queue.put(item, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(done)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
            queue.put(error)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
        frames.close()


def _read_file(path: Path, wanted: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoProbeError(f"{path}: cannot be opened as a video")
    try:
        position = 0  # number of the next frame to decode
        for n in wanted:
            while position < n:  # decode without converting the frames nobody asked for
                if not capture.grab():
                    raise VideoProbeError(f"{path}: the video ends at frame {position}, before frame {n}")
                position += 1
            ok, bgr = capture.read()
            if not ok:
                raise VideoProbeError(f"{path}: the video ends at frame {position}, before frame {n}")
            position += 1
            yield n, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def _read_folder(folder: Path, wanted: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    import cv2

    files = {int(_FRAME_NUMBER.search(p.name).group(1)): p for p in frame_files(folder, wanted[0], wanted[-1] + 1)}
    for n in wanted:
        if n not in files:
            raise VideoProbeError(f"{folder}: no frame file numbered {n:08d}")
        bgr = cv2.imread(str(files[n]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise VideoProbeError(f"{files[n]}: not a decodable image")
        yield n, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
