from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from timelapse_d.manifest import ManifestError, read_frame, read_rows, table_path, write_rows


def video_row(video_id="synthetic-v1", **extra):
    row = {"video_id": video_id, "source_id": video_id, "status": "ok", "error": "", "path": f"videos/{video_id}.mp4",
           "sha256": "ab" * 32, "bytes": 1234, "width": 256, "height": 192, "fps": 12.0, "frames": 60,
           "duration": 5.0, "codec": "h264", "downloaded_at": datetime(2026, 1, 1, tzinfo=timezone.utc)}
    return {**row, **extra}


def test_round_trip_sorted_by_key_and_typed(tmp_path):
    rows = [video_row("synthetic-v2"), video_row("synthetic-v1"),
            {"video_id": "synthetic-v3", "source_id": "synthetic-v3", "status": "failed", "error": "HTTP 404"}]
    write_rows(tmp_path, "videos", rows)
    back = read_rows(tmp_path, "videos")
    assert [row["video_id"] for row in back] == ["synthetic-v1", "synthetic-v2", "synthetic-v3"]
    assert back[0]["width"] == 256 and back[0]["downloaded_at"] == rows[1]["downloaded_at"]
    assert back[2]["width"] is None and back[2]["error"] == "HTTP 404"
    assert read_frame(tmp_path, "videos").shape == (3, 15)
    assert [p.name for p in table_path(tmp_path, "videos").parent.iterdir()] == ["videos.parquet"]


def test_a_column_added_later_reads_as_null_in_a_table_written_before_it(tmp_path):
    write_rows(tmp_path, "videos", [video_row(container="mp4")])
    path = table_path(tmp_path, "videos")
    pq.write_table(pq.read_table(path).drop_columns(["container"]), path)  # as published before the column
    [row] = read_rows(tmp_path, "videos")
    assert row["container"] is None and row["codec"] == "h264"


def test_missing_table_reads_as_empty(tmp_path):
    assert read_rows(tmp_path, "clips") == []


def test_reading_a_table_with_a_missing_column_names_table_and_column(tmp_path):
    write_rows(tmp_path, "videos", [video_row()])
    path = table_path(tmp_path, "videos")
    pq.write_table(pq.read_table(path).drop_columns(["sha256"]), path)
    with pytest.raises(ManifestError, match=r"'videos'.*missing column 'sha256'"):
        read_rows(tmp_path, "videos")


def test_reading_a_table_with_a_wrong_type_names_the_column(tmp_path):
    write_rows(tmp_path, "videos", [video_row()])
    path = table_path(tmp_path, "videos")
    table = pq.read_table(path)
    index = table.schema.get_field_index("width")
    pq.write_table(table.set_column(index, "width", pa.array(["256"])), path)
    with pytest.raises(ManifestError, match=r"'videos'.*column 'width' has type string, expected int32"):
        read_rows(tmp_path, "videos")


def test_reading_garbage_names_the_table(tmp_path):
    table_path(tmp_path, "sources").parent.mkdir(parents=True)
    table_path(tmp_path, "sources").write_bytes(b"not parquet")
    with pytest.raises(ManifestError, match="'sources'.*cannot be read"):
        read_rows(tmp_path, "sources")


@pytest.mark.parametrize("row, message", [
    (video_row(color="red"), r"unknown column\(s\) \['color'\]"),
    (video_row(status="done"), "status 'done' is not one of"),
    (video_row(status="failed"), "error must be empty exactly when status is ok"),
    (video_row(error="oops"), "error must be empty exactly when status is ok"),
    (video_row(video_id="a.b"), "invalid videos.video_id 'a.b'"),
    ({"video_id": "v1", "status": "ok"}, "column 'error' is missing"),
    (video_row(width="wide"), "rows do not fit the schema"),
])
def test_writing_bad_rows_fails_and_keeps_the_old_table(tmp_path, row, message):
    write_rows(tmp_path, "videos", [video_row("synthetic-v0")])
    with pytest.raises(ManifestError, match=message):
        write_rows(tmp_path, "videos", [row])
    assert [r["video_id"] for r in read_rows(tmp_path, "videos")] == ["synthetic-v0"]


def test_duplicate_keys_are_rejected(tmp_path):
    with pytest.raises(ManifestError, match="duplicate key"):
        write_rows(tmp_path, "videos", [video_row(), video_row()])


def test_composite_key_of_labels(tmp_path):
    base = {"clip_id": "synthetic-v1_f000000-000024", "status": "ok", "error": ""}
    write_rows(tmp_path, "labels", [{**base, "annotator": "auto"}, {**base, "annotator": "alice"}])
    assert len(read_rows(tmp_path, "labels")) == 2
    with pytest.raises(ManifestError, match="duplicate key"):
        write_rows(tmp_path, "labels", [{**base, "annotator": "auto"}] * 2)
