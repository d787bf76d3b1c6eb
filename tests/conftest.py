"""Shared fixtures: a tiny synthetic pipeline, and one completed run of it for read-only tests.
Also a session check: no process started by the suite outlives it."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from processes import MARK_VARIABLE, descendants, kill_all, marked

from timelapse_d.cli import main
from timelapse_d.manifest import TABLES, read_rows, timestamp_columns
from timelapse_d.shards import ClipSample, read_samples

TINY_PIPELINE = """
name = "tiny"

[[stages]]
stage = "discover"
source = "synthetic"
videos = {videos}
seed = 7
width = 128
height = 96
fps = 12.0
min_shots = 2
max_shots = 2
min_shot_frames = 12
max_shot_frames = 16
camera_motion_prob = 0.5

[[stages]]
stage = "download"
allow_hosts = ["127.0.0.1"]

[[stages]]
stage = "split"
min_scene_frames = 8
min_clip_frames = 8
"""


def pytest_sessionstart(session: pytest.Session) -> None:
    os.environ[MARK_VARIABLE] = f"session-{uuid.uuid4().hex}"  # inherited by every process the suite starts


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session if a process it started is still alive and is not ending with pytest itself
    (its own forkserver and pool workers end when it exits): such a process was left behind."""
    left = {pid: command for pid, command in marked(os.environ[MARK_VARIABLE]).items()
            if pid not in descendants(os.getpid())}
    if left:
        kill_all(left)
        lines = "\n".join(f"  {pid}: {command[:160]}" for pid, command in sorted(left.items()))
        session.config.get_terminal_writer().line(f"\n{len(left)} processes outlived the tests (killed now):\n{lines}",
                                                  red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def tiny_segformer_dir(tmp_path_factory):
    """A randomly initialised SegFormer of the real architecture with 150 labels, saved like real weights."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    torch.manual_seed(0)
    config = SegformerConfig(num_labels=150, hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 1, 1, 1],
                             depths=[1, 1, 1, 1], decoder_hidden_size=16)
    path = tmp_path_factory.mktemp("tiny-segformer")
    SegformerForSemanticSegmentation(config).save_pretrained(path)
    SegformerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(path)
    return path


CHROMIUM = ("chromium", "chromium-browser")  # Debian's, installed by `make test`


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, driven by Playwright, started once for the session. Where it is missing
    (`make test` installs it with apt), the tests that need it are skipped, each saying why."""
    import shutil

    executable = next((found for name in CHROMIUM if (found := shutil.which(name))), None)
    if executable is None:
        message = "no chromium on this machine (`apt-get install chromium`; make test does)"
        if os.environ.get("CI"):
            pytest.fail(f"BROWSER TESTS CANNOT RUN: {message}")  # in CI a skipped browser test would pass unseen
        pytest.skip(f"BROWSER TESTS SKIPPED: {message}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable,
                                             args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        yield browser
        browser.close()


def write_tiny_pipeline(directory: Path, videos: int = 3) -> Path:
    path = directory / "tiny.toml"
    path.write_text(TINY_PIPELINE.format(videos=videos))
    return path


def manifest_snapshot(work: Path) -> dict[str, list[dict]]:
    """Every manifest table without its ``*_at`` timestamp columns: what must be reproducible."""
    snapshot = {}
    for name in TABLES:
        skip = set(timestamp_columns(name))
        snapshot[name] = [{k: v for k, v in row.items() if k not in skip} for row in read_rows(work, name)]
    return snapshot


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> Path:
    return write_tiny_pipeline(tmp_path_factory.mktemp("pipeline"))


@pytest.fixture(scope="session")
def tiny_run(tiny_pipeline, tmp_path_factory) -> Path:
    """The tiny pipeline run once to completion on the local executor with 2 workers."""
    work = tmp_path_factory.mktemp("work") / "tiny"
    assert main(["run", str(tiny_pipeline), "--work", str(work), "--workers", "2", "--no-progress"]) == 0
    return work


PRECOMPUTE_PIPELINE = """
name = "precompute-test"

[[stages]]
stage = "discover"
source = "synthetic"
videos = {videos}
seed = 11
width = 128
height = 96
fps = 12.0
min_shots = 2
max_shots = 2
min_shot_frames = 12
max_shot_frames = 16
camera_motion_prob = 0.5

[[stages]]
stage = "download"
allow_hosts = ["127.0.0.1"]

[[stages]]
stage = "split"
min_scene_frames = 8
min_clip_frames = 8

[[stages]]
stage = "auto-label"

[[stages]]
stage = "precompute"
every = 2
width = 96
height = 96
segmenter = "oracle"
test_fraction = 0.3
shard_bytes = 150_000
"""


def write_precompute_pipeline(directory: Path, videos: int = 5) -> Path:
    path = directory / "precompute.toml"
    path.write_text(PRECOMPUTE_PIPELINE.format(videos=videos))
    return path


@pytest.fixture(scope="session")
def precomputed_run(tmp_path_factory) -> Path:
    """5 small synthetic videos through precompute (every 2nd frame at 96x96, oracle masks, small shards)."""
    directory = tmp_path_factory.mktemp("precompute")
    work = directory / "work"
    assert main(["run", str(write_precompute_pipeline(directory)), "--work", str(work), "--workers", "2", "--no-progress"]) == 0
    return work


def shard_samples(work, shards_dir="shards"):
    """sample key -> (shard name, ClipSample) over every shard of a work directory."""
    samples = {}
    for path in sorted((work / shards_dir).glob("*.tar")):
        for entries in read_samples(path):
            assert entries["__key__"] not in samples, f"{entries['__key__']} is in two shards"
            samples[entries["__key__"]] = (path.name, ClipSample(entries))
    return samples
