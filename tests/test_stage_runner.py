"""The runner's commit rule when two inputs find the same item (e.g. overlapping searches)."""
import pytest

from timelapse_d.executors.local import LocalExecutor
from timelapse_d.manifest import read_rows
from timelapse_d.pipeline import run_stage
from timelapse_d.stages.base import Stage

FOUND = {"a-search": ["v-1", "v-2"], "b-search": ["v-2", "v-3"]}


class OverlappingSearches(Stage):
    name = "overlap"
    output_table = "sources"
    input_key = "query"

    def __init__(self, order):
        super().__init__(config=None)
        self.order = order

    def plan(self, work):
        return [{"query": query} for query in self.order]

    def process(self, item, ctx):
        return [{"source_id": source_id, "status": "ok", "error": "", "query": item["query"]}
                for source_id in FOUND[item["query"]]]

    def params(self):
        return {"order": self.order}


@pytest.mark.parametrize("order", [["a-search", "b-search"], ["b-search", "a-search"]])
def test_an_item_found_twice_is_kept_once_from_the_first_query_in_key_order(tmp_path, order):
    report = run_stage(OverlappingSearches(order), str(tmp_path), LocalExecutor(), progress=False)
    rows = {row["source_id"]: row["query"] for row in read_rows(tmp_path, "sources")}
    assert rows == {"v-1": "a-search", "v-2": "a-search", "v-3": "b-search"}
    assert report.table_counts["ok"] == 3
    again = run_stage(OverlappingSearches(order), str(tmp_path), LocalExecutor(), progress=False)
    assert sum(again.processed.values()) == 0  # both queries are done


def test_auto_labels_share_the_labels_table_without_touching_human_rows(tiny_run, tmp_path):
    import shutil
    from datetime import datetime, timezone

    from timelapse_d.cli import main
    from timelapse_d.manifest import write_rows

    work = tmp_path / "work"
    shutil.copytree(tiny_run, work)
    clip = next(row["clip_id"] for row in read_rows(work, "clips") if row["status"] == "ok")
    human = {"clip_id": clip, "annotator": "alice-example-org", "status": "ok", "error": "",
             "camera_motion": "shake", "usable": False, "categories": ["fog"], "label_source": "human",
             "ls_task_id": 7, "ls_annotation_id": 9, "labelled_at": datetime(2026, 1, 1, tzinfo=timezone.utc)}
    write_rows(work, "labels", [human])
    assert main(["auto-label", "--work", str(work), "--no-progress"]) == 0
    rows = read_rows(work, "labels")
    ok_clips = [row["clip_id"] for row in read_rows(work, "clips") if row["status"] == "ok"]
    assert sorted(row["clip_id"] for row in rows if row["annotator"] == "auto") == sorted(ok_clips)
    assert [row for row in rows if row["annotator"] == "alice-example-org"] == [
        {**human, "needs_review": None, "agreement": None}]
    assert main(["label", "auto", "--work", str(work)]) == 0
    assert read_rows(work, "labels") == rows  # nothing new to do
