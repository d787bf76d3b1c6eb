"""SIGKILL a running pipeline again and again; the rerun must end with the uninterrupted run's manifests."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import manifest_snapshot, write_tiny_pipeline

from timelapse_d.cli import main
from timelapse_d.manifest import read_rows


def test_sigkill_at_any_point_then_rerun_gives_the_same_manifests(tmp_path):
    pipeline = write_tiny_pipeline(tmp_path, videos=6)
    reference = tmp_path / "reference"
    assert main(["run", str(pipeline), "--work", str(reference), "--workers", "2", "--no-progress"]) == 0

    work = tmp_path / "killed"
    command = [sys.executable, "-m", "timelapse_d.cli", "run", str(pipeline), "--work", str(work),
               "--workers", "2", "--commit-seconds", "0.2", "--no-progress"]
    kills, partial_states, delay = 0, set(), 1.0
    while True:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert process.wait(timeout=delay) == 0
            break
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            # whatever the kill interrupted, the manifests on disk are whole and readable
            partial_states.add((len(read_rows(work, "sources")), len(read_rows(work, "videos"))))
            read_rows(work, "clips")
            delay += 0.5
        assert kills < 40, "the pipeline never finished"
    time.sleep(0.5)  # the last kill's workers end with their driver (LocalExecutor); give them that moment
    assert subprocess.run(command, capture_output=True).returncode == 0

    assert kills >= 2
    assert any(0 < sources < 6 or 0 < videos < 6 for sources, videos in partial_states), partial_states
    assert manifest_snapshot(work) == manifest_snapshot(reference)
    assert not [path for path in (work / "manifests").iterdir() if path.name.startswith(".tmp-")]
    assert sorted(path.name for path in (work / "videos").glob("*.mp4")) == sorted(
        f"{row['video_id']}.mp4" for row in read_rows(work, "videos"))


def _descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (Linux /proc)."""
    found, todo = set(), [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                children = {int(child) for child in (task / "children").read_text().split()}
            except OSError:  # the process ended meanwhile
                continue
            todo += children - found
            found |= children
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


def test_a_killed_run_leaves_no_worker_behind(tmp_path):
    pipeline = write_tiny_pipeline(tmp_path, videos=40)
    command = [sys.executable, "-m", "timelapse_d.cli", "run", str(pipeline), "--work", str(tmp_path / "work"),
               "--workers", "2", "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(_descendants(process.pid)) < 3 and time.monotonic() < deadline:  # the forkserver and 2 workers
        time.sleep(0.1)
    below = _descendants(process.pid)
    assert len(below) >= 3 and process.poll() is None, below
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in below) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in below if _alive(pid)]
    for pid in left:  # do not leak them into the rest of the session
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{len(left)} processes outlived the killed run"
