"""Download + split against one bare decode, in CPU seconds, on real footage at 720p and 1080p.

    .venv/bin/python benchmarks/decode_once.py [--repeats 3]

Sources: the real 1280x720 test video (../shared/assets/videos/pyscenedetect_testvideo.mp4, 720
frames), and the same scaled to 1920x1080. Each is served from 127.0.0.1 and goes through the real
pipeline in this process (``--workers 1`` runs stages in the calling process): discover (not
counted), then download (yt-dlp, the probe, sha256, the move) and split (PySceneDetect's content
detector, the sampled pairs and their camera-motion and category scores, no segmenter), each
counted as the CPU seconds (user + system, every thread, the loopback server's included) of its
``run_pipeline`` call. The floor is one bare decode of the same file with PyAV: every frame
decoded, nothing converted. Goal (issue 15): download + split <= 1.3x the floor. A first run on
a small video loads the libraries, so imports are not counted. Medians of ``--repeats``, with the
floor timed between the runs it is compared with.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT.parent / "shared" / "assets" / "videos" / "pyscenedetect_testvideo.mp4"
sys.path.insert(0, str(ROOT))

from timelapse_d.executors import EXECUTORS  # noqa: E402
from timelapse_d.manifest import read_rows  # noqa: E402
from timelapse_d.media import ffmpeg_exe  # noqa: E402
from timelapse_d.net.serve import LocalFileServer  # noqa: E402
from timelapse_d.pipeline import Pipeline, run_pipeline  # noqa: E402

PIPELINE = """
name = "decode-once-bench"
[[stages]]
stage = "discover"
source = "urls"
path = "{links}"
[[stages]]
stage = "download"
allow_hosts = ["127.0.0.1"]
retries = 0
[[stages]]
stage = "split"
"""


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bare_decode(path: Path) -> float:
    """CPU seconds of decoding every frame with PyAV, nothing else."""
    import av

    started = cpu_seconds()
    with av.open(str(path)) as container:
        for _ in container.decode(container.streams.video[0]):
            pass
    return cpu_seconds() - started


def download_and_split(url: str, root: Path) -> dict[str, float]:
    """CPU seconds of the download and the split stage on one link, in a fresh work directory."""
    work = Path(tempfile.mkdtemp(dir=root))
    (work / "links.txt").write_text(url + "\n")
    pipeline = Pipeline.parse(PIPELINE.format(links=work / "links.txt"), "decode_once.py")
    seconds = {}
    for stage in ("discover", "download", "split"):
        started = cpu_seconds()
        for _ in run_pipeline(pipeline, work / "w", EXECUTORS.get("local")(workers=1), until=stage, progress=False):
            pass
        seconds[stage] = cpu_seconds() - started
    failed = [row["error"] for table in ("videos", "clips") for row in read_rows(work / "w", table)
              if row["status"] == "failed"]
    if failed:
        raise SystemExit(f"{url}: {failed}")
    seconds["clips"] = len(read_rows(work / "w", "clips"))
    seconds["frames"] = read_rows(work / "w", "videos")[0]["frames"]
    return seconds


def scaled_1080p(directory: Path) -> Path:
    scaled = directory / "test1080.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(VIDEO), "-vf", "scale=1920:1080", "-c:v", "libx264",
                    "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", str(scaled)], check=True)
    return scaled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        served = root / "served"
        served.mkdir()
        (served / "test720.mp4").write_bytes(VIDEO.read_bytes())
        scaled_1080p(served)
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(VIDEO), "-t", "1", "-vf", "scale=320:180",
                        str(served / "warmup.mp4")], check=True)
        with LocalFileServer(served) as server:
            download_and_split(f"{server.url}/warmup.mp4", root)
            print(f"{'video':6} {'frames':>6} {'decode s':>8} {'download s':>10} {'split s':>8} {'clips':>5} "
                  f"{'split/decode':>12} {'(download+split)/decode':>23}")
            for name, label in (("test720.mp4", "720p"), ("test1080.mp4", "1080p")):
                floors, runs = [], []
                for _ in range(args.repeats):
                    floors.append(bare_decode(served / name))
                    runs.append(download_and_split(f"{server.url}/{name}", root))
                floors.append(bare_decode(served / name))
                floor = statistics.median(floors)
                download, split = (statistics.median(run[stage] for run in runs) for stage in ("download", "split"))
                both = statistics.median((run["download"] + run["split"]) for run in runs)
                print(f"{label:6} {runs[0]['frames']:>6} {floor:>8.2f} {download:>10.2f} {split:>8.2f} "
                      f"{runs[0]['clips']:>5} {split / floor:>12.2f} {both / floor:>23.2f}")


if __name__ == "__main__":
    main()
