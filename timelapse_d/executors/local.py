"""``local``: a process pool on this machine (``workers=1`` runs in the calling process)."""
from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator

from timelapse_d.executors.base import Executor
from timelapse_d.executors.reaper import wait_for_exit


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "workers": self.workers}

    def __enter__(self) -> "LocalExecutor":
        if self.workers > 1:
            # forkserver: the driver runs threads (local servers), which fork() must not copy.
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=exit_with_driver,
                                             initargs=(os.getpid(),))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        if self._pool is None:
            yield from map(fn, items)
            return
        pending, queue = set(), iter(items)
        max_in_flight = 2 * self.workers  # bounded, so a huge plan does not sit in memory as futures
        while True:
            for item in queue:
                pending.add(self._pool.submit(fn, item))
                if len(pending) >= max_in_flight:
                    break
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()


def exit_with_driver(driver_pid: int) -> None:
    """Pool initializer: the worker ends as soon as the driver process is gone. A driver killed with
    SIGKILL cannot shut its pool down, and its workers (children of the forkserver, not of the driver)
    would otherwise wait for work forever."""
    threading.Thread(target=_exit_when_gone, args=(driver_pid,), name="exit-with-driver", daemon=True).start()


def _exit_when_gone(pid: int) -> None:
    wait_for_exit(pid)
    os._exit(1)
