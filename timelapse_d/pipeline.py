"""Pipelines: an ordered list of stages from a TOML file, run resumably on an executor.

    >>> pipeline = Pipeline.load("pipelines/demo.toml")
    >>> [stage.name for stage in pipeline.stages][:2]
    ['discover', 'download']

Running a stage: plan its input items, drop those already in its output table (resumption is a
set difference on ``input_key``), process the rest on the executor, and commit the new rows to
the manifest atomically every few seconds. Failed items are rows too; they are retried only when
asked (``retry_failed``). A run killed at any point, then rerun, ends with the same manifests.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from timelapse_d.atomic import remove_stale_temporaries, write_bytes_atomic, write_json_atomic
from timelapse_d.errors import UsageError
from timelapse_d.executors.base import Executor
from timelapse_d.manifest import (MANIFESTS_DIR, TABLES, ManifestError, append_rows, compact, read_table, row_key,
                                  table_path, table_spec, validate_rows)
from timelapse_d.manifest_store import Replaces, parts_dir, remove_dead_parts
from timelapse_d.stages import STAGES
from timelapse_d.stages.base import Stage, StageContext

PIPELINE_COPY = "pipeline.toml"  # WORK/pipeline.toml: the definition the work directory was last run with


class PipelineError(UsageError):
    """A pipeline file that cannot be used, or a work directory that cannot be run."""


@dataclass
class Pipeline:
    name: str
    stages: list[Stage]
    text: str  # the definition as written, kept with the work directory and in releases

    @classmethod
    def load(cls, path: str | Path) -> "Pipeline":
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise PipelineError(f"cannot read pipeline file {path}: {error}") from None
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, where: str) -> "Pipeline":
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise PipelineError(f"{where}: not valid TOML: {error}") from None
        unknown = sorted(set(document) - {"name", "description", "stages"})
        if unknown:
            raise PipelineError(f"{where}: unknown top-level key(s) {unknown}; expected name, description, stages")
        tables = document.get("stages")
        if not isinstance(tables, list) or not tables:
            raise PipelineError(f"{where}: needs at least one [[stages]] table")
        stages = []
        for number, table in enumerate(tables, 1):
            params = dict(table)
            stage_name = params.pop("stage", None)
            try:
                stage_cls = STAGES.get(stage_name)
                stages.append(stage_cls.from_params(params))
            except (KeyError, ValueError) as error:
                raise PipelineError(f"{where}, stage #{number}: {error.args[0]}") from None
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            raise PipelineError(f"{where}: a stage appears twice in {names}")
        return cls(name=str(document.get("name", Path(where).stem)), stages=stages, text=text)

    def stage_names(self) -> list[str]:
        return [stage.name for stage in self.stages]

    def until(self, stage_name: str | None) -> list[Stage]:
        if stage_name is None:
            return list(self.stages)
        if stage_name not in self.stage_names():
            raise PipelineError(f"--until {stage_name!r}: no such stage in pipeline {self.name!r} {self.stage_names()}")
        return self.stages[: self.stage_names().index(stage_name) + 1]


@dataclass(frozen=True)
class _Task:
    """The items of one stage sent to a worker together (one, or those sharing ``batch_by``)."""
    stage: Stage
    items: list[dict]
    ctx: StageContext


@dataclass
class _Result:
    rows: dict[str, list[dict]]  # input key -> its rows
    seconds: float


def _run_task(task: _Task) -> _Result:
    """Worker side: never raises, so one bad item cannot stop the batch."""
    stage, keys = task.stage, [item[task.stage.input_key] for item in task.items]
    started = time.perf_counter()
    try:
        rows = stage.process_batch(task.items, task.ctx)
        validate_rows(stage.output_table, rows)
        by_key: dict[str, list[dict]] = {key: [] for key in keys}
        for row in rows:
            if row.get(stage.input_key) not in by_key:
                raise ManifestError(f"stage {stage.name!r} returned a row naming {row.get(stage.input_key)!r} "
                                    f"in {stage.input_key!r}, which is not one of its inputs {keys}")
            by_key[row[stage.input_key]].append(row)
        missing = [key for key, key_rows in by_key.items() if not key_rows]
        if missing:
            raise ManifestError(f"stage {stage.name!r} returned no row for input(s) {missing}")
    except Exception as error:  # noqa: BLE001 - recorded in the manifest with its reason
        reason = f"{type(error).__name__}: {error}"
        by_key = {item[stage.input_key]: stage.failed_rows(item, reason) for item in task.items}
    return _Result(by_key, time.perf_counter() - started)


def _batches(stage: Stage, items: list[dict]) -> Iterator[list[dict]]:
    """Items grouped by ``stage.batch_by`` (first-seen order), or one item per batch."""
    if stage.batch_by is None:
        yield from ([item] for item in items)
        return
    groups: dict[object, list[dict]] = {}
    for item in items:
        groups.setdefault(item[stage.batch_by], []).append(item)
    yield from groups.values()


def owned_rows(stage: Stage, work: str, columns: list[str]) -> pa.Table:
    """``columns`` of the output table's rows the stage owns, as Arrow (no row becomes a dict)."""
    owner = [stage.owner[0]] if stage.owner else []
    table = read_table(work, stage.output_table, sorted({*columns, *owner}))
    if stage.owner is not None:
        table = table.filter(pc.equal(table[stage.owner[0]], stage.owner[1]).fill_null(False))
    return table.select(columns)


