"""``oracle``: the masks that came with a source, for sources that ship them (the synthetic one).

It does not look at pixels. The precompute stage calls it once per kept frame of a clip with a
reference to the video's ground truth and the frame's index IN THE SOURCE VIDEO (the clip's
``start_frame`` plus the offset of the frame in the clip), so the subsampling (one frame in 4)
and clip boundaries stay the caller's business and the oracle stays a plain lookup:

    for k in range(clip["start_frame"], clip["end_frame"], 4):
        groups = oracle.segment_frame(work / metadata["ground_truth"], k)

``video_ref`` is the path of a synthetic ``{name}.gt.json`` (what the synthetic source writes in
its row's ``metadata["ground_truth"]``, relative to the work dir) or of its ``{name}.gt.npz``. The
semantics of the last video read are cached, so a clip costs one npz read. ``resize_to=(w, h)``
resizes the masks with nearest neighbour to the size the other precomputed arrays have (256x256 in
the paper); ``None`` keeps the source's size.

    >>> import tempfile
    >>> from timelapse_d.synthetic import SyntheticConfig, generate_video, render_frames
    >>> from timelapse_d.segmentation import SEGMENTERS
    >>> cfg = SyntheticConfig(width=64, height=32, min_shots=1, max_shots=1, min_shot_frames=3, max_shot_frames=3)
    >>> out = tempfile.mkdtemp()
    >>> _ = generate_video(out, "v", cfg, seed=0)
    >>> oracle = SEGMENTERS.get("oracle")()
    >>> truth = list(render_frames(cfg, seed=0))[2].semantics
    >>> bool((oracle.segment_frame(f"{out}/v.gt.json", 2) == truth).all())
    True
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import Segmenter, check_group_map
from .groups import GROUPS


@dataclass(frozen=True)
class OracleConfig:
    """``resize_to``: None (the source's size) or (width, height) > 0, nearest-neighbour resize."""

    resize_to: tuple[int, int] | None = None

    def __post_init__(self):
        size = self.resize_to
        if size is not None and not (isinstance(size, (tuple, list)) and len(size) == 2
                                     and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
            raise ValueError(f"OracleConfig.resize_to must be None or (width, height) positive ints, got {size!r}")
        if size is not None:
            object.__setattr__(self, "resize_to", tuple(size))


def _npz_path(video_ref: str | Path) -> Path:
    path = Path(video_ref)
    name = path.name
    for suffix in (".gt.json", ".gt.npz"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".gt.npz")
    raise ValueError(f"video_ref must be a '{{name}}.gt.json' or '{{name}}.gt.npz' path, got {str(video_ref)!r}")


class OracleSegmenter(Segmenter):
    name = "oracle"
    config_class = OracleConfig
    needs_source_masks = True

    def __init__(self, config: OracleConfig | None = None):
        super().__init__(config)
        self._cached: tuple[Path, np.ndarray] | None = None  # (npz path, semantics (T, H, W) uint8)

    def groups_from(self, frame_rgb: np.ndarray) -> np.ndarray:
        raise TypeError("the oracle segmenter reads the masks shipped with a source, not pixels: "
                        "call segment_frame(video_ref, frame_index)")

    def semantics(self, video_ref: str | Path) -> np.ndarray:
        """All the ground-truth group maps of a video, (T, H, W) uint8 (cached: the last video read)."""
        path = _npz_path(video_ref)
        if self._cached is None or self._cached[0] != path:
            if not path.exists():
                raise FileNotFoundError(f"no ground truth at {path} (from video_ref {str(video_ref)!r})")
            with np.load(path, allow_pickle=False) as archive:
                semantics = archive["semantics"]
            if semantics.ndim != 3 or semantics.dtype != np.uint8 or (semantics.size and semantics.max() >= len(GROUPS)):
                raise ValueError(f"{path}: semantics must be (T, H, W) uint8 in 0..{len(GROUPS) - 1}, "
                                 f"got {semantics.shape} {semantics.dtype}")
            self._cached = (path, semantics)
        return self._cached[1]

    def segment_frame(self, video_ref: str | Path, frame_index: int) -> np.ndarray:
        """Ground-truth groups of frame ``frame_index`` (0-based, in the source video): (H, W) uint8."""
        semantics = self.semantics(video_ref)
        if isinstance(frame_index, bool) or not isinstance(frame_index, (int, np.integer)) \
                or not 0 <= frame_index < len(semantics):
            raise IndexError(f"frame_index must be an int in 0..{len(semantics) - 1} for {video_ref}, got {frame_index!r}")
        groups = semantics[int(frame_index)]
        if self.config.resize_to is not None:
            import cv2

            groups = cv2.resize(groups, self.config.resize_to, interpolation=cv2.INTER_NEAREST)
        shape = groups.shape if self.config.resize_to is None else self.config.resize_to[::-1]
        return check_group_map(np.ascontiguousarray(groups), shape)
