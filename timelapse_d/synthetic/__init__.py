"""Procedural time-lapse videos with exact ground truth: the project's embedded default source.

Scenes of the paper's semantics (drifting clouds, rippling water, a falling waterfall, swaying
trees and grass, static ground), several shots per video separated by hard cuts, some shots with
a camera pan or zoom. Every frame comes with its semantic map and the analytic backward flow
(and occlusion) of the pair it ends. Conventions: docs/synthetic.md.

    >>> import numpy as np, cv2
    >>> from timelapse_d.synthetic import SyntheticConfig, render_frames, SEMANTICS
    >>> cfg = SyntheticConfig(width=96, height=64, min_shots=1, max_shots=1,
    ...                       min_shot_frames=2, max_shot_frames=2, categories=("cloud",))
    >>> first, second = render_frames(cfg, seed=3)
    >>> gy, gx = np.mgrid[0:64, 0:96].astype(np.float32)
    >>> warped = cv2.remap(first.rgb, gx + second.flow[..., 0], gy + second.flow[..., 1], cv2.INTER_LINEAR)
    >>> ok = ~second.occlusion
    >>> bool(np.abs(warped[ok].astype(int) - second.rgb[ok]).mean() < 1.0)
    True
    >>> SEMANTICS[second.semantics[0, 0]]
    'sky'

Files on disk: ``generate_video(out_dir, name, config, seed)`` writes ``{name}.mp4``,
``{name}.gt.npz`` and ``{name}.gt.json``; ``load_ground_truth(out_dir, name)`` reads them back.
"""
from .categories import CATEGORIES
from .scene import CAMERA_MOTIONS, FrameGT, ShotGT, SyntheticConfig, plan_shots, render_frames
from .semantics import SEMANTICS
from .video import FLOW_CONVENTION, generate_video, load_ground_truth

__all__ = [
    "CAMERA_MOTIONS", "CATEGORIES", "SEMANTICS", "FLOW_CONVENTION", "FrameGT", "ShotGT", "SyntheticConfig",
    "plan_shots", "render_frames", "generate_video", "load_ground_truth",
]
