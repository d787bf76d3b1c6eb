"""Manifest tables as a base file plus committed parts: what a commit replaces, which row wins a
clash, compaction and its crash points, reads that race a compaction."""
import shutil

import pyarrow.parquet as pq

from timelapse_d import manifest_store
from timelapse_d.manifest import append_rows, compact, read_rows, read_table, table_path, write_rows
from timelapse_d.manifest_store import Replaces, parts_dir


def source(source_id, query, status="ok", url="https://example.org/v.mp4"):
    return {"source_id": source_id, "status": status, "error": "" if status == "ok" else "boom",
            "source_kind": "urls", "url": url, "query": query}


def label(clip, annotator, usable=True):
    return {"clip_id": clip, "annotator": annotator, "status": "ok", "error": "", "usable": usable}


def test_a_commit_replaces_the_rows_of_its_inputs_and_only_those(tmp_path):
    write_rows(tmp_path, "sources", [source("s-a", "q1"), source("s-b", "q2")])
    # q1 retried: its failed-query row goes, its two finds come; q2 is untouched
    append_rows(tmp_path, "sources", [source("s-c", "q1"), source("s-d", "q1")], Replaces("query", ("q1",)))
    assert [(r["source_id"], r["query"]) for r in read_rows(tmp_path, "sources")] == [
        ("s-b", "q2"), ("s-c", "q1"), ("s-d", "q1")]
    assert len(list(parts_dir(table_path(tmp_path, "sources")).iterdir())) == 1
    assert pq.read_table(table_path(tmp_path, "sources")).num_rows == 2  # the base was not rewritten


def test_two_inputs_finding_the_same_row_keep_the_first_input_in_either_commit_order(tmp_path):
    for order in (("q1", "q2"), ("q2", "q1")):
        work = tmp_path / "-".join(order)
        for query in order:
            append_rows(work, "sources", [source("s-same", query, url=f"https://example.org/{query}.mp4")],
                        Replaces("query", (query,)))
        assert [(r["source_id"], r["query"]) for r in read_rows(work, "sources")] == [("s-same", "q1")]
        compact(work, "sources")
        assert [r["query"] for r in read_rows(work, "sources")] == ["q1"]


def test_an_owner_replaces_only_its_own_rows(tmp_path):
    write_rows(tmp_path, "labels", [label("c1", "auto", False), label("c1", "alice", False)])
    append_rows(tmp_path, "labels", [label("c1", "auto", True)], Replaces("clip_id", ("c1",), ("annotator", "auto")))
    rows = {r["annotator"]: r["usable"] for r in read_rows(tmp_path, "labels")}
    assert rows == {"alice": False, "auto": True}


def test_compaction_folds_the_parts_and_a_kill_before_cleaning_up_changes_nothing(tmp_path):
    write_rows(tmp_path, "sources", [source("s-a", "q1")])
    append_rows(tmp_path, "sources", [source("s-b", "q2", "failed")], Replaces("query", ("q2",)))
    append_rows(tmp_path, "sources", [source("s-b", "q2")], Replaces("query", ("q2",)))
    expected = read_rows(tmp_path, "sources")
    assert [r["status"] for r in expected] == ["ok", "ok"]
    saved = tmp_path / "saved-parts"
    shutil.copytree(parts_dir(table_path(tmp_path, "sources")), saved)
    compact(tmp_path, "sources")
    assert not parts_dir(table_path(tmp_path, "sources")).exists()
    # as if killed after the new base was renamed in, before its parts were deleted: they are not applied again
    shutil.copytree(saved, parts_dir(table_path(tmp_path, "sources")))
    assert read_rows(tmp_path, "sources") == expected
    manifest_store.remove_dead_parts(table_path(tmp_path, "sources"))
    assert not parts_dir(table_path(tmp_path, "sources")).exists()
    # the next commit numbers on past what the base holds
    append_rows(tmp_path, "sources", [source("s-c", "q3")], Replaces("query", ("q3",)))
    assert [r["source_id"] for r in read_rows(tmp_path, "sources")] == ["s-a", "s-b", "s-c"]


def test_a_full_write_is_not_undone_by_older_parts(tmp_path):
    append_rows(tmp_path, "sources", [source("s-a", "q1"), source("s-b", "q2")], Replaces("query", ("q1", "q2")))
    write_rows(tmp_path, "sources", [source("s-b", "q2")])  # e.g. a takedown rewrote the table
    assert [r["source_id"] for r in read_rows(tmp_path, "sources")] == ["s-b"]


def test_many_commits_stay_bounded_and_reads_are_sorted_with_a_column_subset(tmp_path):
    for index in range(manifest_store.MAX_PARTS + 5):
        query = f"q{index:03d}"
        append_rows(tmp_path, "sources", [source(f"s-{999 - index:03d}", query)], Replaces("query", (query,)))
    assert manifest_store.pending_parts(table_path(tmp_path, "sources")) <= manifest_store.MAX_PARTS
    table = read_table(tmp_path, "sources", ["source_id", "status"])
    assert table.column_names == ["source_id", "status"]
    ids = table["source_id"].to_pylist()
    assert ids == sorted(ids) and len(ids) == manifest_store.MAX_PARTS + 5


def test_a_reader_racing_a_compaction_reads_again(tmp_path, monkeypatch):
    write_rows(tmp_path, "sources", [source("s-a", "q1")])
    append_rows(tmp_path, "sources", [source("s-b", "q2")], Replaces("query", ("q2",)))
    real_read = manifest_store.pq.read_table
    calls = []

    def read_then_compact(path, *args, **kwargs):
        table = real_read(path, *args, **kwargs)
        if not calls:  # the base was read; another process compacts before the parts are read
            calls.append(path)
            monkeypatch.setattr(manifest_store.pq, "read_table", real_read)
            compact(tmp_path, "sources")
            monkeypatch.setattr(manifest_store.pq, "read_table", read_then_compact)
        return table

    monkeypatch.setattr(manifest_store.pq, "read_table", read_then_compact)
    assert [r["source_id"] for r in read_rows(tmp_path, "sources")] == ["s-a", "s-b"]


def test_a_base_written_by_other_tools_takes_parts(tmp_path):
    """A table rewritten with pandas or pyarrow loses the schema's non-null marks; parts still apply."""
    import pyarrow as pa

    from timelapse_d.manifest import table_spec

    loose = pa.schema([field.with_nullable(True) for field in table_spec("sources").schema])
    table_path(tmp_path, "sources").parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([source("s-a", "q1")], schema=loose), table_path(tmp_path, "sources"))
    append_rows(tmp_path, "sources", [source("s-b", "q2")], Replaces("query", ("q2",)))
    assert [r["source_id"] for r in read_rows(tmp_path, "sources")] == ["s-a", "s-b"]