def pending_items(stage: Stage, work: str, retry_failed: bool = False, rows: pa.Table | None = None) -> list[dict]:
    """The planned items of a stage that have no row in its table (or only failed ones, when retrying).
    ``rows``: its ``owned_rows`` of [input key, status], when already read."""
    rows = owned_rows(stage, work, [stage.input_key, "status"]) if rows is None else rows
    if retry_failed:
        rows = rows.filter(pc.not_equal(rows["status"], "failed"))
    done = set(pc.unique(rows[stage.input_key]).to_pylist())
    return [item for item in stage.plan(work) if item[stage.input_key] not in done]


@dataclass
class StageReport:
    stage: str
    table: str
    processed: Counter  # status -> rows written by this run
    table_counts: Counter  # status -> rows in the table after this run
    seconds: float

    @property
    def failed_in_table(self) -> int:
        return self.table_counts["failed"]


class _Committer:
    """Commits a stage's new rows every few seconds: each commit appends them to the output table,
    replacing the earlier rows of the same inputs that the stage owns; it costs those rows only."""

    def __init__(self, work: str, stage: Stage):
        self.work, self.stage = work, stage
        self.buffer: dict[str, list[dict]] = {}
        self.last_commit = time.monotonic()

    def add(self, result: _Result) -> None:
        self.buffer.update(result.rows)

    def commit_if_due(self, every_seconds: float) -> None:
        if self.buffer and time.monotonic() - self.last_commit >= every_seconds:
            self.commit()

    def commit(self) -> None:
        if not self.buffer:
            return
        input_key, spec = self.stage.input_key, table_spec(self.stage.output_table)
        rows: dict[tuple, dict] = {}
        for row in (row for rows_ in self.buffer.values() for row in rows_):
            # Two inputs may find the same item (overlapping searches): the row from the first
            # input in key order wins, whatever order the workers finished in (across commits too).
            other = rows.setdefault(row_key(spec, row), row)
            if row[input_key] < other[input_key]:
                rows[row_key(spec, row)] = row
        append_rows(self.work, self.stage.output_table, list(rows.values()),
                    Replaces(input_key, tuple(sorted(self.buffer)), self.stage.owner))
        self.buffer.clear()
        self.last_commit = time.monotonic()


def _table_totals(stage: Stage, work: str) -> tuple[Counter, int]:
    """Rows by status among those the stage owns, and their bytes."""
    columns = ["status"] + (["bytes"] if "bytes" in table_spec(stage.output_table).schema.names else [])
    rows = owned_rows(stage, work, columns)
    return _status_counts(rows["status"]), (pc.sum(rows["bytes"]).as_py() or 0) if "bytes" in columns else 0


def _status_counts(statuses: pa.ChunkedArray) -> Counter:
    return Counter({entry["values"]: entry["counts"] for entry in pc.value_counts(statuses).to_pylist()})


def _process(stage: Stage, work: str, executor: Executor, todo: list[dict], committer: _Committer,
             commit_every_seconds: float, progress: bool) -> tuple[Counter, int]:
    """Run the pending items on the executor, committing as they finish: rows by status, bytes."""
    processed: Counter = Counter()
    byte_count = 0
    with stage.services(work, todo) as services:
        ctx = StageContext(work=work, services=services)
        tasks = (_Task(stage, batch, ctx) for batch in _batches(stage, todo))
        with tqdm(total=len(todo), desc=stage.name, unit="item", disable=not progress, leave=True) as bar:
            for result in executor.map_unordered(_run_task, tasks):
                committer.add(result)
                for rows in result.rows.values():
                    processed.update(row["status"] for row in rows)
                    byte_count += sum(row.get("bytes") or 0 for row in rows)
                bar.update(len(result.rows))
                bar.set_postfix(failed=processed["failed"], refresh=False)
                committer.commit_if_due(commit_every_seconds)
    committer.commit()
    return processed, byte_count


