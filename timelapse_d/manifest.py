"""The Parquet manifests: one schema-checked table per stage, the dataset's source of truth.

Tables live at ``WORK/manifests/<table>.parquet``, with the rows committed since the last
compaction in ``<table>.parts/`` (``manifest_store``: a commit costs the rows it adds). Every row has ``status`` (ok / failed /
dropped) and ``error`` (the reason; empty exactly when ok). Columns ending in ``_at`` are
timestamps of when the pipeline did something; everything else is reproducible.

    >>> rows = [{"source_id": "synthetic-v0000", "status": "ok", "error": "",
    ...          "source_kind": "synthetic", "url": "synthetic-v0000.mp4"}]
    >>> write_rows("/tmp/work", "sources", rows)
    >>> read_rows("/tmp/work", "sources")[0]["url"]
    'synthetic-v0000.mp4'
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from timelapse_d import manifest_store
from timelapse_d.errors import UsageError
from timelapse_d.keys import check_key
from timelapse_d.manifest_store import Replaces

STATUSES = ("ok", "failed", "dropped")
_TIMESTAMP = pa.timestamp("us", tz="UTC")


class ManifestError(UsageError):
    """A manifest table is unreadable, or rows do not fit its schema."""


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: tuple[str, ...]  # columns that identify a row; each value is a manifest key
    schema: pa.Schema

    @property
    def required(self) -> tuple[str, ...]:
        return (*self.key, "status", "error")


def _table(name: str, key: tuple[str, ...], *fields: tuple[str, pa.DataType]) -> TableSpec:
    key_fields = [pa.field(column, pa.string(), nullable=False) for column in key]
    common = [pa.field("status", pa.string(), nullable=False), pa.field("error", pa.string(), nullable=False)]
    return TableSpec(name, key, pa.schema(key_fields + common + [pa.field(n, t) for n, t in fields]))


SOURCES = _table(
    "sources", ("source_id",),
    ("source_kind", pa.string()),      # registry name of the source: flickr, urls, sky-timelapse, synthetic
    ("url", pa.string()),              # media URL; for synthetic, a path on the pipeline's local media server
    ("page_url", pa.string()),         # human-facing page of the item, when there is one
    ("title", pa.string()),
    ("owner", pa.string()),
    ("owner_name", pa.string()),
    ("license_id", pa.string()),
    ("license_name", pa.string()),
    ("license_url", pa.string()),
    ("attribution", pa.string()),      # ready-to-print attribution line
    ("tags", pa.list_(pa.string())),
    ("date_uploaded", _TIMESTAMP),
    ("date_taken", _TIMESTAMP),
    ("query", pa.string()),            # the discovery query (or slice) that found it
    ("metadata", pa.string()),         # JSON: source-specific facts (e.g. generator seed, ground-truth files)
    ("discovered_at", _TIMESTAMP),
)
VIDEOS = _table(
    "videos", ("video_id",),
    ("source_id", pa.string()),
    ("path", pa.string()),             # relative to WORK
    ("sha256", pa.string()),
    ("bytes", pa.int64()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("fps", pa.float64()),
    ("frames", pa.int64()),            # counted by decoding
    ("duration", pa.float64()),        # seconds
    ("codec", pa.string()),
    ("container", pa.string()),        # mp4 / mov / mkv / webm / gif / ts / avi / flv, from the file's bytes
    ("downloaded_at", _TIMESTAMP),
)
CLIPS = _table(
    "clips", ("clip_id",),
    ("video_id", pa.string()),
    ("start_frame", pa.int64()),       # inclusive
    ("end_frame", pa.int64()),         # exclusive
    ("start_time", pa.float64()),
    ("end_time", pa.float64()),
    ("detector", pa.string()),
    ("detector_params", pa.string()),  # JSON
    ("camera_motion_score", pa.float64()),
    ("pan_px_per_frame", pa.float64()),
    ("zoom_per_frame", pa.float64()),
    ("motion_strength", pa.float64()),
    ("category_scores", pa.string()),  # JSON: each of the 13 categories' score in [0, 1], from content
    ("categories", pa.list_(pa.string())),  # the categories the clip is about, best first
    ("split_at", _TIMESTAMP),
)
LABELS = _table(
    "labels", ("clip_id", "annotator"),
    ("camera_motion", pa.string()),    # none / pan / tilt / zoom / shake
    ("usable", pa.bool_()),
    ("categories", pa.list_(pa.string())),
    ("label_source", pa.string()),     # human / consensus / auto / import
    ("ls_task_id", pa.int64()),
    ("ls_annotation_id", pa.int64()),
    ("needs_review", pa.bool_()),      # consensus rows: annotators tied on some field
    ("agreement", pa.float64()),       # consensus rows: mean share of annotators agreeing with it per field
    ("labelled_at", _TIMESTAMP),
)
SAMPLES = _table(
    "samples", ("sample_key",),
    ("clip_id", pa.string()),
    ("video_id", pa.string()),
    ("split", pa.string()),            # train / test (by video)
    ("category", pa.string()),         # the clip's first category, the one the test set is balanced on
    ("shard", pa.string()),            # shard file name; "" while the sample is staged, not yet packed
    ("bytes", pa.int64()),             # size of the sample in its shard
    ("frame_indices", pa.list_(pa.int64())),  # kept frames, numbered in the source video
    ("flow_estimator", pa.string()),
    ("flow_params", pa.string()),      # JSON
    ("segmenter", pa.string()),
    ("segmenter_params", pa.string()), # JSON
    ("created_at", _TIMESTAMP),
)
# Columns added after tables were published: a table written before reads them as null.
LATER_COLUMNS = {"videos": ("container",), "clips": ("category_scores", "categories")}
TABLES: dict[str, TableSpec] = {spec.name: spec for spec in (SOURCES, VIDEOS, CLIPS, LABELS, SAMPLES)}


def table_spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise ManifestError(f"unknown manifest table {name!r}; known: {', '.join(TABLES)}") from None


MANIFESTS_DIR = "manifests"  # the tables' folder in a work or release directory


def table_path(work: str | Path, name: str) -> Path:
    return Path(work) / MANIFESTS_DIR / f"{table_spec(name).name}.parquet"


def timestamp_columns(name: str) -> list[str]:
    return [field.name for field in table_spec(name).schema if field.name.endswith("_at")]


def row_key(spec: TableSpec, row: dict) -> tuple[str, ...]:
    return tuple(row[column] for column in spec.key)


def validate_rows(name: str, rows: list[dict]) -> None:
    """Raise ManifestError naming the table, the row and the column of the first problem."""
    spec = table_spec(name)
    columns = set(spec.schema.names)
    seen: set[tuple[str, ...]] = set()
    for row in rows:
        unknown = set(row) - columns
        if unknown:
            raise ManifestError(f"table {name!r}: unknown column(s) {sorted(unknown)} in row {row!r}")
        for column in spec.required:
            if row.get(column) is None:
                raise ManifestError(f"table {name!r}: column {column!r} is missing in row {row!r}")
        for column in spec.key:
            try:
                check_key(row[column], f"{name}.{column}")
            except ValueError as error:
                raise ManifestError(f"table {name!r}: {error}") from None
        key = row_key(spec, row)
        if key in seen:
            raise ManifestError(f"table {name!r}: duplicate key {key}")
        seen.add(key)
        if row["status"] not in STATUSES:
            raise ManifestError(f"table {name!r}, row {key}: status {row['status']!r} is not one of {STATUSES}")
        if (row["status"] == "ok") != (row["error"] == ""):
            raise ManifestError(
                f"table {name!r}, row {key}: error must be empty exactly when status is ok "
                f"(status={row['status']!r}, error={row['error']!r})")


def _arrow(name: str, rows: list[dict]) -> pa.Table:
    validate_rows(name, rows)
    try:
        return pa.Table.from_pylist(rows, schema=table_spec(name).schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise ManifestError(f"table {name!r}: rows do not fit the schema: {error}") from None


def write_rows(work: str | Path, name: str, rows: Iterable[dict]) -> None:
    """Validate rows, sort them by key and replace the whole table atomically."""
    spec = table_spec(name)
    rows = sorted(rows, key=lambda row: row_key(spec, row))
    manifest_store.write(table_path(work, name), _arrow(name, rows))


def append_rows(work: str | Path, name: str, rows: Iterable[dict], replaces: Replaces | None = None) -> None:
    """Commit rows (validated; keys unique among them) at the cost of those rows: they replace the
    rows with the same key and those that ``replaces`` names (see ``manifest_store``)."""
    base = table_path(work, name)
    if manifest_store.pending_parts(base) >= manifest_store.MAX_PARTS:
        compact(work, name)
    manifest_store.append(base, _arrow(name, list(rows)), replaces)


def compact(work: str | Path, name: str) -> None:
    """Fold the table's committed parts into its base file (one Parquet file again)."""
    base = table_path(work, name)
    if manifest_store.pending_parts(base):
        manifest_store.write(base, _read(work, name, in_key_order=False), table_spec(name).key)  # removes parts too
    else:
        manifest_store.remove_dead_parts(base)


