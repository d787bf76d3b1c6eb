"""One shard sample: a clip's kept frames, the backward flow of each consecutive kept pair, the
group map of each frame and a json of provenance. The entries (``<key>.<name>`` in the tar):

    0000.jpg  0001.jpg ...        kept frame i, RGB, JPEG (quality in the json), or .png (lossless)
    0000.mask.png ...             group ids of frame i, (H, W) 8-bit PNG, 0..5 = GROUPS
    0000.flow ...                 backward flow F_i of the pair (i, i+1), on frame i+1's grid:
                                  frame_{i+1}(p) = frame_i(p + F_i(p)); pixels of the stored size,
                                  x right / y down; timelapse_d.flow.codec (error <= 1/128 px)
    json                          provenance: keys, frame numbers in the source video, sizes, fps,
                                  estimator / segmenter and their parameters, license, attribution

A clip with n kept frames has n frame and mask entries and n - 1 flow entries. Keys have no dots
(WebDataset splits a name at its first dot into key and entry).

    >>> import numpy as np
    >>> frames = [np.full((4, 6, 3), v, np.uint8) for v in (0, 255)]
    >>> entries = sample_entries(frames, [np.zeros((4, 6), np.uint8)] * 2, [np.ones((4, 6, 2), np.float32)],
    ...                          {"sample_key": "k"}, frame_format="png")
    >>> sorted(entries)
    ['0000.flow', '0000.mask.png', '0000.png', '0001.mask.png', '0001.png', 'json']
    >>> int(decode_frame(entries[frame_entry(1, "png")]).max()), frame_names(entries)
    (255, ['0000.png', '0001.png'])
"""
from __future__ import annotations

import json
import re

import numpy as np

from timelapse_d.flow import codec

FRAME_FORMATS = ("jpg", "png")
META = "json"
_FRAME = re.compile(r"^(\d{4,})\.(jpg|png)$")


def frame_entry(index: int, frame_format: str = "jpg") -> str:
    return f"{index:04d}.{frame_format}"


def mask_entry(index: int) -> str:
    return f"{index:04d}.mask.png"


def flow_entry(index: int) -> str:
    """The flow of the pair (index, index + 1)."""
    return f"{index:04d}.flow"


def encode_frame(frame: np.ndarray, frame_format: str = "jpg", quality: int = 95) -> bytes:
    """(H, W, 3) uint8 RGB -> JPEG (4:2:0, ``quality``) or PNG bytes, byte-identical for identical input."""
    import cv2

    if frame_format not in FRAME_FORMATS:
        raise ValueError(f"frame_format must be one of {FRAME_FORMATS}, got {frame_format!r}")
    bgr = np.ascontiguousarray(frame[..., ::-1])
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if frame_format == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 6]
    ok, data = cv2.imencode(f".{frame_format}", bgr, params)
    assert ok, "OpenCV encodes any uint8 image"
    return data.tobytes()


def decode_frame(data: bytes) -> np.ndarray:
    """JPEG or PNG bytes -> (H, W, 3) uint8 RGB."""
    import cv2

    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("a frame entry is not a decodable image")
    return bgr[..., ::-1].copy()


def encode_groups(groups: np.ndarray) -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", groups, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok, "OpenCV encodes any uint8 map"
    return data.tobytes()


def decode_groups(data: bytes) -> np.ndarray:
    """8-bit PNG bytes -> (H, W) uint8 group ids."""
    import cv2

    groups = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if groups is None or groups.ndim != 2:
        raise ValueError("a mask entry is not an 8-bit single-channel PNG")
    return groups


