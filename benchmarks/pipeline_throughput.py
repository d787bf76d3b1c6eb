"""Seconds per stage of the synthetic discover -> download pipeline, per executor and worker count.

    .venv/bin/python benchmarks/pipeline_throughput.py --videos 8

Each configuration runs into a fresh temporary work directory. Discover is dominated by rendering
and encoding the synthetic videos; download by yt-dlp, hashing and the probe (every packet read, 8 frames decoded).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from timelapse_d.executors import EXECUTORS
from timelapse_d.pipeline import Pipeline, run_pipeline

PIPELINE = """
name = "bench"
[[stages]]
stage = "discover"
source = "synthetic"
videos = {videos}
seed = 1
width = {width}
height = {height}
[[stages]]
stage = "download"
allow_hosts = ["127.0.0.1"]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--configs", default="local:1,local:2,ray:2", help="executor:workers, comma separated")
    args = parser.parse_args()
    pipeline = Pipeline.parse(PIPELINE.format(videos=args.videos, width=args.width, height=args.height), "bench")
    print(f"{args.videos} synthetic videos at {args.width}x{args.height}")
    print(f"{'executor':10} {'workers':>7} {'discover s':>10} {'download s':>10} {'videos/s':>9}")
    for config in args.configs.split(","):
        name, workers = config.split(":")
        with tempfile.TemporaryDirectory() as work:
            started = time.perf_counter()
            seconds = {report.stage: report.seconds for report in run_pipeline(
                pipeline, Path(work), EXECUTORS.get(name)(workers=int(workers)), progress=False)}
            total = time.perf_counter() - started
        print(f"{name:10} {workers:>7} {seconds['discover']:>10.2f} {seconds['download']:>10.2f} "
              f"{args.videos / total:>9.2f}")


if __name__ == "__main__":
    main()
