"""SIGKILL a running pipeline again and again; the rerun must end with the uninterrupted run's manifests."""
import os
import random
import signal
import subprocess
import sys
import time
import uuid

import pytest
from conftest import manifest_snapshot, write_tiny_pipeline
from processes import MARK_VARIABLE, kill_all, marked

from timelapse_d.cli import main
from timelapse_d.manifest import read_rows


def _manifest_stamps(work) -> dict[str, int]:
    """Each manifest file's (base or committed part) modification time: changes exactly when a commit lands."""
    directory = work / "manifests"
    if not directory.exists():
        return {}
    stamps = {}
    for path in directory.rglob("*.parquet"):
        try:
            stamps[str(path)] = path.stat().st_mtime_ns
        except FileNotFoundError:  # a part folded into its base meanwhile
            pass
    return stamps


def _run_until_a_commit_lands(command, work, rng) -> bool:
    """Start the run and SIGKILL it a few milliseconds after its next manifest commit (so each kill lands
    mid-stage, on a machine of any speed). True if the run finished first."""
    before = _manifest_stamps(work)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if _manifest_stamps(work) != before:
            time.sleep(rng.uniform(0.0, 0.05))  # somewhere in the work after the commit, or in the next commit
            process.send_signal(signal.SIGKILL)
            process.wait()
            return False
        time.sleep(0.01)
    assert process.wait(timeout=1) == 0
    return True


def test_sigkill_at_any_point_then_rerun_gives_the_same_manifests(tmp_path):
    pipeline = write_tiny_pipeline(tmp_path, videos=6)
    reference = tmp_path / "reference"
    assert main(["run", str(pipeline), "--work", str(reference), "--workers", "2", "--no-progress"]) == 0

    work = tmp_path / "killed"
    command = [sys.executable, "-m", "timelapse_d.cli", "run", str(pipeline), "--work", str(work),
               "--workers", "2", "--commit-seconds", "0.2", "--no-progress"]
    kills, partial_states, rng = 0, set(), random.Random(0)
    while not _run_until_a_commit_lands(command, work, rng):
        kills += 1
        # whatever the kill interrupted, the manifests on disk are whole and readable
        partial_states.add((len(read_rows(work, "sources")), len(read_rows(work, "videos"))))
        read_rows(work, "clips")
        assert kills < 40, "the pipeline never finished"
    time.sleep(0.5)  # the last kill's workers end with their driver (LocalExecutor); give them that moment
    assert subprocess.run(command, capture_output=True).returncode == 0

    assert kills >= 2
    assert any(0 < sources < 6 or 0 < videos < 6 for sources, videos in partial_states), partial_states
    assert manifest_snapshot(work) == manifest_snapshot(reference)
    assert not [path for path in (work / "manifests").iterdir() if path.name.startswith(".tmp-")]
    assert sorted(path.name for path in (work / "videos").glob("*.mp4")) == sorted(
        f"{row['video_id']}.mp4" for row in read_rows(work, "videos"))


@pytest.mark.parametrize("executor, started", [("local", 3), ("ray", 3)])  # forkserver + 2 workers; raylet, GCS, ...
def test_a_killed_run_leaves_no_process_behind(tmp_path, executor, started):
    """SIGKILL the driver while its workers run: every process the run started (found by a mark in
    their environment, orphans included: forkserver and pool workers; Ray's raylet, GCS and workers)
    ends with it."""
    pipeline = write_tiny_pipeline(tmp_path, videos=40)
    mark = f"kill-{executor}-{uuid.uuid4().hex}"
    command = [sys.executable, "-m", "timelapse_d.cli", "run", str(pipeline), "--work", str(tmp_path / "work"),
               "--workers", "2", "--executor", executor, "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, MARK_VARIABLE: mark})
    deadline = time.monotonic() + 90
    while len(marked(mark)) < 1 + started and time.monotonic() < deadline:  # the driver and its helpers
        time.sleep(0.2)
    time.sleep(1.0)  # let the run get going
    run = marked(mark)
    assert len(run) >= 1 + started and process.poll() is None, run
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 20
    while marked(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = marked(mark)
    kill_all(left)  # do not leak them into the rest of the session
    assert not left, f"{len(left)} of the run's {len(run)} processes outlived it: {sorted(left.values())}"
