"""``discover``: run a source (synthetic, flickr, ...) and record every video it finds in ``sources``.

A source plans discovery *queries* (a synthetic video to draw, a Flickr search, a URL list); one
query yields any number of ``sources`` rows, each naming it in ``query``, so resumption skips the
queries already answered. A query that raises is recorded as one failed row keyed by its digest.
"""
from __future__ import annotations

import hashlib
from typing import Any

from timelapse_d.sources import SOURCES
from timelapse_d.sources.base import Source
from timelapse_d.stages.base import Stage, StageContext


class DiscoverStage(Stage):
    name = "discover"
    output_table = "sources"
    input_key = "query"

    def __init__(self, source: Source):
        super().__init__(source.config)
        self.source = source

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "DiscoverStage":
        if "source" not in params:
            raise ValueError(f"stage 'discover': parameter 'source' is required; known sources: {SOURCES.names()}")
        rest = {key: value for key, value in params.items() if key != "source"}
        return cls(SOURCES.get(params["source"]).from_params(rest))

    def params(self) -> dict[str, Any]:
        return {"source": self.source.name, **self.source.params()}

    def plan(self, work: str) -> list[dict]:
        return self.source.plan(work)

    def process(self, item: dict, ctx: StageContext) -> list[dict]:
        return self.source.discover(item, ctx.work)

    def failed_rows(self, item: dict, error: str) -> list[dict]:
        digest = hashlib.sha256(item["query"].encode()).hexdigest()[:12]
        return [{"source_id": f"{self.source.name}-query-{digest}", "status": "failed", "error": error,
                 "source_kind": self.source.name, "query": item["query"]}]
