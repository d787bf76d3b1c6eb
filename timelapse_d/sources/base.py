"""The source contract: where videos come from. The discover stage runs one source."""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, ClassVar, Iterator

from timelapse_d.config import config_from_params


class Source:
    name: ClassVar[str]  # registry name and the ``source_kind`` of its rows
    Config: ClassVar[type]

    def __init__(self, config: Any):
        self.config = config

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "Source":
        return cls(config_from_params(cls.Config, params, f"source {cls.name!r}"))

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def plan(self, work: str) -> list[dict]:
        """Discovery queries: items with a unique ``query`` string. Cheap to plan, deterministic."""
        raise NotImplementedError

    def discover(self, item: dict, work: str) -> list[dict]:
        """The ``sources`` rows answering one query; each row carries the item's ``query``."""
        raise NotImplementedError

    def restore(self, row: dict, work: str) -> None:
        """Make a recorded ``sources`` row downloadable again in another work directory (a rebuild).
        Default: nothing, its URL is enough."""

    @classmethod
    @contextlib.contextmanager
    def serve(cls, work: str) -> Iterator[dict[str, str]]:
        """Start what downloading this kind's media needs (e.g. a local server). Default: nothing."""
        yield {}

    @classmethod
    def fetch_local(cls, row: dict, work: str) -> dict | None:
        """For media already on this machine: link it into WORK and return the ``videos`` fields
        (path, sha256, bytes, width, height, fps, frames, duration, codec). Default None: download it."""
        return None

    @classmethod
    def predefined_clips(cls, metadata: str | None) -> list[tuple[int, int]] | None:
        """Frame ranges [start, end) of the clips a source defines itself (given a ``sources`` row's
        metadata), kept as they are by the split stage. Default None: detect scenes."""
        return None

    @classmethod
    def media_url(cls, row: dict, services: dict[str, str]) -> str:
        """The URL to download for a ``sources`` row. Default: its ``url``."""
        return row["url"]
