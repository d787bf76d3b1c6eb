"""The executor contract: apply a picklable function to items, yielding results as they complete."""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Iterable, Iterator


class Executor:
    name: ClassVar[str]

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """Yield ``fn(item)`` for every item, in completion order. ``fn`` must not raise."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What ran the work, for stats files."""
        raise NotImplementedError

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        pass
