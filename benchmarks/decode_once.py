"""Download + split against one bare decode, in CPU seconds, on real footage at 720p and 1080p.

    .venv/bin/python benchmarks/decode_once.py [--repeats 5] [--instructions]

Sources: the real 1280x720 test video (../shared/assets/videos/pyscenedetect_testvideo.mp4, 720
frames), the same scaled to 1920x1080, and the 720p video three times over (stream-copied: the same
frames and packets, 72 s), which tells apart what each video costs once (yt-dlp's request, the probe,
the manifests) from what each frame costs. Each is served from 127.0.0.1 and goes through the real
pipeline in this process (``--workers 1`` runs stages in the calling process): discover (not
counted), then download (yt-dlp, the probe, sha256, the move) and split (PySceneDetect's content
detector, the sampled pairs and their camera-motion and category scores, no segmenter), each
counted as the CPU seconds (user + system, every thread) of its ``run_pipeline`` call. The
loopback server runs in a process of its own: it stands for the remote host, whose CPU is not the
pipeline's. The floor is one bare decode of the same file with PyAV: every frame decoded, nothing
converted. Goal (issue 15): download + split <= 1.3x the floor. A first run on a small video loads
the libraries, so imports are not counted. The floor is timed before and after each run and the
run divided by their mean; figures are medians over ``--repeats`` (the machine is shared and
noisy: a run's CPU seconds drift by up to 20 % over seconds, so each ratio is paired with the floors
timed next to it). The last column divides the fastest run by the fastest floor, the figure least
disturbed by other work on the machine. A second table splits split's CPU seconds into its parts,
timed in this process on the same files: the decode with split's decoder options (deblocking
skipped on unreferenced frames), then with the scene detector, with the pair sampler, and with the
clips' scores: all of split's work on the video.

``--instructions`` counts instructions executed instead of CPU seconds (Valgrind's callgrind:
``apt-get install valgrind``): a count does not drift with the machine's load. The pieces (the
bare decode and download + split at both resolutions, split's parts at 720p) each run in a
process of its own under callgrind, after the same imports and warm-up; the count of a process
that stops after the warm-up is subtracted. About 15 minutes on 2 cores. Instructions weigh work
that waits on memory less than CPU seconds do, so the two figures differ.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
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


def bare_decode(path: Path, options: dict | None = None) -> float:
    """CPU seconds of decoding every frame with PyAV (with these decoder options), nothing else."""
    import av

    started = cpu_seconds()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = dict(options or {})
        for _ in container.decode(stream):
            pass
    return cpu_seconds() - started


def split_work(path: Path) -> dict:
    """{part: a function doing it} for split's work on one file, growing part by part: the bare
    decode with split's decoder options; the decode with the scene detector; with the pair sampler
    too (its pairs measured by nothing); and with the clips' scores."""
    import cv2

    from timelapse_d.stages.split import DECODER_OPTIONS, ClipMeasure, SplitConfig, detect_scenes

    class SamplesOnly(ClipMeasure):
        def measure(self, pairs: dict, start: int, end: int) -> dict:
            return {}

    cv2.setNumThreads(1)  # as split runs
    config = SplitConfig()
    return {"decode, split's options": lambda: bare_decode(path, DECODER_OPTIONS),
            "+ scene detector": lambda: detect_scenes(path, config),
            "+ pair sampler": lambda: detect_scenes(path, config, SamplesOnly(config, {}, None, "")),
            "+ clips' scores": lambda: detect_scenes(path, config, ClipMeasure(config, {}, None, ""))}


def split_parts(path: Path, repeats: int) -> dict[str, float]:
    """Median CPU seconds of each of ``split_work``'s parts, each timed in turn ``repeats`` times."""
    seconds, parts = {}, split_work(path)
    for _ in range(repeats):
        for part, work in parts.items():
            started = cpu_seconds()
            work()
            seconds.setdefault(part, []).append(cpu_seconds() - started)
    return {part: statistics.median(values) for part, values in seconds.items()}


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


def child(piece: str, url: str, path: Path) -> None:
    """One process under callgrind: a warm-up run of the pipeline on a tiny video, as in ``report``,
    then ``piece`` on the file at ``path`` (served at ``url``), or nothing more for ""."""
    root = Path(tempfile.mkdtemp())
    try:
        download_and_split(f"{url}/warmup.mp4", root)
        pieces = {"bare decode": lambda: bare_decode(path), **split_work(path),
                  "download + split": lambda: download_and_split(f"{url}/{path.name}", root)}
        if piece:
            pieces[piece]()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def instructions(url: str, served: Path) -> None:
    """Instructions of each piece of work (``child``) against those of the bare decode."""
    runs = [("", "test720.mp4")] + [(piece, "test720.mp4") for piece in
                                     ["bare decode", *split_work(served / "test720.mp4"), "download + split"]]
    runs += [("bare decode", "test1080.mp4"), ("download + split", "test1080.mp4")]
    with tempfile.TemporaryDirectory() as out, ThreadPoolExecutor(len(os.sched_getaffinity(0))) as pool:
        counts = dict(zip(runs, pool.map(lambda number, run: _callgrind(*run, url, served, Path(out) / f"{number}.out"),
                                         range(len(runs)), runs)))
    print("instructions executed (callgrind), billions, against the bare decode:")
    for name, label in (("test720.mp4", "720p"), ("test1080.mp4", "1080p")):
        count = {piece: counts[piece, file] - counts["", "test720.mp4"] for piece, file in counts if file == name}
        floor = count.pop("bare decode")
        print(f"{label:6} bare decode {floor / 1e9:.2f}; " + "; ".join(
            f"{piece} {value / 1e9:.2f} ({value / floor:.2f}x)" for piece, value in count.items() if piece))


