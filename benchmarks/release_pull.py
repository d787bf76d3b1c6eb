"""MB/s of ``release pull`` from a loopback HTTP server, against a floor measured in the same run.

    .venv/bin/python benchmarks/release_pull.py --shards 4 --shard-mb 50 --workers 1,4 --repeats 3

Publishes a release of ``--shards`` shards of ``--shard-mb`` MB each (random bytes: pull checks
sizes and sha256, it does not read samples) into a temporary directory, serves it on 127.0.0.1
with the project's file server, and times, in turns:

- floor: one plain streamed GET per shard (requests, 1 MiB chunks), bytes thrown away: what the
  server and the Python HTTP client manage on this machine, with no hashing and no writing;
- pull: ``pull_release`` into a fresh directory per run (GET, sha256, write, rename, then
  release.json), for each ``--workers`` count.

Medians of ``--repeats`` turns; the ratio pull / floor is what to compare across machines.
Loopback has no latency or bandwidth limit: this measures pull's own overhead, not a network.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import requests

from timelapse_d.net.serve import LocalFileServer
from timelapse_d.release.transfer import pull_release


def make_published_release(root: Path, shards: int, shard_mb: int) -> Path:
    """``root/bench/1.0.0/`` laid out as ``release publish`` writes it, with random shards."""
    path = root / "bench" / "1.0.0"
    (path / "shards").mkdir(parents=True)
    records = []
    for index in range(shards):
        data = os.urandom(shard_mb * 1_000_000)
        name = f"train-{index:06d}.tar"
        (path / "shards" / name).write_bytes(data)
        records.append({"name": name, "split": "train", "samples": 1, "bytes": len(data),
                        "sha256": hashlib.sha256(data).hexdigest()})
    for name in ("README.md", "ATTRIBUTION.md", "pipeline.toml"):
        (path / name).write_text("benchmark\n")
    record = {"name": "bench", "version": "1.0.0", "manifests": {}, "shards": records, "shards_location": "shards"}
    (path / "release.json").write_text(json.dumps(record))
    return path


def floor_seconds(url: str, names: list[str]) -> float:
    started = time.perf_counter()
    with requests.Session() as session:
        for name in names:
            with session.get(f"{url}/bench/1.0.0/shards/{name}", stream=True, timeout=60) as response:
                response.raise_for_status()
                for _ in response.iter_content(1 << 20):
                    pass
    return time.perf_counter() - started


def pull_seconds(url: str, workers: int, scratch: Path) -> float:
    target = Path(tempfile.mkdtemp(dir=scratch))
    started = time.perf_counter()
    _, problems = pull_release(f"{url}/bench/1.0.0", str(target), workers=workers, progress=False)
    seconds = time.perf_counter() - started
    assert not problems, problems
    shutil.rmtree(target)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--shard-mb", type=int, default=50)
    parser.add_argument("--workers", default="1,4", help="pull worker counts, comma separated")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    workers = [int(value) for value in args.workers.split(",")]
    megabytes = args.shards * args.shard_mb
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        release = make_published_release(scratch / "served", args.shards, args.shard_mb)
        names = sorted(path.name for path in (release / "shards").iterdir())
        times: dict[str, list[float]] = {"floor": [], **{f"pull, {n} worker(s)": [] for n in workers}}
        with LocalFileServer(scratch / "served") as server:
            for _ in range(args.repeats):
                times["floor"].append(floor_seconds(server.url, names))
                for n in workers:
                    times[f"pull, {n} worker(s)"].append(pull_seconds(server.url, n, scratch))
    floor = statistics.median(times["floor"])
    print(f"{args.shards} shards x {args.shard_mb} MB = {megabytes} MB over loopback, median of {args.repeats}")
    print(f"{'':<20} {'s':>7} {'MB/s':>8} {'vs floor':>9}")
    for label, values in times.items():
        seconds = statistics.median(values)
        print(f"{label:<20} {seconds:7.2f} {megabytes / seconds:8.1f} {floor / seconds:9.2f}")


if __name__ == "__main__":
    main()
