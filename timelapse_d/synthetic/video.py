"""Write a synthetic video and its ground truth: ``{name}.mp4``, ``{name}.gt.npz``, ``{name}.gt.json``.

Each file is written under a temporary name in ``out_dir``, fsynced and renamed into place; the
json goes last and is the completion marker (a video is complete iff its json exists).

    >>> import tempfile
    >>> cfg = SyntheticConfig(width=64, height=48, min_shots=2, max_shots=2,
    ...                       min_shot_frames=3, max_shot_frames=3)
    >>> meta = generate_video(tempfile.mkdtemp(), "demo", cfg, seed=7)
    >>> meta["frames"], meta["cuts"]
    (6, [3])
"""
from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ..atomic import fsync_path
from ..media import write_video
from .scene import SyntheticConfig, plan_shots, render_frames
from .semantics import SEMANTICS

FLOW_CONVENTION = ("flow[t] is the backward flow of the pair (frame t, frame t+1) on frame t+1's grid, "
                   "in pixels, channel 0 = x (right), channel 1 = y (down): I[t+1](p) = I[t](p + flow[t](p)); "
                   "NaN on pairs spanning a cut; occlusion[t] marks pixels where this does not hold")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps make the npz bytes deterministic


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or name.startswith(".") or any(c in name for c in "/\\\0"):
        raise ValueError(f"generate_video: name must be a plain file stem (no path separators, no leading dot), "
                         f"got {name!r}")


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed, but byte-for-byte reproducible (fixed zip entry timestamps)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.ascontiguousarray(array), allow_pickle=False)


def generate_video(out_dir: str | Path, name: str, config: SyntheticConfig, seed: int) -> dict:
    """Writes out_dir/{name}.mp4 (H.264 via media.write_video), out_dir/{name}.gt.npz and out_dir/{name}.gt.json.

    Each file is written to a temporary name in out_dir and renamed into place (os.replace) only
    when complete, the json last (it is the completion marker). Returns the json's content.
    """
    _check_name(name)
    if not isinstance(config, SyntheticConfig):
        raise TypeError(f"generate_video: config must be a SyntheticConfig, got {type(config).__name__}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shots = plan_shots(config, seed)
    T, H, W = shots[-1].end, config.height, config.width
    semantics = np.empty((T, H, W), np.uint8)
    flow = np.empty((T - 1, H, W, 2), np.float16)
    occlusion = np.empty((T - 1, H, W), bool)

    failure: list[BaseException] = []

    def frames():
        try:
            for frame in render_frames(config, seed):
                semantics[frame.index] = frame.semantics
                if frame.flow is not None:
                    flow[frame.index - 1] = frame.flow
                    occlusion[frame.index - 1] = frame.occlusion
                yield frame.rgb
        except Exception as exc:  # end the stream so the encoder closes cleanly; re-raised below
            failure.append(exc)

    meta = {
        "name": name,
        "seed": int(seed),
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()},
        "width": W, "height": H, "fps": config.fps, "frames": T,
        "cuts": [shot.start for shot in shots[1:]],
        "shots": [{**dataclasses.asdict(shot), "pan_px_per_frame": list(shot.pan_px_per_frame)} for shot in shots],
        "semantics": list(SEMANTICS),
        "flow_convention": FLOW_CONVENTION,
    }
    final = {kind: out_dir / f"{name}{kind}" for kind in (".mp4", ".gt.npz", ".gt.json")}
    # temporary names keep the real extension: ffmpeg picks the container from it
    tmp = {kind: out_dir / f".{name}.partial-{os.getpid()}{kind}" for kind in final}
    try:
        try:
            write_video(tmp[".mp4"], frames(), config.fps)
        except ValueError:
            if not failure:  # a failure before the first frame shows as "no frames"
                raise
        if failure:
            raise failure[0]
        fsync_path(tmp[".mp4"])
        _write_npz(tmp[".gt.npz"], {"semantics": semantics, "flow": flow, "occlusion": occlusion})
        fsync_path(tmp[".gt.npz"])
        tmp[".gt.json"].write_text(json.dumps(meta, indent=2) + "\n")
        fsync_path(tmp[".gt.json"])
        for kind in (".mp4", ".gt.npz", ".gt.json"):  # json last: the completion marker
            os.replace(tmp[kind], final[kind])
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)
    return meta


def load_ground_truth(out_dir: str | Path, name: str) -> tuple[dict, dict[str, np.ndarray]]:
    """(the json dict, the arrays of the npz: semantics, flow, occlusion), loaded without pickle."""
    _check_name(name)
    out_dir = Path(out_dir)
    meta = json.loads((out_dir / f"{name}.gt.json").read_text())
    with np.load(out_dir / f"{name}.gt.npz", allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    return meta, arrays
