"""``ray``: Ray tasks, on a local Ray instance by default or on an existing cluster (``address``).

On a cluster, every node needs this package installed and must reach the work directory and any
service the stage starts (the synthetic source's media server listens on the driver's loopback).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator

from timelapse_d.executors.base import Executor
from timelapse_d.executors.reaper import Reaper


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, workers: int = 1, address: str | None = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.address = address
        self._started_ray = False
        self._remote = None
        self._reaper: Reaper | None = None

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "workers": self.workers, "address": self.address or "local"}

    def __enter__(self) -> "RayExecutor":
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if not self.address:
            # A local instance binds and talks on 127.0.0.1 only, not on the machine's network
            # address; Ray reads this when first imported, so it must be set before that.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        import ray

        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                # the local instance's processes end with this driver, however it ends
                self._reaper = Reaper().start()
                ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
            self._started_ray = True
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_call)
        return self

    def __exit__(self, *exc: object) -> None:
        import ray

        if self._started_ray:
            ray.shutdown()
            self._started_ray = False
        if self._reaper is not None:
            self._reaper.stop()
            self._reaper = None

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        import ray

        fn_ref = ray.put(fn)
        pending, queue = [], iter(items)
        max_in_flight = 2 * self.workers
        while True:
            for item in queue:
                pending.append(self._remote.remote(fn_ref, item))
                if len(pending) >= max_in_flight:
                    break
            if not pending:
                return
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