def _callgrind(piece: str, name: str, url: str, served: Path, counts: Path) -> int:
    """Instructions executed by a process doing ``child(piece, ...)`` (callgrind's output: ``counts``).
    Only that process is counted: with one worker the pipeline runs its stages in it, starting none."""
    subprocess.run(["valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={counts}", sys.executable,
                    __file__, "--child", piece, url, str(served / name)], check=True)
    return int(re.search(r"^totals: (\d+)", counts.read_text(), re.MULTILINE).group(1))


def serve(directory: Path, urls: "multiprocessing.Queue", stop: "multiprocessing.Event") -> None:
    """In a process of its own: serve ``directory`` on loopback, put its URL on ``urls``, wait for ``stop``."""
    with LocalFileServer(directory) as server:
        urls.put(server.url)
        stop.wait()


def scaled_1080p(directory: Path) -> Path:
    scaled = directory / "test1080.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(VIDEO), "-vf", "scale=1920:1080", "-c:v", "libx264",
                    "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", str(scaled)], check=True)
    return scaled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--instructions", action="store_true", help="count instructions (callgrind) instead")
    parser.add_argument("--child", nargs=3, metavar=("PIECE", "URL", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], Path(args.child[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        served = root / "served"
        served.mkdir()
        (served / "test720.mp4").write_bytes(VIDEO.read_bytes())
        scaled_1080p(served)
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(VIDEO), "-t", "1", "-vf", "scale=320:180",
                        str(served / "warmup.mp4")], check=True)
        context = multiprocessing.get_context("spawn")
        urls, stop = context.Queue(), context.Event()
        server = context.Process(target=serve, args=(served, urls, stop), daemon=True)
        server.start()
        try:
            url = urls.get(timeout=60)
            if args.instructions:
                instructions(url, served)
            else:
                report(url, served, root, args.repeats)
        finally:
            stop.set()
            server.join()


def report(url: str, served: Path, root: Path, repeats: int) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", "2", "-i", str(VIDEO), "-c", "copy",
                    str(served / "test720x3.mp4")], check=True)  # only here: --instructions leaves it out
    download_and_split(f"{url}/warmup.mp4", root)
    print(f"{'video':6} {'frames':>6} {'clips':>5} {'decode s':>8} {'download s':>10} {'split s':>8} "
          f"{'split/decode':>12} {'(download+split)/decode':>23} {'same, fastest runs':>18}")
    for name, label in (("test720.mp4", "720p"), ("test1080.mp4", "1080p"), ("test720x3.mp4", "720px3")):
        floors, runs = [bare_decode(served / name)], []
        for _ in range(repeats):
            runs.append(download_and_split(f"{url}/{name}", root))
            floors.append(bare_decode(served / name))
        for run, before, after in zip(runs, floors, floors[1:]):
            run.update(floor=(before + after) / 2, both=run["download"] + run["split"])
        median = {key: statistics.median(run[key] for run in runs) for key in ("floor", "download", "split")}
        split_ratio = statistics.median(run["split"] / run["floor"] for run in runs)
        both_ratio = statistics.median(run["both"] / run["floor"] for run in runs)
        fastest = min(run["both"] for run in runs) / min(floors)
        print(f"{label:6} {runs[0]['frames']:>6} {runs[0]['clips']:>5} {median['floor']:>8.2f} "
              f"{median['download']:>10.2f} {median['split']:>8.2f} {split_ratio:>12.2f} {both_ratio:>23.2f} "
              f"{fastest:>18.2f}")
    print("\nsplit's parts, CPU seconds in this process (medians), against the bare decode:")
    for name, label in (("test720.mp4", "720p"), ("test1080.mp4", "1080p")):
        floor = statistics.median(bare_decode(served / name) for _ in range(repeats))
        parts = split_parts(served / name, repeats)
        print(f"{label:6} bare decode {floor:.2f} s; " + "; ".join(f"{part} {value:.2f} s ({value / floor:.2f}x)"
                                                             for part, value in parts.items()))


if __name__ == "__main__":
    main()
