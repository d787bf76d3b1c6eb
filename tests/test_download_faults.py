"""The download stage against a fault-injecting server on 127.0.0.1: every fault ends in the right
manifest row, nothing corrupt is ever ok, and the rest of the batch completes. Also: Retry-After,
the per-host limit across worker processes, the safety of the yt-dlp options, extractor choice,
format choice, and the probe's truncation check."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from fault_server import FaultServer

from timelapse_d.cli import main
from timelapse_d.manifest import read_rows
from timelapse_d.media import VideoProbeError, probe_video, sha256_file, write_video
from timelapse_d.net.hostlimit import host_key, host_slot, is_loopback
from timelapse_d.net.retry_after import retry_after_seconds
from timelapse_d.net.serve import LocalFileServer
from timelapse_d.net.ytdlp import YtDlpDownloader, describe_failure, redact_url
from timelapse_d.stages.base import StageContext
from timelapse_d.stages.download import DownloadConfig, DownloadStage

PIPELINE = """
[[stages]]
stage = "discover"
source = "urls"
path = "{links}"

[[stages]]
stage = "download"
retries = 1
socket_timeout = 2.0
retry_backoff = 0.0
max_retry_wait = 5.0
max_per_host = {max_per_host}
allow_hosts = {allow_hosts}
"""


def _noise_video(path: Path, frames: int, seed: int, size: tuple[int, int] = (48, 64)) -> None:
    rng = np.random.default_rng(seed)
    write_video(path, [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(frames)], fps=12)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, bytes]:
    """Two small real mp4s (64x48, 12 frames) of noise, which does not compress: a cut lands in ``mdat``."""
    root = tmp_path_factory.mktemp("media")
    for seed, name in enumerate(("clip.mp4", "other.mp4")):
        _noise_video(root / name, 12, seed)
    return {path.name: path.read_bytes() for path in root.iterdir()}


@pytest.fixture(scope="module")
def server(media):
    with FaultServer(media, retry_after=1, stall_seconds=8.0, slow_seconds=0.25) as server:
        yield server


def run(tmp_path: Path, links: list[str], *extra: str, max_per_host: int = 2, name: str = "work",
        allow_hosts: tuple[str, ...] = ("127.0.0.1",)) -> tuple[int, Path]:
    (tmp_path / f"{name}.txt").write_text("\n".join(links) + "\n")
    pipeline = tmp_path / f"{name}.toml"
    pipeline.write_text(PIPELINE.format(links=tmp_path / f"{name}.txt", max_per_host=max_per_host,
                                        allow_hosts=json.dumps(list(allow_hosts))))
    work = tmp_path / name
    return main(["run", str(pipeline), "--work", str(work), "--no-progress", *extra]), work


# 1. one batch through the real pipeline: every fault ends in the right row

FAULTS = {  # behaviour -> (status, what the error says)
    "status500": ("failed", "HTTP 500 Internal Server Error (gave up after 2 attempts)"),
    "reset": ("failed", "connection reset"),
    "stall": ("failed", "timed out after 2 s"),
    "short": ("failed", "incomplete body (got {two_thirds} of {declared} bytes)"),
    "html": ("failed", "not a video: the link serves a web page"),
    "htmlmp4": ("failed", "a web page (HTML), not a video"),
    "truncated": ("failed", "truncated video (read "),
    "tofile": ("failed", "the link leads off http(s), to file:///etc/passwd; refused"),
    "toftp": ("failed", "the link leads off http(s), to ftp://127.0.0.1/clip.mp4; refused"),
    "toloopback": ("failed", "127.0.0.2 is a loopback address; refused by the host policy (allow_hosts)"),
    "tometadata": ("failed", "169.254.169.254 is a cloud metadata address; refused by the host policy (allow_hosts)"),
    "flaky500": ("ok", ""),
    "status429": ("ok", ""),
    "status429dl": ("ok", ""),
}


def test_every_fault_ends_in_the_right_row_and_the_batch_completes(tmp_path, server, media):
    clip = media["clip.mp4"]
    links = {behaviour: f"{server.url}/{behaviour}/batch/clip.mp4" for behaviour in FAULTS}
    names = ["clip.mp4", "other.mp4"] * 2
    links.update({f"ok-{i}": f"{server.url}/ok/batch-{i}/{name}" for i, name in enumerate(names)})
    started = time.monotonic()
    code, work = run(tmp_path, list(links.values()), "--workers", "2")
    assert code == 1  # some items failed, each recorded
    assert time.monotonic() - started < 40

    sources = {row["url"]: row["source_id"] for row in read_rows(work, "sources")}
    videos = {row["source_id"]: row for row in read_rows(work, "videos")}
    assert len(videos) == len(links)
    rows = {name: videos[sources[url]] for name, url in links.items()}
    expected = {name: ("ok", "") for name in links if name.startswith("ok-")}
    expected.update({name: (status, reason.format(two_thirds=2 * len(clip) // 3, declared=len(clip) + 4096))
                     for name, (status, reason) in FAULTS.items()})
    for name, (status, reason) in expected.items():
        row = rows[name]
        assert row["status"] == status, (name, row["error"])
        assert reason in row["error"], (name, row["error"])
        if status == "failed":
            assert row["error"].startswith(f"download of {links[name]} failed: "), row["error"]
            assert "\x1b" not in row["error"] and "\r" not in row["error"]
            assert row["path"] is None and row["sha256"] is None
        else:
            served = media[links[name].rsplit("/", 1)[1]]
            path = work / row["path"]
            assert row["sha256"] == sha256_file(path) == hashlib.sha256(served).hexdigest()
            assert row["bytes"] == len(served) and (row["width"], row["height"], row["frames"]) == (64, 48, 12)
            assert row["codec"] == "h264" and row["fps"] == 12.0

    # nothing partial is left, and every file in videos/ has an ok row
    assert not list((work / "videos" / ".partial").iterdir())
    ok_paths = {row["path"] for row in videos.values() if row["status"] == "ok"}
    on_disk = {str(path.relative_to(work)) for path in (work / "videos").iterdir() if path.is_file()}
    assert on_disk == ok_paths

    # a rerun leaves every row as it is (the archive is the manifest; failed rows wait for --retry-failed)
    assert run(tmp_path, list(links.values()))[0] == 1
    assert {row["source_id"]: row for row in read_rows(work, "videos")} == videos


def test_retry_after_is_honoured(tmp_path, server):
    path = "/status429/honoured/clip.mp4"
    code, work = run(tmp_path, [server.url + path])
    assert code == 0
    [row] = read_rows(work, "videos")
    assert row["status"] == "ok"
    first, second = server.requests_for(path)[:2]
    assert second.start - first.start >= 1.0  # Retry-After: 1


def test_a_retry_after_longer_than_max_retry_wait_fails_at_once(tmp_path, server):
    stage = DownloadStage(DownloadConfig(retries=3, socket_timeout=2.0, retry_backoff=0.0, max_retry_wait=5.0,
                                         allow_hosts=("127.0.0.1",)))
    url = f"{server.url}/status429/too-long/clip.mp4?retry_after=30"
    started = time.monotonic()
    [row] = stage.process({"source_id": "urls-too-long", "source_kind": "urls", "url": url},
                          StageContext(work=str(tmp_path)))
    assert time.monotonic() - started < 5
    assert row["status"] == "failed"
    assert row["error"] == (f"download of {server.url}/status429/too-long/clip.mp4?... failed: HTTP 429 Too Many "
                            f"Requests (Retry-After 30 s); the server asks to wait 30 s, more than max_retry_wait 5 s")


# 2. the host policy: nothing non-public unless the pipeline allows it

def test_non_public_hosts_are_refused_before_any_connection_unless_allowed(tmp_path, server):
    port = server.url.rsplit(":", 1)[1]
    links = {"private": "http://10.255.255.1/clip.mp4", "unique-local": "http://[fd00::1]/clip.mp4",
             "metadata": "http://169.254.169.254/latest/meta-data/iam/", "shared": "http://100.64.0.1/clip.mp4",
             "by-name": f"http://localhost:{port}/ok/policy-name/clip.mp4",
             "by-address": f"http://127.0.0.1:{port}/ok/policy-address/clip.mp4"}
    started = time.monotonic()
    assert run(tmp_path, list(links.values()), allow_hosts=("localhost",))[0] == 1
    assert time.monotonic() - started < 15  # refused at once: no connection, no retry, no timeout
    work = tmp_path / "work"
    sources = {row["url"]: row["source_id"] for row in read_rows(work, "sources")}
    videos = {row["source_id"]: row for row in read_rows(work, "videos")}
    errors = {name: videos[sources[url]]["error"].removeprefix(f"download of {url} failed: ")
              for name, url in links.items()}
    assert errors == {
        "private": "10.255.255.1 is a private address; refused by the host policy (allow_hosts)",
        "unique-local": "fd00::1 is a private address; refused by the host policy (allow_hosts)",
        "metadata": "169.254.169.254 is a cloud metadata address; refused by the host policy (allow_hosts)",
        "shared": "100.64.0.1 is a non-public address; refused by the host policy (allow_hosts)",
        "by-name": "",  # allowed by its name
        "by-address": "127.0.0.1 is a loopback address; refused by the host policy (allow_hosts)"}
    assert server.requests_for("/ok/policy-address/clip.mp4") == []  # nothing reached the server
    assert len(server.requests_for("/ok/policy-name/clip.mp4")) >= 1


def test_the_synthetic_source_s_own_server_needs_the_explicit_setting(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    _noise_video(served / "a.mp4", 4, seed=3)
    item = {"source_id": "synthetic-a", "source_kind": "synthetic", "url": "a.mp4"}
    with LocalFileServer(served) as local:
        url = local.url
        context = StageContext(work=str(tmp_path), services={"synthetic": url})
        [refused] = DownloadStage(DownloadConfig(retries=0)).process(item, context)
        [allowed] = DownloadStage(DownloadConfig(retries=0, allow_hosts=("127.0.0.0/8",))).process(item, context)
    assert refused["error"] == (f"download of {url}/a.mp4 failed: 127.0.0.1 is a loopback address; "
                                f"refused by the host policy (allow_hosts)")
    assert (allowed["status"], allowed["frames"], allowed["container"]) == ("ok", 4, "mp4")


@pytest.mark.parametrize("allow, message", [
    ("10.0.0.0/8", "allow_hosts must be a list"), (["10.0.0.0/33"], "allow_hosts entry '10.0.0.0/33' is not an address range"),
    ([" x"], "allow_hosts entries must be host names"), (["300.1.1.1/8"], "'300.1.1.1/8' is not an address range")])
def test_a_bad_allow_hosts_entry_is_named(allow, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DownloadConfig(allow_hosts=allow)


# 3. the per-host limit across worker processes

@pytest.mark.parametrize("executor", ["local", "ray"])
def test_per_host_limit_holds_across_worker_processes(tmp_path, server, executor, monkeypatch):
    # Items run in key order, one host's three first, and Ray starts its worker processes only as tasks
    # come (slowly on a busy machine): answers slow enough that the other host's first worker is up in time
    monkeypatch.setattr(server, "slow_seconds", 1.0)
    port = server.url.rsplit(":", 1)[1]
    links = [f"http://{host}:{port}/slow/{executor}-one-{host}-{i}/clip.mp4" for host in ("127.0.0.1", "localhost")
             for i in range(3)]
    assert run(tmp_path, links, "--executor", executor, "--workers", "4", max_per_host=1, name="one")[0] == 0
    prefix = f"/slow/{executor}-one-"
    assert server.max_in_flight(prefix, "127.0.0.1") == server.max_in_flight(prefix, "localhost") == 1
    assert server.max_in_flight(prefix) == 2  # hosts do not wait for each other


def test_max_per_host_two_lets_exactly_two_holders_in(tmp_path):
    # flock conflicts between separate opens even in one process, so threads stand in for workers
    inside, both_in = threading.Semaphore(0), threading.Barrier(2, timeout=5)
    third_entered = threading.Event()

    def holder() -> None:
        with host_slot(tmp_path, "example.org", max_per_host=2):
            inside.release()
            both_in.wait()  # breaks (and fails the test) unless a second holder gets in meanwhile
            time.sleep(0.3)

    def third() -> None:
        inside.acquire(), inside.acquire()  # both slots are taken
        with host_slot(tmp_path, "example.org", max_per_host=2):
            third_entered.set()

    threads = [threading.Thread(target=holder) for _ in range(2)]
    late = threading.Thread(target=third)
    for thread in (*threads, late):
        thread.start()
    assert not third_entered.wait(0.2)  # a third holder waits while two are in
    for thread in threads:
        thread.join()
    late.join(5)
    assert third_entered.is_set() and not both_in.broken


HOLD_A_SLOT = """
import sys, time
from timelapse_d.net.hostlimit import host_slot
with host_slot(sys.argv[1], "example.org", max_per_host=1):
    print("held", flush=True)
    time.sleep(60)
