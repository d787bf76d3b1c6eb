"""Downloads per second and MB/s of the download stage from a local HTTP server, per worker count.

    .venv/bin/python benchmarks/download_throughput.py --files 24 --workers 1,2,4

Serves ``--files`` mp4 files of a few MB each (H.264 noise, which does not compress) from
127.0.0.1, lists them in a ``urls`` link list, and runs discover -> download into a fresh work
directory per worker count, with ``max_per_host`` >= workers. The download stage's time covers
everything it does per video: yt-dlp's extraction request and download, the probe (every packet
read, the first 8 frames decoded), sha256 and the move into place. Loopback has no latency and no bandwidth limit, so this
measures the stage's own overhead, not a real host.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from timelapse_d.executors import EXECUTORS
from timelapse_d.manifest import read_rows
from timelapse_d.media import write_video
from timelapse_d.pipeline import Pipeline, run_pipeline
from timelapse_d.net.serve import LocalFileServer

PIPELINE = """
name = "download-bench"
[[stages]]
stage = "discover"
source = "urls"
path = "{links}"
[[stages]]
stage = "download"
allow_hosts = ["127.0.0.1"]
retries = 0
socket_timeout = 30.0
max_per_host = {max_per_host}
"""


def make_media(root: Path, files: int, frames: int, width: int, height: int) -> int:
    """``files`` copies of one noise video; returns its size in bytes."""
    rng = np.random.default_rng(0)
    first = root / "v000.mp4"
    write_video(first, [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(frames)], fps=12)
    for index in range(1, files):
        shutil.copyfile(first, root / f"v{index:03d}.mp4")
    return first.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma separated")
    parser.add_argument("--executor", default="local", choices=["local", "ray"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        media = Path(scratch) / "media"
        media.mkdir()
        size = make_media(media, args.files, args.frames, args.width, args.height)
        print(f"{args.files} mp4 files of {size / 1e6:.2f} MB ({args.width}x{args.height}, {args.frames} frames) "
              f"from 127.0.0.1, executor {args.executor}")
        print(f"{'workers':>7} {'seconds':>8} {'downloads/s':>11} {'MB/s':>8} {'ok':>4}")
        with LocalFileServer(media) as server:
            links = Path(scratch) / "links.txt"
            links.write_text("".join(f"{server.url}/v{i:03d}.mp4\n" for i in range(args.files)))
            for workers in (int(value) for value in args.workers.split(",")):
                work = Path(scratch) / f"work-{workers}"
                pipeline = Pipeline.parse(PIPELINE.format(links=links, max_per_host=max(2, workers)), "bench")
                started = time.perf_counter()
                reports = {report.stage: report for report in run_pipeline(
                    pipeline, work, EXECUTORS.get(args.executor)(workers=workers), progress=False)}
                seconds = reports["download"].seconds
                rows = read_rows(work, "videos")
                ok_bytes = sum(row["bytes"] or 0 for row in rows if row["status"] == "ok")
                ok = sum(row["status"] == "ok" for row in rows)
                print(f"{workers:>7} {seconds:>8.2f} {args.files / seconds:>11.2f} {ok_bytes / 1e6 / seconds:>8.1f} "
                      f"{ok:>4}   (whole run {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
