"""Processes that end with the driver, however it ends (SIGKILL and the OOM killer included).

- ``wait_for_exit(pid)`` blocks until a process has ended (a pidfd on Linux >= 5.3, else polling).
  The local executor's pool workers run it in a thread and exit with the driver.
- ``Reaper`` is for processes the driver cannot watch from inside, such as a local Ray instance
  (raylet, GCS, their agents and workers): it marks them through the environment they inherit
  (``RUN_MARK=<random>``) and starts a small process that, once the driver has ended, kills every
  process carrying the mark. Ray's own fate-sharing ends its workers promptly, but its dashboard
  and runtime-env agents wait up to a minute on the dead GCS first. Linux (/proc) only; elsewhere
  the reaper does nothing.

    reaper = Reaper().start()   # before the processes to reap are started
    ray.init(...)
    ...
    ray.shutdown()
    reaper.stop()
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

RUN_MARK = "TIMELAPSE_D_RUN_MARK"


def wait_for_exit(pid: int) -> None:
    try:
        handle = os.pidfd_open(pid)  # readable once the process has ended
    except (AttributeError, OSError):
        while _running(pid):
            time.sleep(1.0)
    else:
        select.select([handle], [], [])
        os.close(handle)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class Reaper:
    """Marks the processes started within the block; kills them if the driver dies before its end."""

    def __init__(self) -> None:
        self.mark = uuid.uuid4().hex
        self._process: subprocess.Popen | None = None
        self._previous: str | None = None

    def __enter__(self) -> "Reaper":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "Reaper":
        self._process = subprocess.Popen([sys.executable, "-m", __name__, str(os.getpid()), self.mark],
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self._previous = os.environ.get(RUN_MARK)
        os.environ[RUN_MARK] = self.mark  # inherited by every process started from here on
        return self

    def stop(self) -> None:
        """The driver has ended what it started: unmark what it starts next, and end the reaper."""
        if self._previous is None:
            os.environ.pop(RUN_MARK, None)
        else:
            os.environ[RUN_MARK] = self._previous
        if self._process is not None:
            self._process.kill()
            self._process.wait()


def marked(mark: str) -> list[int]:
    """The processes whose environment carries ``RUN_MARK=mark`` (Linux /proc; [] elsewhere)."""
    needle = f"{RUN_MARK}={mark}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:  # ended meanwhile, or not ours to read
            continue
    return [pid for pid in found if pid != os.getpid()]


def _reap(driver_pid: int, mark: str, settle_seconds: float = 2.0) -> None:
    wait_for_exit(driver_pid)
    deadline = time.monotonic() + settle_seconds  # processes started while the driver died
    while True:
        for pid in marked(mark):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            return
        time.sleep(0.2)


if __name__ == "__main__":
    _reap(int(sys.argv[1]), sys.argv[2])