"""


def test_the_slot_of_a_killed_worker_is_free_at_once(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_A_SLOT, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        taken = threading.Event()

        def take() -> None:
            with host_slot(tmp_path, "example.org", max_per_host=1):
                taken.set()

        waiter = threading.Thread(target=take)
        waiter.start()
        assert not taken.wait(0.3)  # held by the other process
        holder.kill()  # SIGKILL: no clean-up runs; the kernel drops the lock
        assert taken.wait(5)
        waiter.join()
    finally:
        holder.kill()
        holder.wait()


def test_host_slots_limit_holders_and_space_out_downloads(tmp_path):
    taken = threading.Event()

    def take() -> None:
        with host_slot(tmp_path, "example.org", 2):
            taken.set()

    with host_slot(tmp_path, "example.org", 2) as first, host_slot(tmp_path, "example.org", 2) as second:
        assert {first, second} == {0, 1}
        waiter = threading.Thread(target=take)
        waiter.start()
        assert not taken.wait(0.3)  # both slots held (flock conflicts between open files, even in one process)
    assert taken.wait(5)
    waiter.join()

    with host_slot(tmp_path, "pause.example.org", 1, min_interval=0.4):
        pass
    started = time.monotonic()
    with host_slot(tmp_path, "pause.example.org", 1, min_interval=0.4):
        assert time.monotonic() - started >= 0.35
    assert sorted(p.name for p in (tmp_path / "locks" / "hosts" / "pause.example.org").iterdir()) == ["0.lock"]


def test_host_keys():
    assert host_key("https://www.Flickr.com:443/photos/a/1?x=1") == "www.flickr.com"
    assert host_key("http://[::1]:8080/a.mp4") == "__1" and is_loopback("__1")
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and not is_loopback("www.flickr.com")
    for bad in ("../etc", "..", ""):
        with pytest.raises(ValueError, match="host_key"):
            host_slot("/tmp", bad, 1).__enter__()


# 4. what yt-dlp is allowed to do

def test_ytdlp_options_are_explicit_about_safety(tmp_path):
    from yt_dlp import YoutubeDL

    options = YtDlpDownloader(DownloadConfig()).options(tmp_path / "attempt-0")
    assert options["cookiefile"] is None and options["cookiesfrombrowser"] is None
    assert options["usenetrc"] is False and options["netrc_cmd"] is None
    assert options["username"] is None and options["password"] is None
    assert options["postprocessors"] == [] and options["post_hooks"] == [] and options["fixup"] == "never"
    assert options["external_downloader"] == {"default": "native"}
    assert options["js_runtimes"] == {} and options["remote_components"] == []
    assert not [key for key in options if "exec" in key.lower()]
    assert options["noplaylist"] is True and options["allowed_extractors"] == ["flickr", "generic"]
    # nothing yt-dlp keeps can make two sources share a file
    assert options["cachedir"] is False and options["download_archive"] is None and options["continuedl"] is False
    assert options["outtmpl"] == {"default": str(tmp_path / "attempt-0" / "media.%(ext)s")}
    assert (options["retries"], options["fragment_retries"], options["socket_timeout"]) == (3, 3, 30.0)
    assert options["sleep_interval_requests"] == 1.0 and options["ratelimit"] is None

    with YoutubeDL(options) as ydl:  # and yt-dlp reads them that way
        assert list(ydl._ies) == ["Flickr", "Generic"]
        assert all(not pps for pps in ydl._pps.values()) and ydl._post_hooks == []
        assert len(ydl.cookiejar) == 0


def test_flickr_pages_go_to_the_flickr_extractor_and_direct_links_to_the_generic_one(tmp_path):
    from yt_dlp import YoutubeDL

    with YoutubeDL(YtDlpDownloader(DownloadConfig()).options(tmp_path)) as ydl:
        def extractor(url: str) -> str:
            return next(key for key, ie in ydl._ies.items() if ie.suitable(url))

        assert extractor("https://www.flickr.com/photos/forestwander-nature-pictures/5645318632") == "Flickr"
        assert extractor("https://flickr.com/photos/12345678@N02/5645318632/in/photostream/") == "Flickr"
        assert extractor("https://live.staticflickr.com/video/5645318632/abc/1080p.mp4") == "Generic"
        assert extractor("http://127.0.0.1:8000/a/clip.mp4") == "Generic"
        assert extractor("https://www.youtube.com/watch?v=YE7VzlLtp-4") == "Generic"  # YouTube's is not loaded


@pytest.mark.parametrize("max_height, flickr, generic", [
    (1080, "1080p", "mp4-720"), (720, "720p", "mp4-720"), (480, "360p", "mp4-720"), (100, "288p", "mp4-720")])
def test_format_choice_prefers_mp4_up_to_max_height(tmp_path, max_height, flickr, generic):
    from yt_dlp import YoutubeDL

    order = ["288p", "iphone_wifi", "360p", "appletv", "720p", "1080p", "orig"]  # yt-dlp's Flickr quality order
    flickr_formats = [{"format_id": name, "url": f"https://www.flickr.com/photos/u/1/play/{name}/s/", "quality": i}
                      for i, name in enumerate(order)]
    generic_formats = [{"format_id": f"{ext}-{height}", "url": f"http://x/{height}.{ext}", "ext": ext, "height": height,
                        "vcodec": "avc1" if ext == "mp4" else "vp9", "acodec": "none"}
                       for ext, height in (("mp4", 720), ("webm", 1080), ("mp4", 2160))]
    with YoutubeDL(YtDlpDownloader(DownloadConfig(max_height=max_height)).options(tmp_path)) as ydl:
        def choose(formats: list[dict], extractor: str) -> str:
            info = {"id": "1", "title": "t", "formats": formats, "extractor": extractor, "extractor_key": extractor,
                    "webpage_url": "https://www.flickr.com/photos/u/1"}
            return ydl.process_ie_result(info, download=False)["format_id"]

        assert choose(flickr_formats, "Flickr") == flickr
        assert choose(generic_formats, "Generic") == generic
    assert DownloadConfig(max_height=1080).format_selector.startswith("b[ext=mp4][height<=?1080]")


@pytest.mark.parametrize("params, message", [
    ({"retries": -1}, "retries must be >= 0, got -1"),
    ({"retries": 1.5}, "retries must be an integer, got 1.5"),
    ({"max_per_host": 0}, "max_per_host must be >= 1, got 0"),
    ({"socket_timeout": 0.0}, "socket_timeout must be > 0, got 0.0"),
    ({"rate_limit": 0}, "rate_limit must be bytes per second (an integer > 0) or None, got 0"),
    ({"max_height": 0}, "max_height must be >= 1, got 0"),
    ({"retry_backoff": -1.0}, "retry_backoff must be >= 0, got -1.0"),
    ({"format": " b"}, "format must be a yt-dlp format selector"),
])
def test_config_errors_name_the_field_and_the_value(params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DownloadConfig(**params)


def test_error_text_has_no_url_secrets():
    shown = redact_url("https://user:pw@example.org:8080/v/a.mp4?token=s3cret#t=1")
    assert shown == "https://example.org:8080/v/a.mp4?..."


@pytest.mark.parametrize("message, reason, retry", [
    # yt-dlp's download errors arrive as text once its own retries are spent (other HTTP stacks word them so)
    ("ERROR: \r[download] Got error: Downloaded 100 bytes, expected 200 bytes. Giving up after 3 retries",
     "incomplete body (got 100 of 200 bytes)", False),
    ("ERROR: \x1b[0;31m[download]\x1b[0m Got error: The read operation timed out. Giving up after 1 retries",
     "timed out after 2 s", False),
    ("ERROR: [download] Got error: HTTP Error 503: Service Unavailable. Giving up after 3 retries",
     "HTTP 503 Service Unavailable", False),
    ("ERROR: [Flickr] 123: not a video (see https://x.org/a?key=s3cret)",
     "123: not a video (see https://x.org/a?...)", False),
])
def test_failure_descriptions(message, reason, retry):
    from yt_dlp.utils import DownloadError

    failure = describe_failure(DownloadError(message), [message], socket_timeout=2.0)
    assert (failure.reason, failure.retry) == (reason, retry)


def test_retry_after_in_seconds_or_as_a_date():
    from email.utils import format_datetime

    assert retry_after_seconds("3") == 3.0 and retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    in_ten = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=10), usegmt=True)
    assert 8 < retry_after_seconds(in_ten) <= 10
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


# 5. the probe: a truncated file is never a video (every other kind: tests/test_hostile_media.py)

def test_probe_catches_truncated_files_and_passes_whole_ones(tmp_path, media):
    for frames, size in ((2, (16, 16)), (12, (48, 64)), (30, (96, 128))):
        whole = tmp_path / f"whole-{frames}.mp4"
        _noise_video(whole, frames, seed=frames, size=size)
        info = probe_video(whole)  # our own H.264 files are never flagged
        assert (info.frames, info.width, info.height) == (frames, size[1], size[0])

    clip = media["clip.mp4"]
    for fraction in (0.3, 0.6, 0.9, 0.99):
        cut = tmp_path / f"cut-{fraction}.mp4"
        cut.write_bytes(clip[: int(len(clip) * fraction)])
        with pytest.raises(VideoProbeError,
                           match=r"truncated video \(read \d+ of 12 frames; the file ends inside its 'mdat' box"):
            probe_video(cut)
