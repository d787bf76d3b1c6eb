"""Flow accuracy and speed per estimator/preset: synthetic clips (exact backward GT) and real pairs.

    .venv/bin/python benchmarks/flow_accuracy.py [--seeds 3] [--frames 6]

Synthetic: 256x256 clips, one shot each, every category x camera motion, several seeds; EPE (px)
of ``estimate(frame_t, frame_t1)`` against the backward GT over non-occluded pixels, and ms per pair.
Real pairs (../shared/assets/flow): GT is FORWARD flow frame1 -> frame2, so the estimate compared is
``estimate_forward(frame1, frame2)`` (= ``estimate(frame2, frame1)``), at native resolution, over
KITTI's valid pixels / Sintel's valid, non-occluded pixels. Also the codec's bytes and max error.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from timelapse_d.flow import decode, encode, end_point_error, read_flo, read_kitti_flow, read_mask_png, read_rgb
from timelapse_d.flow.dis import DisConfig, DisFlow
from timelapse_d.flow.farneback import FarnebackConfig, FarnebackFlow
from timelapse_d.synthetic import CAMERA_MOTIONS, CATEGORIES, SyntheticConfig, render_frames

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets" / "flow"
VARIANTS = {
    "dis ultrafast": lambda: DisFlow(DisConfig(preset="ultrafast")),
    "dis fast": lambda: DisFlow(DisConfig(preset="fast")),
    "dis medium": lambda: DisFlow(DisConfig(preset="medium")),
    "dis medium, no var. refinement": lambda: DisFlow(DisConfig(preset="medium", variational_refinement_iterations=0)),
    "farneback": lambda: FarnebackFlow(FarnebackConfig()),
}


def synthetic_pairs(seeds: int, frames: int):
    """(category, camera, frame_t, frame_t1, gt backward flow, non-occluded mask) at 256x256."""
    for category in CATEGORIES:
        for camera in CAMERA_MOTIONS:
            for seed in range(seeds):
                cfg = SyntheticConfig(width=256, height=256, min_shots=1, max_shots=1, min_shot_frames=frames,
                                      max_shot_frames=frames, camera_motion_prob=0.0 if camera == "none" else 1.0,
                                      categories=(category,))
                # camera_motion_prob=1 gives a pan or a zoom; search seeds until the plan has the wanted one.
                s = seed * 1000
                while camera != "none" and _planned_camera(cfg, s) != camera:
                    s += 1
                prev = None
                for frame in render_frames(cfg, seed=s):
                    if prev is not None:
                        yield category, camera, prev.rgb, frame.rgb, frame.flow, ~frame.occlusion
                    prev = frame


def _planned_camera(cfg: SyntheticConfig, seed: int) -> str:
    from timelapse_d.synthetic import plan_shots

    return plan_shots(cfg, seed)[0].camera


def real_pairs():
    kitti = ASSETS / "kitti_real"
    flow, valid = read_kitti_flow(kitti / "flow_gt.png")
    yield "KITTI (real, valid px)", read_rgb(kitti / "frame1.png"), read_rgb(kitti / "frame2.png"), flow, valid
    sintel = ASSETS / "sintel_alley1_clean_SYNTHETIC"
    ok = ~read_mask_png(sintel / "gt" / "invalid" / "frame_0002.png") & ~read_mask_png(sintel / "gt" / "occlusions" / "frame_0002.png")
    yield ("Sintel alley_1 (CGI, non-occ.)", read_rgb(sintel / "frame_0002.png"), read_rgb(sintel / "frame_0003.png"),
           read_flo(sintel / "gt" / "frame_0002.flo"), ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=6, help="frames per clip (pairs = frames - 1)")
    args = parser.parse_args()
    pairs = list(synthetic_pairs(args.seeds, args.frames))
    reals = list(real_pairs())
    estimators = {name: make() for name, make in VARIANTS.items()}
    groups = sorted({(c, m) for c, m, *_ in pairs}, key=lambda g: (CATEGORIES.index(g[0]), CAMERA_MOTIONS.index(g[1])))

    epe: dict[str, dict] = {}
    ms: dict[str, float] = {}
    for name, est in estimators.items():
        est.estimate(pairs[0][2], pairs[0][3])  # warm-up
        per_group: dict[tuple, list] = {g: [] for g in groups}
        elapsed = 0.0
        for category, camera, a, b, gt, ok in pairs:
            started = time.perf_counter()
            flow = est.estimate(a, b)
            elapsed += time.perf_counter() - started
            per_group[(category, camera)].append(end_point_error(flow, gt, ok))
        ms[name] = 1000 * elapsed / len(pairs)
        epe[name] = {g: float(np.mean(v)) for g, v in per_group.items()}
        epe[name]["all"] = float(np.mean([e for v in per_group.values() for e in v]))
        for label, a, b, gt, ok in reals:
            started = time.perf_counter()
            flow = est.estimate_forward(a, b)
            epe[name][label] = (end_point_error(flow, gt, ok), 1000 * (time.perf_counter() - started))
    zero = {g: float(np.mean([end_point_error(np.zeros_like(gt), gt, ok) for c, m, _, _, gt, ok in pairs if (c, m) == g]))
            for g in groups}

    names = list(estimators)
    print(f"Synthetic 256x256: {len(pairs)} pairs, {args.seeds} seeds x {len(groups)} category/camera cells; "
          "mean EPE (px) over non-occluded pixels")
    print("| category | camera | zero flow | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for g in groups:
        print(f"| {g[0]} | {g[1]} | {zero[g]:.2f} | " + " | ".join(f"{epe[n][g]:.3f}" for n in names) + " |")
    print("| **all** | | | " + " | ".join(f"**{epe[n]['all']:.3f}**" for n in names) + " |")
    print("| ms per 256x256 pair | | | " + " | ".join(f"{ms[n]:.1f}" for n in names) + " |")
    print("\nReal pairs, native resolution, forward flow vs forward GT: EPE (px) / ms")
    print("| pair | size | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for label, a, *_ in reals:
        print(f"| {label} | {a.shape[1]}x{a.shape[0]} | " + " | ".join(f"{epe[n][label][0]:.2f} / {epe[n][label][1]:.0f}" for n in names) + " |")

    print("\nCodec on the synthetic 256x256 fields (bytes per field, max abs error px)")
    for label, fields in (("analytic GT", [gt for *_, gt, _ in pairs]),
                          ("dis medium estimate", [estimators["dis medium"].estimate(a, b) for _, _, a, b, _, _ in pairs[::5]])):
        sizes = [len(encode(f)) for f in fields]
        err = max(float(np.nanmax(np.abs(decode(encode(f)) - f))) for f in fields)
        print(f"- {label}: {len(fields)} fields, bytes mean {np.mean(sizes):.0f} (min {min(sizes)}, max {max(sizes)}), "
              f"max error {err:.5f} px (bound {1/128:.5f}); float16 {256*256*2*2} B, float32 {256*256*2*4} B")


if __name__ == "__main__":
    main()