def run_stage(stage: Stage, work: str, executor: Executor, retry_failed: bool = False,
              commit_every_seconds: float = 2.0, progress: bool = True) -> StageReport:
    started = time.perf_counter()
    todo = pending_items(stage, work, retry_failed)
    items = len(todo)
    processed, byte_count = (_process(stage, work, executor, todo, _Committer(work, stage), commit_every_seconds,
                                      progress) if todo else (Counter(), 0))
    del todo  # a crawl's plan is large: not kept through the compaction
    compact(work, stage.output_table)
    stage.finish(work, progress)
    compact(work, stage.output_table)  # what ``finish`` committed (packing names each shard's samples)
    seconds = time.perf_counter() - started
    counts, total_bytes = _table_totals(stage, work)
    report = StageReport(stage.name, stage.output_table, processed, counts, seconds)
    write_json_atomic(Path(work) / "stats" / f"{stage.name}.json", {
        "stage": stage.name, "table": stage.output_table, "params": stage.params(), **executor.describe(),
        "run": {"items": items, "rows": dict(processed), "bytes": byte_count, "seconds": round(seconds, 3),
                "items_per_second": round(items / seconds, 3) if items and seconds > 0 else None},
        "totals": {"rows": sum(counts.values()), **{s: counts[s] for s in ("ok", "failed", "dropped")},
                   "bytes": total_bytes},
    })
    return report


@contextlib.contextmanager
def open_work(work: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock on a work directory (dropped by the kernel if the process dies)
    and clear the temporary files that killed runs left."""
    work = Path(work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    fd = os.open(work / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PipelineError(f"another run is using the work directory {work}") from None
        for directory in (work / MANIFESTS_DIR, work / "stats"):
            directory.mkdir(exist_ok=True)
            remove_stale_temporaries(directory)
        for name in TABLES:
            remove_dead_parts(table_path(work, name))
        yield work
    finally:
        os.close(fd)


def run_pipeline(pipeline: Pipeline, work: str | Path, executor: Executor, until: str | None = None,
                 retry_failed: bool = False, commit_every_seconds: float = 2.0,
                 progress: bool = True) -> Iterator[StageReport]:
    """Run the stages in order (up to ``until``), yielding a report after each."""
    stages = pipeline.until(until)
    with open_work(work) as work:
        write_bytes_atomic(work / PIPELINE_COPY, pipeline.text.encode())
        with executor:
            for stage in stages:
                yield run_stage(stage, str(work), executor, retry_failed, commit_every_seconds, progress)


def stage_status(pipeline: Pipeline, work: str | Path) -> list[dict]:
    """Per stage: rows by status in its table, and planned items not yet processed."""
    work = str(Path(work).resolve())
    table = []
    for stage in pipeline.stages:
        rows = owned_rows(stage, work, [stage.input_key, "status"])
        counts = _status_counts(rows["status"])
        table.append({"stage": stage.name, "table": stage.output_table,
                      **{status: counts[status] for status in ("ok", "failed", "dropped")},
                      "pending": len(pending_items(stage, work, rows=rows))})
    return table


def table_status(work: str | Path) -> list[dict]:
    """Per manifest table present: rows by status (a work directory that single-stage commands made
    has no pipeline to plan with, so nothing is known to be pending)."""
    table = []
    for name in TABLES:
        if not (table_path(work, name).exists() or parts_dir(table_path(work, name)).is_dir()):
            continue
        counts = _status_counts(read_table(work, name, ["status"])["status"])
        table.append({"stage": "-", "table": name, **{status: counts[status] for status in ("ok", "failed", "dropped")},
                      "pending": None})
    return table


def load_work_pipeline(work: str | Path) -> Pipeline:
    path = Path(work) / PIPELINE_COPY
    if not path.exists():
        raise PipelineError(f"{work} is not a work directory: no {PIPELINE_COPY} (run a pipeline into it first)")
    return Pipeline.load(path)

