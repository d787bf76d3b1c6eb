"""The pipeline through the CLI: manifests, stats, status, resumption, failures, executors, exit codes."""
import fcntl
import json
import os
import shutil

from conftest import manifest_snapshot

from timelapse_d.cli import main
from timelapse_d.manifest import read_rows, table_path
from timelapse_d.media import sha256_file
from timelapse_d.stages.download import DownloadStage, DownloadConfig
from timelapse_d.stages.base import StageContext
from timelapse_d.net.serve import LocalFileServer


def test_every_video_is_discovered_downloaded_hashed_and_probed(tiny_run):
    sources = read_rows(tiny_run, "sources")
    videos = read_rows(tiny_run, "videos")
    assert [row["status"] for row in sources] == ["ok"] * 3
    assert [row["video_id"] for row in videos] == [row["source_id"] for row in sources]
    for source, video in zip(sources, videos):
        truth = json.loads((tiny_run / json.loads(source["metadata"])["ground_truth"]).read_text())
        assert video["status"] == "ok" and video["error"] == ""
        path = tiny_run / video["path"]
        assert video["sha256"] == sha256_file(path) and video["bytes"] == path.stat().st_size
        assert (video["width"], video["height"], video["fps"]) == (128, 96, 12.0)
        assert video["frames"] == truth["frames"] and video["codec"] == "h264"
        assert source["license_id"] == "CC0-1.0" and source["tags"]
    assert not list((tiny_run / "videos" / ".partial").iterdir())


def test_stats_are_written_per_stage(tiny_run):
    stats = json.loads((tiny_run / "stats" / "download.json").read_text())
    assert stats["executor"] == "local" and stats["workers"] == 2
    assert stats["totals"]["ok"] == 3 and stats["totals"]["rows"] == 3
    assert stats["totals"]["bytes"] == sum(row["bytes"] for row in read_rows(tiny_run, "videos")) > 0


def test_rerun_does_only_missing_work(tiny_pipeline, tiny_run):
    before = {name: read_rows(tiny_run, name) for name in ("sources", "videos")}
    assert main(["run", str(tiny_pipeline), "--work", str(tiny_run), "--no-progress"]) == 0
    assert {name: read_rows(tiny_run, name) for name in ("sources", "videos")} == before  # timestamps too
    stats = json.loads((tiny_run / "stats" / "download.json").read_text())
    assert stats["run"]["items"] == 0 and stats["totals"]["ok"] == 3


