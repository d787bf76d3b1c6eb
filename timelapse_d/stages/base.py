"""The stage contract: a named step that turns input items into rows of its output manifest table.

A stage is planned and committed by the pipeline runner in the driver process; ``process`` runs
in a worker (a local process or a Ray task), so stages and their configs must be picklable.
Resumption is a set difference: an input item is done when some output row names it in the
column ``input_key``. Items sharing a value of ``batch_by`` (the clips of one video) are processed
together by one worker (``process_batch``); ``finish`` runs in the driver after the rows are in. A stage that shares its table with other writers (``labels``: people's
annotations, their consensus, the automatic labels) only sees, replaces and counts the rows it
owns (``owner``).
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator

from timelapse_d.config import config_from_params
from timelapse_d.manifest import read_rows, table_spec


@dataclass(frozen=True)
class StageContext:
    work: str  # absolute path of the work directory
    services: dict[str, str] = dataclasses.field(default_factory=dict)  # service name -> base URL


class Stage:
    name: ClassVar[str]  # registry name, used in pipeline files
    output_table: ClassVar[str]
    input_table: ClassVar[str | None] = None  # None: the stage plans its own items (a source)
    input_key: ClassVar[str]  # column naming the input item, in the items and in the output rows
    Config: ClassVar[type]  # dataclass of the stage's parameters
    batch_by: ClassVar[str | None] = None  # items with the same value in this column go to one worker together
    owner: ClassVar[tuple[str, str] | None] = None  # (column, value) of the output rows it owns; None: all

    def __init__(self, config: Any):
        self.config = config

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "Stage":
        return cls(config_from_params(cls.Config, params, f"stage {cls.name!r}"))

    def params(self) -> dict[str, Any]:
        """The parameters as they would be written in a pipeline file (for provenance)."""
        return dataclasses.asdict(self.config)

    def plan(self, work: str) -> list[dict]:
        """The input items, cheap to compute and deterministic. Default: the ok rows of the input table."""
        assert self.input_table is not None, f"stage {self.name!r} has no input table and must plan its items"
        return [row for row in read_rows(work, self.input_table) if row["status"] == "ok"]

    @contextlib.contextmanager
    def services(self, work: str, items: list[dict]) -> Iterator[dict[str, str]]:
        """Start, in the driver, what the workers need while this stage runs. Default: nothing."""
        yield {}

    def process(self, item: dict, ctx: StageContext) -> list[dict]:
        """Turn one input item into its output rows (at least one: failures are rows too)."""
        raise NotImplementedError

    def process_batch(self, items: list[dict], ctx: StageContext) -> list[dict]:
        """The rows of several items sent together (``batch_by``). Default: ``process`` each."""
        return [row for item in items for row in self.process(item, ctx)]

    def finish(self, work: str, progress: bool = True) -> None:
        """Driver side, after the new rows are committed, on every run (so a killed run's finishing
        step is redone). It may rewrite its output table. Default: nothing."""

    def failed_rows(self, item: dict, error: str) -> list[dict]:
        """The rows recording an item whose processing raised. Default: one row keyed like the item."""
        key_column = table_spec(self.output_table).key[0]
        row = {key_column: item[self.input_key], "status": "failed", "error": error}
        row[self.input_key] = item[self.input_key]
        return [row]
