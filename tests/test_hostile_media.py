"""The hostile-media corpus (tests/hostile_media.py) through the real pipeline, download then split:
every kind ends in its exact videos row, and its exact clips rows where it was downloaded (damage
past download's sample is split's failed row); the good videos in the same batch are stored byte
for byte, and a rerun changes nothing."""
from __future__ import annotations

import re
import shutil

import pytest
from hostile_media import KINDS, make_corpus

from timelapse_d.cli import main
from timelapse_d.frame_reader import read_frames
from timelapse_d.manifest import read_rows
from timelapse_d.media import VideoProbeError, sha256_file
from timelapse_d.net.serve import LocalFileServer

PIPELINE = """
[[stages]]
stage = "discover"
source = "urls"
path = "{links}"

[[stages]]
stage = "download"
retries = 0
socket_timeout = 5.0
allow_hosts = ["127.0.0.1"]

[[stages]]
stage = "split"
"""


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    """The corpus served from 127.0.0.1 and downloaded by 2 workers, then downloaded again."""
    root = tmp_path_factory.mktemp("hostile")
    corpus = make_corpus(root / "made")
    served = root / "served"
    served.mkdir()
    for kind, medium in corpus.items():
        (served / kind).mkdir()
        shutil.copy(medium.path, served / kind / medium.served)
    work = root / "work"
    with LocalFileServer(served) as server:
        links = {kind: f"{server.url}/{kind}/{medium.served}" for kind, medium in corpus.items()}
        (root / "links.txt").write_text("\n".join(links.values()) + "\n")
        (root / "pipeline.toml").write_text(PIPELINE.format(links=root / "links.txt"))
        command = ["run", str(root / "pipeline.toml"), "--work", str(work), "--no-progress"]
        first = main([*command, "--workers", "2"])
        rows = {row["source_id"]: row for row in read_rows(work, "videos")}
        clips = sorted(read_rows(work, "clips"), key=lambda row: row["clip_id"])
        second = main(command)
        again = {row["source_id"]: row for row in read_rows(work, "videos")}
        assert sorted(read_rows(work, "clips"), key=lambda row: row["clip_id"]) == clips
    sources = {row["url"]: row["source_id"] for row in read_rows(work, "sources")}
    by_kind = {kind: rows[sources[url]] for kind, url in links.items()}
    clips_by_kind = {kind: [clip for clip in clips if clip["video_id"] == row["video_id"]] for kind, row in by_kind.items()}
    return corpus, links, by_kind, work, (first, second), (rows, again), clips_by_kind


def test_the_corpus_has_at_least_twenty_kinds_good_and_bad(corpus_run):
    corpus = corpus_run[0]
    assert len(corpus) >= 20
    assert sum(not medium.reason for medium in corpus.values()) >= 8  # good and unusual ones, kept


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_ends_in_its_exact_row(corpus_run, kind):
    corpus, links, rows, work, _, _, _ = corpus_run
    medium, row = corpus[kind], rows[kind]
    if medium.reason:
        assert row["status"] == "failed"
        prefix = f"download of {links[kind]} failed: "
        assert row["error"].startswith(prefix), row["error"]
        assert re.fullmatch(medium.reason, row["error"].removeprefix(prefix)), row["error"]
        assert row["path"] is None and row["sha256"] is None and row["frames"] is None
    else:
        assert (row["status"], row["error"]) == ("ok", ""), row["error"]
        assert (row["container"], row["frames"], row["width"], row["height"]) == (medium.container, medium.frames,
                                                                                 *medium.size)
        assert row["path"] == f"videos/{row['video_id']}.{medium.container}"
        assert row["sha256"] == sha256_file(work / row["path"]) == sha256_file(medium.path)  # stored byte for byte


def test_nothing_partial_is_left_and_a_rerun_changes_nothing(corpus_run):
    _, _, rows, work, codes, (first, again), _ = corpus_run
    assert codes == (1, 1)  # failed items are recorded, not retried without --retry-failed
    assert first == again
    assert not list((work / "videos" / ".partial").iterdir())
    stored = {str(path.relative_to(work)) for path in (work / "videos").iterdir() if path.is_file()}
    assert stored == {row["path"] for row in rows.values() if row["status"] == "ok"}


@pytest.mark.parametrize("kind", KINDS)
def test_each_downloaded_kind_is_split_whole_or_failed_with_the_damage(corpus_run, kind):
    corpus, _, rows, work, _, _, clips = corpus_run
    medium, row, video_clips = corpus[kind], rows[kind], clips[kind]
    if medium.reason:
        assert video_clips == []  # never downloaded, never split
    elif medium.split_reason:
        assert [(clip["status"], clip["clip_id"]) for clip in video_clips] == [("failed", f"{row['video_id']}_split-failed")]
        prefix = f"decoding {row['path']} failed: "
        assert video_clips[0]["error"].startswith(prefix), video_clips[0]["error"]
        assert re.fullmatch(medium.split_reason, video_clips[0]["error"].removeprefix(prefix)), video_clips[0]["error"]
    else:  # clips tile every decoded frame
        assert all(clip["status"] in ("ok", "dropped") for clip in video_clips), video_clips
        ranges = sorted((clip["start_frame"], clip["end_frame"]) for clip in video_clips)
        assert [start for start, _ in ranges] == [0, *(end for _, end in ranges[:-1])]
        assert ranges[-1][1] == medium.frames
        # precompute's reader (OpenCV) numbers the frames as split's decode (PyAV) did
        assert [index for index, _ in read_frames(work / row["path"], range(medium.frames))] == list(range(medium.frames))
        with pytest.raises(VideoProbeError):
            list(read_frames(work / row["path"], [medium.frames]))