def _check_schema(name: str, path: Path, found: pa.Schema) -> None:
    expected = table_spec(name).schema
    for field in expected:
        if field.name not in found.names and field.name in LATER_COLUMNS.get(name, ()):
            continue
        if field.name not in found.names:
            raise ManifestError(f"manifest table {name!r} ({path}) is missing column {field.name!r}")
        found_type = found.field(field.name).type
        if not found_type.equals(field.type):
            raise ManifestError(
                f"manifest table {name!r} ({path}): column {field.name!r} has type {found_type}, "
                f"expected {field.type}")
    extra = [column for column in found.names if column not in expected.names]
    if extra:
        raise ManifestError(f"manifest table {name!r} ({path}) has unexpected column(s) {extra}")


def _normalized(name: str, table: pa.Table, path: Path, columns: list[str] | None = None) -> pa.Table:
    """A file's rows (all its columns, or ``columns`` of them) in the table's own form: the file's
    schema checked, later columns added, no metadata."""
    _check_schema(name, path, pq.read_schema(path))
    wanted = columns or table_spec(name).schema.names
    for column in LATER_COLUMNS.get(name, ()):
        if column in wanted and column not in table.schema.names:
            field = table_spec(name).schema.field(column)
            table = table.append_column(field, pa.nulls(len(table), field.type))
    schema = table_spec(name).schema
    return table.select(wanted).cast(pa.schema([schema.field(column) for column in wanted]))  # nullability too


def read_table(work: str | Path, name: str, columns: list[str] | None = None) -> pa.Table:
    """The table as Arrow (its base and committed parts; all columns or ``columns``), schema-checked,
    sorted by key; an empty table when it does not exist yet."""
    return _read(work, name, in_key_order=True, columns=columns)


def _read(work: str | Path, name: str, in_key_order: bool, columns: list[str] | None = None) -> pa.Table:
    spec, path = table_spec(name), table_path(work, name)
    try:
        table = manifest_store.read(path, spec.key, lambda table, where, wanted=None: _normalized(
            name, table, where, wanted), in_key_order, columns)
    except (OSError, pa.ArrowInvalid) as error:
        raise ManifestError(f"manifest table {name!r} ({path}) cannot be read: {error}") from None
    empty = spec.schema.empty_table()
    return (empty if columns is None else empty.select(columns)) if table is None else table


def read_rows(work: str | Path, name: str) -> list[dict]:
    return read_table(work, name).to_pylist()


def read_frame(work: str | Path, name: str):
    """The table as a pandas DataFrame (for analysis; the pipeline itself uses rows)."""
    return read_table(work, name).to_pandas()
