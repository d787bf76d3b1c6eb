"""How a manifest table lives on disk, so that a commit costs the rows it adds, not the whole table.

``WORK/manifests/<table>.parquet`` is the *base*: every row, sorted by key. A commit appends a
*part*, ``WORK/manifests/<table>.parts/<N>.parquet`` (N counting up), holding only its new rows
and, in its Parquet metadata, which earlier rows they replace: every row owned by the writer (a
stage) that names one of the committed inputs (``Replaces``). A read takes the base and applies
the parts in order. ``compact`` folds the parts into a new base (the runner does it when a stage
finishes, and whenever ``MAX_PARTS`` pile up); a full ``write`` is a new base.

Crash safety: every file is written under a temporary name and renamed. The base records in its
metadata the last part it holds (``compacted_through``), and readers skip parts up to that
number, so a base renamed into place is the commit point of a compaction: parts it holds are
deleted afterwards, and a kill in between only leaves files nobody reads. A reader that races a
compaction (another process running ``status``) notices the base changed under it and reads again.

Why Parquet parts and not a database (DuckDB, Lance, SQLite): the tables stay plain Parquet files
that pyarrow, pandas and any query engine read, releases stay single files per table, the
dependency set does not grow, and the one writer per work directory (the runner holds the lock)
needs no transactions beyond an atomic rename.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from timelapse_d.atomic import atomic_path

MAX_PARTS = 64  # a commit that would make more compacts first: reads stay bounded
ROW_GROUP = 65_536  # rows per Parquet row group of a base: bounds the memory of writing one
_THROUGH = b"timelapse_d.compacted_through"
_REPLACES = b"timelapse_d.replaces"
_PART = re.compile(r"^(\d{12})\.parquet$")


@dataclass(frozen=True)
class Replaces:
    """The earlier rows a part replaces: those whose ``column`` is one of ``values`` (and, when
    ``owner`` is given as (column, value), that belong to that owner). Where a new row's key is
    already held by a row that is not replaced (two inputs found the same item), the row whose
    ``column`` value sorts first wins, whatever order the inputs were committed in."""

    column: str
    values: tuple[str, ...]
    owner: tuple[str, str] | None = None


def parts_dir(base: Path) -> Path:
    return base.with_suffix(".parts")


def _parts(base: Path) -> list[tuple[int, Path]]:
    try:
        names = list(parts_dir(base).iterdir())
    except FileNotFoundError:  # none yet, or a compaction just removed the emptied folder
        return []
    return sorted((int(match[1]), path) for path in names if (match := _PART.match(path.name)))


def compacted_through(base: Path) -> int:
    """The last part the base holds (0 when there is no base)."""
    if not base.exists():
        return 0
    metadata = pq.read_schema(base).metadata or {}
    return int(metadata.get(_THROUGH, b"0"))


def _key_strings(table: pa.Table, key: tuple[str, ...]) -> pa.Array:
    """One string per row identifying it (key columns joined by a separator keys never hold)."""
    if len(key) == 1:
        return table[key[0]]
    return pc.binary_join_element_wise(*[table[column] for column in key], "\x1f")


def _without_replaced(table: pa.Table, replaces: Replaces) -> pa.Table:
    mask = pc.is_in(table[replaces.column], value_set=pa.array(replaces.values, pa.string()))
    if replaces.owner is not None:
        mask = pc.and_(mask, pc.equal(table[replaces.owner[0]], replaces.owner[1]))
    mask = mask.fill_null(False)
    return table.filter(pc.invert(mask)) if pc.any(mask).as_py() else table  # a copy only when rows go


def _settle_conflicts(table: pa.Table, part: pa.Table, key: tuple[str, ...], column: str | None):
    """Rows of ``part`` whose key ``table`` already holds: the one with the first ``column`` value
    stays (the part's row when there is no such column). Returns both tables without the losers."""
    held, new = _key_strings(table, key), _key_strings(part, key)
    new = new.combine_chunks() if isinstance(new, pa.ChunkedArray) else new  # the part: small
    clash = pc.is_in(held, value_set=new)
    if not pc.any(clash).as_py():
        return table, part
    old_by_key = dict(zip(pc.filter(held, clash).to_pylist(),
                          table.filter(clash)[column].to_pylist() if column else [None] * len(held)))
    new_by_key = dict(zip(new.to_pylist(), part[column].to_pylist() if column else [None] * len(new)))
    new_wins = {k for k, old in old_by_key.items() if column is None or new_by_key[k] < old}
    keep_old = pc.invert(pc.is_in(held, value_set=pa.array(sorted(new_wins), pa.string())))
    keep_new = pc.invert(pc.is_in(new, value_set=pa.array(sorted(set(old_by_key) - new_wins), pa.string())))
    return table.filter(keep_old), part.filter(keep_new)


def _apply(table: pa.Table, part: pa.Table, replaces: Replaces | None, key: tuple[str, ...]) -> pa.Table:
    if replaces is not None:
        table = _without_replaced(table, replaces)
    table, part = _settle_conflicts(table, part, key, replaces.column if replaces else None)
    return pa.concat_tables([table, part])


def _replaces_of(path: Path) -> Replaces | None:
    raw = (pq.read_schema(path).metadata or {}).get(_REPLACES)
    if not raw:
        return None
    spec = json.loads(raw)
    return Replaces(spec["column"], tuple(spec["values"]), tuple(spec["owner"]) if spec["owner"] else None)


def key_order(table: pa.Table, key: tuple[str, ...]) -> pa.Array:
    return pc.sort_indices(table, sort_keys=[(column, "ascending") for column in key])


def read(base: Path, key: tuple[str, ...], normalize, in_key_order: bool = True,
         columns: list[str] | None = None) -> pa.Table | None:
    """The base with every later part applied (all columns, or ``columns``), sorted by key unless
    ``in_key_order`` is False (the caller writes it sorted); None when neither exists.
    ``normalize(table, path, columns)`` checks a file's schema and returns its rows in the table's
    own form. Reads again when a compaction replaced the base meanwhile (a file that vanished, or a
    base whose footer and pages came from two different files)."""
    while True:
        stamp = _stamp(base)
        try:
            table, parts = _read_once(base, key, normalize, columns)
        except (OSError, pa.ArrowInvalid):
            if _stamp(base) != stamp:
                continue
            raise
        if _stamp(base) == stamp:
            if table is not None and parts:
                table = table.take(key_order(table, key)) if in_key_order else table
                table = table.select(columns) if columns else table
            return table


def _read_once(base: Path, key: tuple[str, ...], normalize, columns: list[str] | None) -> tuple[pa.Table | None, int]:
    through = compacted_through(base)
    parts = [(number, path) for number, path in _parts(base) if number > through]
    projected = columns if not parts else None  # applying parts needs the keys and owners too
    table = normalize(_read_file(base, projected), base, projected) if base.exists() else None
    for _, path in parts:
        part = normalize(pq.read_table(path), path)
        table = part if table is None else _apply(table, part, _replaces_of(path), key)
    return table, len(parts)


def _read_file(path: Path, columns: list[str] | None) -> pa.Table:
    present = pq.read_schema(path).names
    return pq.read_table(path, columns=None if columns is None else [c for c in columns if c in present])


def _stamp(base: Path) -> tuple[int, int] | None:
    try:
        info = base.stat()
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_mtime_ns


def write(base: Path, table: pa.Table, key: tuple[str, ...] | None = None) -> None:
    """Replace the whole table: a new base holding every part so far, then the parts go. With
    ``key``, the rows are written in key order, one row group at a time (a crawl's table is not
    held twice)."""
    through = max([compacted_through(base), *(number for number, _ in _parts(base))])
    schema = table.schema.with_metadata({**(table.schema.metadata or {}), _THROUGH: str(through).encode()})
    order = key_order(table, key) if key else None
    with atomic_path(base) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for start in range(0, max(len(table), 1), ROW_GROUP):
            rows = table.slice(start, ROW_GROUP) if order is None else table.take(order[start:start + ROW_GROUP])
            writer.write_table(rows.replace_schema_metadata(schema.metadata), row_group_size=ROW_GROUP)
    remove_dead_parts(base)


def append(base: Path, table: pa.Table, replaces: Replaces | None) -> None:
    """Commit ``table``'s rows as the next part (its cost: those rows)."""
    numbers = [number for number, _ in _parts(base)]
    number = max([compacted_through(base), *numbers]) + 1
    metadata = {**(table.schema.metadata or {})}
    if replaces is not None:
        metadata[_REPLACES] = json.dumps({"column": replaces.column, "values": list(replaces.values),
                                          "owner": list(replaces.owner) if replaces.owner else None}).encode()
    directory = parts_dir(base)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / f"{number:012d}.parquet") as tmp:
        pq.write_table(table.replace_schema_metadata(metadata), tmp)


def pending_parts(base: Path) -> int:
    through = compacted_through(base)
    return sum(number > through for number, _ in _parts(base))


def remove_dead_parts(base: Path) -> None:
    """Delete the parts a base already holds (a compaction's own clean-up, or what a killed one
    left) and temporary files; the parts folder goes when nothing is left in it."""
    directory = parts_dir(base)
    if not directory.is_dir():
        return
    through = compacted_through(base)
    for number, path in _parts(base):
        if number <= through:
            path.unlink(missing_ok=True)
    for stale in directory.glob(".tmp-*"):
        stale.unlink(missing_ok=True)
    if not any(directory.iterdir()):
        directory.rmdir()
