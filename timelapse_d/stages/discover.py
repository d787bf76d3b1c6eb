"""``discover``: run a source (synthetic, flickr, ...) and record every video it finds in ``sources``."""
from __future__ import annotations

from typing import Any

from timelapse_d.sources import SOURCES
from timelapse_d.sources.base import Source
from timelapse_d.stages.base import Stage, StageContext


class DiscoverStage(Stage):
    name = "discover"
    output_table = "sources"
    input_key = "source_id"

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
