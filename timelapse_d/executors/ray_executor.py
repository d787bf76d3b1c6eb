"""``ray``: Ray tasks, on a local Ray instance by default or on an existing cluster (``address``).

    with RayExecutor(workers=2) as executor:                       # a local instance, on 127.0.0.1 only
        results = list(executor.map_unordered(math.factorial, range(4)))
    with RayExecutor(workers=8, address="10.0.0.5:6379") as executor:  # a running cluster's head
        ...

From the command line: ``timelapse-d run PIPELINE --work WORK --executor ray [--ray-address HOST:PORT]``.
Only ``process`` runs in the tasks; planning, manifest commits, a stage's ``services`` and ``finish``
(packing shards) run in the driver. On a cluster every node needs this package and must see the
work directory at the same path; services that a stage starts listen on the driver's loopback, so
the download stage of the synthetic source reaches them only from the driver's machine
(docs/executors.md).
"""
from __future__ import annotations

import contextlib
import os
import socket
import sys
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import urlsplit

from timelapse_d.errors import UsageError
from timelapse_d.executors.base import Executor
from timelapse_d.executors.reaper import Reaper
from timelapse_d.net.hostlimit import is_loopback

# Ray swaps 127.0.0.1 for the machine's network address (as its own node's address and as the host of
# an address to connect to) unless this is "0"; it reads the variable when it is first imported.
LOOPBACK_VARIABLE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


def is_loopback_address(address: str) -> bool:
    """Whether a Ray address (``HOST:PORT``, ``[::1]:PORT``, ``ray://HOST:PORT``) names this machine's loopback.

    >>> [is_loopback_address(address) for address in ("127.0.0.1:6379", "localhost:6379", "10.0.0.5:6379")]
    [True, True, False]
    """
    host = urlsplit(address if "://" in address else f"//{address}").hostname or ""
    return is_loopback(host)


@contextlib.contextmanager
def ray_on_loopback() -> Iterator[None]:
    """Within the block, Ray keeps 127.0.0.1 as this node's address and as the host to connect to:
    the variable is set for Ray's import and its processes, and on Ray's constants when an earlier run
    in this process imported it already. Afterwards the variable is restored, and the constant is what
    an import would read from it."""
    previous = os.environ.get(LOOPBACK_VARIABLE)
    os.environ[LOOPBACK_VARIABLE] = "0"
    _set_ray_cluster_constant()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(LOOPBACK_VARIABLE, None)
        else:
            os.environ[LOOPBACK_VARIABLE] = previous
        _set_ray_cluster_constant()


def _set_ray_cluster_constant() -> None:
    """Ray's ``ENABLE_RAY_CLUSTER`` as its import computes it from the environment, if Ray is imported."""
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:
        constants.ENABLE_RAY_CLUSTER = constants.env_bool(LOOPBACK_VARIABLE, not constants.IS_WINDOWS_OR_OSX)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once where nothing listens at a ``HOST:PORT`` address (Ray would retry for minutes)."""
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"--ray-address {address!r}: not HOST:PORT") from None
    if parts.hostname is None or port is None:
        return  # "auto" and the like: Ray finds the cluster itself
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as error:
        raise UsageError(f"no Ray cluster answers at --ray-address {address}: {error} (is `ray start --head` "
                         f"running there? `ray status --address {address}` checks it)") from None


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, workers: int = 1, address: str | None = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.address = address
        self._remote = None
        self._stack: contextlib.ExitStack | None = None

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "workers": self.workers, "address": self.address or "local"}

    def __enter__(self) -> "RayExecutor":
        if self.address:
            _check_reachable(self.address)
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        with contextlib.ExitStack() as stack:  # undone here if starting fails, else in __exit__
            if not self.address or is_loopback_address(self.address):
                # a local instance binds and talks on 127.0.0.1 only; a cluster on loopback is reached there
                stack.enter_context(ray_on_loopback())
            import ray

            if not ray.is_initialized():
                if self.address:
                    self._connect(ray)
                else:
                    # the local instance's processes end with this driver, however it ends
                    stack.enter_context(Reaper())
                    ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
                stack.callback(ray.shutdown)  # after it the reaper stops, then the loopback setting is undone
            self._remote = ray.remote(num_cpus=1, max_retries=0)(_call)
            self._stack = stack.pop_all()
        return self

    def _connect(self, ray) -> None:
        try:
            ray.init(address=self.address, log_to_driver=False)
        except ConnectionError as error:
            raise UsageError(
                f"cannot connect to the Ray cluster at --ray-address {self.address}: {str(error).rstrip('.')}; "
                f"give the address `ray start --head` printed (`ray status --address {self.address}` checks it); "
                f"a cluster with token authentication also needs RAY_AUTH_MODE=token and its token here "
                f"(docs/executors.md)") from error

    def __exit__(self, *exc: object) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

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