def test_status_table(tiny_run, capsys):
    assert main(["status", "--work", str(tiny_run), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table == [
        {"stage": "discover", "table": "sources", "ok": 3, "failed": 0, "dropped": 0, "pending": 0},
        {"stage": "download", "table": "videos", "ok": 3, "failed": 0, "dropped": 0, "pending": 0},
        {"stage": "split", "table": "clips", "ok": 6, "failed": 0, "dropped": 0, "pending": 0}]
    assert main(["status", "--work", str(tiny_run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["stage", "table", "ok", "failed", "dropped", "pending"]
    assert lines[2].split() == ["download", "videos", "3", "0", "0", "0"]


def test_ray_executor_gives_the_same_manifests(tiny_pipeline, tiny_run, tmp_path):
    work = tmp_path / "ray"
    assert main(["run", str(tiny_pipeline), "--work", str(work), "--executor", "ray", "--workers", "2",
                 "--no-progress"]) == 0
    assert manifest_snapshot(work) == manifest_snapshot(tiny_run)
    assert json.loads((work / "stats" / "download.json").read_text())["executor"] == "ray"


def test_failed_download_is_recorded_and_retried_only_when_asked(tiny_pipeline, tmp_path, capsys):
    work = tmp_path / "work"
    assert main(["run", str(tiny_pipeline), "--work", str(work), "--until", "discover", "--no-progress"]) == 0
    assert read_rows(work, "videos") == []
    victim = read_rows(work, "sources")[1]["source_id"]
    media = work / "sources" / "synthetic" / f"{victim}.mp4"
    saved = media.read_bytes()
    media.unlink()

    assert main(["run", str(tiny_pipeline), "--work", str(work), "--workers", "2", "--no-progress"]) == 1
    videos = {row["video_id"]: row for row in read_rows(work, "videos")}
    assert [row["status"] for row in videos.values()].count("ok") == 2
    assert videos[victim]["status"] == "failed"
    assert "404" in videos[victim]["error"] and f"{victim}.mp4" in videos[victim]["error"]
    assert not (work / "videos" / f"{victim}.mp4").exists()
    capsys.readouterr()
    assert main(["status", "--work", str(work)]) == 1
    assert capsys.readouterr().out.splitlines()[2].split() == ["download", "videos", "2", "1", "0", "0"]

    assert main(["run", str(tiny_pipeline), "--work", str(work), "--no-progress"]) == 1
    assert read_rows(work, "videos") == list(videos.values())  # not retried: the same row, same timestamp

    media.write_bytes(saved)
    assert main(["run", str(tiny_pipeline), "--work", str(work), "--retry-failed", "--no-progress"]) == 0
    assert all(row["status"] == "ok" for row in read_rows(work, "videos"))


def test_a_file_that_is_not_a_video_is_a_failed_row(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "fake.mp4").write_text("<html><body>Sorry, this video is private</body></html>")
    stage = DownloadStage(DownloadConfig(retries=0, socket_timeout=5, allow_hosts=("127.0.0.1",)))
    item = {"source_id": "synthetic-fake", "source_kind": "synthetic", "url": "fake.mp4"}
    with LocalFileServer(served) as server:
        [row] = stage.process(item, StageContext(work=str(tmp_path), services={"synthetic": server.url}))
    assert row["status"] == "failed" and row["error"].endswith("failed: a web page (HTML), not a video")
    assert not list((tmp_path / "videos").glob("synthetic-fake*"))


def test_bad_usage_exits_2_with_a_message_naming_the_input(tiny_run, tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml"), "--work", str(tmp_path / "w")]) == 2
    assert "nope.toml" in capsys.readouterr().err
    assert main(["status", "--work", str(tmp_path)]) == 2
    assert "not a work directory" in capsys.readouterr().err
    assert main(["run", "pipelines/demo.toml", "--work", str(tmp_path / "w"), "--workers", "0"]) == 2
    assert main(["run", "pipelines/demo.toml", "--work", str(tmp_path / "w"), "--until", "publish"]) == 2
    assert "--until 'publish'" in capsys.readouterr().err

    broken = tmp_path / "broken"
    shutil.copytree(tiny_run, broken)
    table_path(broken, "videos").write_bytes(table_path(broken, "sources").read_bytes())
    assert main(["status", "--work", str(broken)]) == 2
    assert "manifest table 'videos'" in capsys.readouterr().err


def test_two_runs_cannot_share_a_work_directory(tiny_pipeline, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    fd = os.open(work / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert main(["run", str(tiny_pipeline), "--work", str(work), "--no-progress"]) == 2
        assert "another run is using" in capsys.readouterr().err
    finally:
        os.close(fd)


def test_a_failing_discovery_query_is_a_failed_row_and_the_run_goes_on(tiny_pipeline, tmp_path):
    work = tmp_path / "work"
    (work / "sources").mkdir(parents=True)
    (work / "sources" / "synthetic").write_text("a file where the media folder should be")
    assert main(["run", str(tiny_pipeline), "--work", str(work), "--no-progress"]) == 1
    rows = read_rows(work, "sources")
    assert len(rows) == 3 and {row["status"] for row in rows} == {"failed"}
    assert all(row["source_id"].startswith("synthetic-query-") and row["query"].startswith("synthetic:seed=7:video=")
               for row in rows)
    assert all("sources/synthetic" in row["error"] for row in rows)
    assert read_rows(work, "videos") == []  # nothing to download, nothing invented

    (work / "sources" / "synthetic").unlink()
    assert main(["run", str(tiny_pipeline), "--work", str(work), "--retry-failed", "--no-progress"]) == 0
    assert [row["status"] for row in read_rows(work, "sources")] == ["ok"] * 3
    assert len(read_rows(work, "videos")) == 3


def test_discover_verb_takes_the_source_parameters_as_flags(tmp_path, capsys):
    work = tmp_path / "work"
    assert main(["discover", "synthetic", "--work", str(work), "--videos", "2", "--seed", "3", "--no-progress"]) == 0
    rows = read_rows(work, "sources")
    assert [row["query"] for row in rows] == ["synthetic:seed=3:video=0", "synthetic:seed=3:video=1"]
    assert not (work / "pipeline.toml").exists()  # an ad-hoc discovery does not replace the work's pipeline
    assert main(["discover", "synthetic", "--work", str(work), "--videos", "0"]) == 2
    assert "videos must be a positive integer" in capsys.readouterr().err


def test_a_stage_verb_uses_the_work_pipeline_parameters_then_its_flags(tiny_pipeline, tmp_path, capsys):
    pipeline = tmp_path / "with_split.toml"
    pipeline.write_text(tiny_pipeline.read_text().replace("min_clip_frames = 8", "min_clip_frames = 6"))
    work = tmp_path / "work"
    assert main(["run", str(pipeline), "--work", str(work), "--until", "download", "--no-progress"]) == 0
    assert main(["split", "--work", str(work), "--min-scene-frames", "6", "--no-progress"]) == 0
    clips = read_rows(work, "clips")
    assert {row["video_id"] for row in clips} == {row["video_id"] for row in read_rows(work, "videos")}
    params = json.loads(clips[0]["detector_params"])
    assert (params["min_clip_frames"], params["min_scene_frames"]) == (6, 6)  # from the pipeline, from the flag
    assert main(["split", "--work", str(work), "--detector", "histogram"]) == 2
    assert "detector must be one of" in capsys.readouterr().err
