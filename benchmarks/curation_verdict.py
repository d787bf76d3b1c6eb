"""The usable / not-usable verdict and the first category per clip, against the synthetic ground truth.

    .venv/bin/python benchmarks/curation_verdict.py [--out work/curation] [--json FILE]

For each seed (calibration: 5 and 6, 24 videos each, camera motion in half the shots; held out:
100, 64 videos, camera motion in 30 % of the shots), pipelines/demo.toml runs discover and
download (reused when already there), then split afresh (the scores are the current code's).
Split runs with the oracle segmenter (demo.toml's). Each clip is matched to its shot's truth
(category, camera). Reported per category: still-camera clips the automatic verdict keeps (usable:
camera still and the scene moves), camera-moving clips it drops, and clips whose first category
is the shot's. Goals (issue 13): every category's still-camera clips >= 90 % kept, pans and zooms
>= 95 % dropped, >= 95 % of first categories right; and the real handheld pan
(skyar_annarbor_pan.mp4, no segmenter) dropped.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT.parent / "shared" / "assets" / "videos"
SETS = {"calibration": ((5, 24, 0.5), (6, 24, 0.5)), "held-out": ((100, 64, 0.3),)}


def pipeline_text(seed: int, videos: int, camera_motion_prob: float) -> str:
    text = (ROOT / "pipelines" / "demo.toml").read_text()
    for key, value in (("name", f'"curation-s{seed}"'), ("videos", videos), ("seed", seed),
                       ("camera_motion_prob", camera_motion_prob)):
        text = re.sub(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
    return text


def split_fresh(out: Path, seed: int, videos: int, camera_motion_prob: float) -> Path:
    """A work directory of the seed's videos, split by the current code."""
    work, toml = out / f"s{seed}", out / f"s{seed}.toml"
    toml.write_text(pipeline_text(seed, videos, camera_motion_prob))
    cli = [sys.executable, "-m", "timelapse_d.cli"]
    subprocess.run([*cli, "run", str(toml), "--work", str(work), "--until", "download", "--workers", "2",
                    "--no-progress"], check=True)
    (work / "manifests" / "clips.parquet").unlink(missing_ok=True)
    shutil.rmtree(work / "clips", ignore_errors=True)
    subprocess.run([*cli, "split", "--work", str(work), "--workers", "2", "--no-progress"], check=True)
    return work


def verdicts(work: Path) -> list[dict]:
    """Per ok clip: its shot's category and camera, and whether the automatic verdict keeps it."""
    from timelapse_d.labelling.auto import auto_label
    from timelapse_d.manifest import read_rows

    shots = {}
    for source in read_rows(work, "sources"):
        truth = json.loads(source["metadata"])["ground_truth"]
        shots[source["source_id"]] = json.loads((work / truth).read_text())["shots"]
    rows = []
    for clip in read_rows(work, "clips"):
        if clip["status"] != "ok":
            continue
        shot = next(s for s in shots[clip["video_id"]] if s["start"] <= clip["start_frame"] < s["end"])
        rows.append({"category": shot["category"], "camera": shot["camera"],
                     "kept": auto_label(clip, [])["usable"], "first": (clip["categories"] or [None])[0]})
    return rows


def table(rows: list[dict]) -> dict[str, dict]:
    counts: dict[str, dict] = defaultdict(lambda: {"still": 0, "still_kept": 0, "moving": 0, "moving_dropped": 0,
                                                   "clips": 0, "first_right": 0})
    for row in rows:
        for key in (row["category"], "all"):
            counts[key]["clips"] += 1
            counts[key]["first_right"] += row["first"] == row["category"]
            if row["camera"] == "none":
                counts[key]["still"] += 1
                counts[key]["still_kept"] += row["kept"]
            else:
                counts[key]["moving"] += 1
                counts[key]["moving_dropped"] += not row["kept"]
    return {key: {**c, "kept_share": c["still_kept"] / max(1, c["still"]),
                  "dropped_share": c["moving_dropped"] / max(1, c["moving"]),
                  "first_right_share": c["first_right"] / max(1, c["clips"])} for key, c in sorted(counts.items())}


def real_pan() -> str:
    from timelapse_d.camera_motion import camera_verdict
    from timelapse_d.stages.split import ClipMeasure, SplitConfig, detect_scenes

    found = detect_scenes(ASSETS / "skyar_annarbor_pan.mp4", SplitConfig(), ClipMeasure(SplitConfig(), {}, [], "."))
    return camera_verdict(found.scores[found.ranges[0]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "work" / "curation")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report, goals_met = {}, True
    for name, seeds in SETS.items():
        rows = [row for spec in seeds for row in verdicts(split_fresh(args.out, *spec))]
        report[name] = table(rows)
        print(f"\n{name} (seeds {', '.join(str(spec[0]) for spec in seeds)}, {len(rows)} clips)")
        print(f"{'category':10s} {'still-camera kept':>20s} {'camera-moving dropped':>24s} {'first category right':>22s}")
        for category, c in report[name].items():
            print(f"{category:10s} {c['still_kept']:>4d}/{c['still']:<4d} {c['kept_share']:>6.0%}"
                  f"      {c['moving_dropped']:>4d}/{c['moving']:<4d} {c['dropped_share']:>6.0%}"
                  f"      {c['first_right']:>4d}/{c['clips']:<4d} {c['first_right_share']:>6.0%}")
        if name == "held-out":
            goals_met = (all(c["kept_share"] >= 0.9 for k, c in report[name].items() if k != "all")
                         and report[name]["all"]["dropped_share"] >= 0.95
                         and report[name]["all"]["first_right_share"] >= 0.95)
    report["real_handheld_pan"] = real_pan()
    print(f"\nreal handheld pan (skyar_annarbor_pan.mp4): {report['real_handheld_pan']}")
    print(f"goals (held-out: every category >= 90 % kept, >= 95 % of camera moves dropped, >= 95 % of first "
          f"categories right): "
          f"{'met' if goals_met else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