class SampleBuilder:
    """Encodes a clip's frames as they come, so only bytes are held: ``add`` each kept frame with
    its group map and, from the second on, the flow from the previous frame; then ``entries``.

    With an ``encoder`` (a ``concurrent.futures`` thread pool) the encoding runs beside the
    caller's next flow estimate (OpenCV and zlib release the GIL); at most ``MAX_PENDING`` frames
    wait to be encoded.
    """

    MAX_PENDING = 4

    def __init__(self, frame_format: str = "jpg", quality: int = 95, encoder=None):
        self.frame_format, self.quality, self.encoder = frame_format, quality, encoder
        self._entries: dict[str, bytes] = {}
        self._pending: list = []  # futures of entry dicts, oldest first
        self.count = 0

    def _encode(self, index: int, frame: np.ndarray, groups: np.ndarray, flow: np.ndarray | None) -> dict[str, bytes]:
        entries = {frame_entry(index, self.frame_format): encode_frame(frame, self.frame_format, self.quality),
                   mask_entry(index): encode_groups(groups)}
        if flow is not None:
            entries[flow_entry(index - 1)] = codec.encode(flow)
        return entries

    def add(self, frame: np.ndarray, groups: np.ndarray, flow: np.ndarray | None) -> None:
        assert (flow is None) == (self.count == 0), "every frame but the first comes with its flow"
        if self.encoder is None:
            self._entries.update(self._encode(self.count, frame, groups, flow))
        else:
            self._pending.append(self.encoder.submit(self._encode, self.count, frame, groups, flow))
            while len(self._pending) > self.MAX_PENDING:
                self._entries.update(self._pending.pop(0).result())
        self.count += 1

    def entries(self, meta: dict) -> dict[str, bytes]:
        """The sample's entries (without ``__key__``)."""
        while self._pending:
            self._entries.update(self._pending.pop(0).result())
        return {**dict(sorted(self._entries.items())), META: json.dumps(meta, sort_keys=True).encode()}


def sample_entries(frames: list[np.ndarray], groups: list[np.ndarray], flows: list[np.ndarray], meta: dict,
                   frame_format: str = "jpg", quality: int = 95) -> dict[str, bytes]:
    """The entries of one sample (without ``__key__``); flows[i] belongs to the pair (i, i + 1)."""
    assert len(frames) == len(groups) == len(flows) + 1, (len(frames), len(groups), len(flows))
    builder = SampleBuilder(frame_format, quality)
    for i, (frame, group_map) in enumerate(zip(frames, groups)):
        builder.add(frame, group_map, flows[i - 1] if i else None)
    return builder.entries(meta)


def frame_names(entries: dict) -> list[str]:
    """The frame entries of a sample, in frame order."""
    return sorted((name for name in entries if _FRAME.match(name)), key=lambda name: int(_FRAME.match(name).group(1)))


class ClipSample:
    """A read-only view of one sample's entries that decodes only what is asked for.

    ``entries`` is what a tar reader yields (``__key__`` plus entry -> bytes), e.g. one element of
    ``webdataset.WebDataset(urls)`` or of ``timelapse_d.shards.read_samples(path)``.
    """

    def __init__(self, entries: dict):
        self.key = entries["__key__"]
        self.entries = entries
        self.frame_names = frame_names(entries)
        self.meta = json.loads(entries[META])
        if len(self.frame_names) != len(self.meta["frame_indices"]):
            raise ValueError(f"sample {self.key!r}: {len(self.frame_names)} frames but "
                             f"{len(self.meta['frame_indices'])} frame indices in its json")

    def __len__(self) -> int:
        """The number of kept frames."""
        return len(self.frame_names)

    def frame(self, index: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        return decode_frame(self.entries[self.frame_names[index]])

    def groups(self, index: int) -> np.ndarray:
        """(H, W) uint8 group ids."""
        return decode_groups(self.entries[mask_entry(index)])

    def flow(self, index: int) -> np.ndarray:
        """(H, W, 2) float32 backward flow of the pair (index, index + 1), pixels of the stored size."""
        if not 0 <= index < len(self) - 1:
            raise IndexError(f"sample {self.key!r} has flows 0..{len(self) - 2}, not {index}")
        return codec.decode(self.entries[flow_entry(index)])
