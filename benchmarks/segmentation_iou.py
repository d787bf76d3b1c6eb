"""Mask IoU of the segmenters against ../shared/assets/seg/ (docs/segmentation.md has the results).

    .venv/bin/python benchmarks/segmentation_iou.py                      # what can run without weights
    .venv/bin/python benchmarks/segmentation_iou.py --weights DIR_OR_HUB_NAME [--device cuda]

Without weights it measures one honest thing: how far the group table's ``sky`` (the ADE label map
mapped through the table) agrees with SkyAR's refined sky mask of the same image (threshold 128),
on the images that have both (ADE_val_00000001 only). That is agreement between two annotations,
not a segmenter's accuracy. The ADE label maps mapped through the table against themselves (1.0)
and the oracle against the synthetic ground truth (1.0 by construction) are not reported.

With ``--weights`` (real ADE20K SegFormer weights; none can be downloaded here) it also measures:
per-group IoU of the ``segformer`` segmenter against the ADE label maps mapped through the table
(unlabeled pixels ignored), sky IoU against the 8 SkyAR sky masks, and the IoU of its fluid region
(sky | water | waterfall) against the two 3D-cinemagraphy motion masks (approximate: those masks
mark the region to animate, drawn by hand).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from timelapse_d.segmentation import GROUPS, SEGMENTERS, ade_to_groups  # noqa: E402

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets"
SEG = ASSETS / "seg"
SKY = GROUPS.index("sky")
FLUID = [GROUPS.index(g) for g in ("sky", "water", "waterfall")]


def iou(a: np.ndarray, b: np.ndarray, valid: np.ndarray | None = None) -> float | None:
    """IoU of two boolean masks over the valid pixels; None where both are empty."""
    if valid is not None:
        a, b = a & valid, b & valid
    union = int((a | b).sum())
    return None if union == 0 else int((a & b).sum()) / union


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(path)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_grey(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise FileNotFoundError(path)
    return image if image.ndim == 2 else image[..., 0]


def table_sky_vs_skyar() -> list[dict]:
    rows = []
    for mask_path in sorted((SEG / "ade20k_sky_masks").glob("*_skymask.png")):
        stem = mask_path.name[: -len("_skymask.png")]
        label_path = SEG / "ade20k_150class" / f"{stem}.png"
        if label_path.exists():
            table_sky = ade_to_groups(read_grey(label_path)) == SKY
            skyar_sky = read_grey(mask_path) >= 128
            rows.append({"image": stem, "sky_iou": iou(table_sky, skyar_sky),
                         "sky_fraction_table": float(table_sky.mean()), "sky_fraction_skyar": float(skyar_sky.mean())})
    return rows


def segformer_rows(weights: str, device: str) -> dict:
    from timelapse_d.segmentation.segformer import SegformerConfig

    segmenter = SEGMENTERS.get("segformer")(SegformerConfig(weights=weights, device=device))
    result: dict = {"params": segmenter.params(), "ade_val": [], "skyar_sky": [], "cinemagraph_fluid": []}
    per_group: dict[str, list[int]] = {g: [0, 0] for g in GROUPS}  # intersection, union summed over images
    for label_path in sorted((SEG / "ade20k_150class").glob("ADE_val_*.png")):
        label = read_grey(label_path)
        truth, valid = ade_to_groups(label), label > 0
        pred = segmenter.segment(read_rgb(label_path.with_suffix(".jpg")))
        row = {"image": label_path.stem}
        for g, name in enumerate(GROUPS):
            a, b = (pred == g) & valid, (truth == g) & valid
            per_group[name][0] += int((a & b).sum())
            per_group[name][1] += int((a | b).sum())
            row[name] = iou(a, b)
        result["ade_val"].append(row)
    result["ade_val_pooled"] = {g: (i / u if u else None) for g, (i, u) in per_group.items()}
    for mask_path in sorted((SEG / "ade20k_sky_masks").glob("*_skymask.png")):
        image = read_rgb(mask_path.with_name(mask_path.name.replace("_skymask.png", ".jpg")))
        pred = segmenter.segment(image)
        result["skyar_sky"].append({"image": mask_path.name, "sky_iou": iou(pred == SKY, read_grey(mask_path) >= 128)})
    for mask_path in sorted((SEG / "cinemagraph_motion_masks").glob("*_mask.png")):
        stem = mask_path.name[: -len("_mask.png")]
        stills = sorted((ASSETS / "images" / "stills").glob(f"{stem}.*"))
        if not stills:
            continue
        mask = read_grey(mask_path) >= 128
        image = cv2.resize(read_rgb(stills[0]), (mask.shape[1], mask.shape[0]), interpolation=cv2.INTER_AREA)
        pred = segmenter.segment(image)
        result["cinemagraph_fluid"].append({"image": stem, "fluid_iou": iou(np.isin(pred, FLUID), mask)})
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", help="ADE20K-150 SegFormer weights: a local directory or a hub name")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    report: dict = {"table_sky_vs_skyar_sky_mask": table_sky_vs_skyar()}
    if args.weights:
        report["segformer"] = segformer_rows(args.weights, args.device)
    else:
        report["segformer"] = ("not measured: no ADE20K weights here (pass --weights DIR_OR_HUB_NAME); "
                               "a randomly initialised model's masks are noise and are not reported")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
