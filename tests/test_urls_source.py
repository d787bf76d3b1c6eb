"""The ``urls`` source end to end: link lists in three formats, downloaded through yt-dlp from loopback."""
import re

import numpy as np
import pandas as pd
import pytest

from timelapse_d.cli import main
from timelapse_d.manifest import read_rows
from timelapse_d.media import sha256_file, write_video
from timelapse_d.net.serve import LocalFileServer

PIPELINE = """
[[stages]]
stage = "discover"
source = "urls"
path = "{path}"

[[stages]]
stage = "download"
allow_hosts = ["127.0.0.1"]
retries = 0
socket_timeout = 5.0
"""


@pytest.fixture(scope="module")
def media_server(tmp_path_factory):
    """Two different videos with the same file name in different folders, served on 127.0.0.1."""
    root = tmp_path_factory.mktemp("media")
    for folder, shade in (("a", 40), ("b", 200)):
        (root / folder).mkdir()
        frames = [np.full((48, 64, 3), shade + i, np.uint8) for i in range(6)]
        write_video(root / folder / "clip.mp4", frames, fps=6)
    with LocalFileServer(root) as server:
        yield server


def run(tmp_path, list_path, *extra):
    pipeline = tmp_path / "urls.toml"
    pipeline.write_text(PIPELINE.format(path=list_path))
    return main(["run", str(pipeline), "--work", str(tmp_path / "work"), "--no-progress", *extra])


def test_text_list_links_with_the_same_file_name_stay_apart(tmp_path, media_server):
    links = tmp_path / "links.txt"
    links.write_text(f"# time-lapses\n{media_server.url}/a/clip.mp4\n\n{media_server.url}/b/clip.mp4\n"
                     "ftp://example.org/clip.mp4\n")
    assert run(tmp_path, links) == 1  # the ftp link failed, and is recorded
    sources = {row["url"]: row for row in read_rows(tmp_path / "work", "sources")}
    assert sources["ftp://example.org/clip.mp4"]["status"] == "failed"
    assert "not an http(s) link" in sources["ftp://example.org/clip.mp4"]["error"]
    videos = [row for row in read_rows(tmp_path / "work", "videos")]
    assert len(videos) == 2 and all(row["status"] == "ok" for row in videos)
    assert len({row["video_id"] for row in videos}) == 2
    assert len({sha256_file(tmp_path / "work" / row["path"]) for row in videos}) == 2
    assert {row["sha256"] for row in videos} == {sha256_file(media_server.root / f / "clip.mp4") for f in "ab"}


def test_csv_list_carries_license_and_attribution_and_appended_links_are_discovered_once(tmp_path, media_server):
    links = tmp_path / "links.csv"
    pd.DataFrame([{"url": f"{media_server.url}/a/clip.mp4", "id": "clouds-01", "license_id": "CC-BY-4.0",
                   "license_name": "CC BY 4.0", "attribution": "Clouds by A. Person, CC BY 4.0",
                   "tags": "cloud; sky"}]).to_csv(links, index=False)
    assert run(tmp_path, links) == 0
    [first] = read_rows(tmp_path / "work", "sources")
    assert first["source_id"] == "urls-clouds-01" and first["license_name"] == "CC BY 4.0"
    assert first["attribution"] == "Clouds by A. Person, CC BY 4.0" and first["tags"] == ["cloud", "sky"]

    pd.DataFrame([{"url": f"{media_server.url}/a/clip.mp4", "id": "clouds-01"},
                  {"url": f"{media_server.url}/b/clip.mp4", "id": "clouds-02"}]).to_csv(links, index=False)
    assert run(tmp_path, links) == 0
    rows = {row["source_id"]: row for row in read_rows(tmp_path / "work", "sources")}
    assert rows["urls-clouds-01"] == first  # not discovered again
    assert rows["urls-clouds-02"]["status"] == "ok"
    assert len(read_rows(tmp_path / "work", "videos")) == 2


def test_parquet_list_with_tag_lists(tmp_path, media_server):
    links = tmp_path / "links.parquet"
    pd.DataFrame([{"url": f"{media_server.url}/b/clip.mp4", "tags": ["water"], "owner_name": "B"}]).to_parquet(links)
    assert run(tmp_path, links) == 0
    [row] = read_rows(tmp_path / "work", "sources")
    assert row["tags"] == ["water"] and row["owner_name"] == "B" and row["license_id"] is None


@pytest.mark.parametrize("content, message", [
    ("url,licence\nhttp://x/a.mp4,CC\n", r"unknown column\(s\) \['licence'\]"),
    ("link\nhttp://x/a.mp4\n", "needs a 'url' column"),
    ("url,id\nhttp://x/a.mp4,v1\nhttp://x/b.mp4,v1\n", "id 'v1' is used by two different links"),
])
def test_unusable_lists_exit_2_naming_the_problem(tmp_path, capsys, content, message):
    links = tmp_path / "links.csv"
    links.write_text(content)
    assert run(tmp_path, links) == 2
    error = capsys.readouterr().err
    assert str(links) in error
    assert re.search(message, error)


def test_a_missing_list_exits_2(tmp_path, capsys):
    assert run(tmp_path, tmp_path / "absent.txt") == 2
    assert "absent.txt does not exist" in capsys.readouterr().err
