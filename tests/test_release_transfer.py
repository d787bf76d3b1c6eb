"""Releases that travel: publish to a directory or fsspec URL, pull over HTTP from a loopback server
that fails on request (resets, 500s, truncated and corrupted bodies), verify at a URL."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fgla_tiny import tiny_config
from http_faults import FaultyFileServer

from fgla_model.cli import main as fgla_main
from fgla_model.data import DataConfig, train_loader, train_shards
from timelapse_d.cli import main
from timelapse_d.manifest import read_rows


@pytest.fixture(scope="module")
def release(precomputed_run, tmp_path_factory):
    """A release test@1.0.0 of the precomputed run, its shards apart (as ``release create`` leaves them)."""
    base = tmp_path_factory.mktemp("transfer")
    work = base / "work"
    shutil.copytree(precomputed_run, work, symlinks=True)
    assert main(["release", "create", "--work", str(work), "--name", "test", "--version", "1.0.0",
                 "--root", str(base / "manifests"), "--no-progress"]) == 0
    return base / "manifests" / "test" / "1.0.0"


@pytest.fixture(scope="module")
def published(release, tmp_path_factory):
    """The release published into a directory, and that directory served on loopback."""
    root = tmp_path_factory.mktemp("published")
    assert main(["release", "publish", str(release), "--to", str(root), "--no-progress"]) == 0
    with FaultyFileServer(root) as server:
        yield {"root": root, "path": root / "test" / "1.0.0", "server": server,
               "url": f"{server.url}/test/1.0.0"}


def shards_of(path):
    return json.loads((path / "release.json").read_text())["shards"]


def test_publish_writes_a_self_contained_release_that_verifies(release, published):
    path = published["path"]
    record = json.loads((path / "release.json").read_text())
    assert record["shards_location"] == "shards"
    assert sorted(p.name for p in (path / "shards").iterdir()) == sorted(s["name"] for s in record["shards"])
    assert {p.name for p in path.iterdir()} == {"release.json", "README.md", "ATTRIBUTION.md", "pipeline.toml",
                                               "manifests", "shards"}
    assert read_rows(path, "samples") == read_rows(release, "samples")
    assert main(["release", "verify", str(path), "--no-progress"]) == 0


def test_a_published_version_is_never_overwritten_and_an_interrupted_publish_resumes(release, published,
                                                                                     tmp_path, capsys):
    capsys.readouterr()
    assert main(["release", "publish", str(release), "--to", str(published["root"]), "--no-progress"]) == 2
    assert "never overwritten" in capsys.readouterr().err

    dest = tmp_path / "dest"
    assert main(["release", "publish", str(release), "--to", f"file://{dest}", "--no-progress"]) == 0  # fsspec URL
    path = dest / "test" / "1.0.0"
    first, second = sorted((path / "shards").iterdir())[:2]
    (path / "release.json").unlink()  # as if killed before the end: one shard gone, one half written
    first.unlink()
    kept = second.stat().st_mtime_ns
    (path / "shards" / ".tmp-half.tar").write_bytes(b"x" * 10)
    assert main(["release", "publish", str(release), "--to", str(dest), "--no-progress"]) == 0
    assert first.exists() and second.stat().st_mtime_ns == kept  # only the missing shard was copied
    assert not list(path.rglob(".tmp-*"))
    assert main(["release", "verify", str(path), "--no-progress"]) == 0


def test_publish_refuses_a_damaged_shard_and_publishes_nothing(release, tmp_path, capsys):
    shards = tmp_path / "shards"
    shutil.copytree(release.parent.parent.parent / "work" / "shards", shards)
    name = shards_of(release)[0]["name"]
    data = bytearray((shards / name).read_bytes())
    data[len(data) // 3] ^= 1
    (shards / name).write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["release", "publish", str(release), "--to", str(tmp_path / "dest"), "--shards", str(shards),
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"shards/{name}: the copy from" in err and "sha256" in err
    assert not (tmp_path / "dest" / "test" / "1.0.0" / "release.json").exists()
    assert not (tmp_path / "dest" / "test" / "1.0.0" / "shards" / name).exists()


def test_pull_survives_resets_errors_truncation_and_corruption(published, tmp_path):
    server, shards = published["server"], shards_of(published["path"])
    paths = [f"/test/1.0.0/shards/{shard['name']}" for shard in shards]
    server.fail(paths[0], "reset", "500")
    server.fail(paths[1], "truncate")
    server.fail(paths[-1], "corrupt")
    assert main(["release", "pull", published["url"], "--to", str(tmp_path / "mirror"), "--no-progress"]) == 0
    mirror = tmp_path / "mirror" / "test" / "1.0.0"
    assert (mirror / "release.json").read_bytes() == (published["path"] / "release.json").read_bytes()
    assert main(["release", "verify", str(mirror), "--no-progress"]) == 0
    assert server.gets(paths[0])[0] is None and server.gets(paths[0])[1].startswith("bytes=")  # resumed mid-shard
    assert server.gets(paths[1])[-1].startswith("bytes=") and len(server.gets(paths[-1])) == 2  # corrupt: again
    assert not list(mirror.rglob(".tmp-*"))


def test_a_second_pull_fetches_only_what_is_missing_or_wrong(published, tmp_path):
    server, shards = published["server"], shards_of(published["path"])
    assert main(["release", "pull", published["url"], "--to", str(tmp_path), "--no-progress"]) == 0
    mirror = tmp_path / "test" / "1.0.0"
    (mirror / "shards" / shards[0]["name"]).unlink()
    damaged = mirror / "shards" / shards[1]["name"]
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"!")
    before = {shard["name"]: len(server.gets(f"/test/1.0.0/shards/{shard['name']}")) for shard in shards}
    assert main(["release", "pull", published["url"], "--to", str(tmp_path), "--no-progress"]) == 0
    fetched = {name for name, count in before.items() if len(server.gets(f"/test/1.0.0/shards/{name}")) > count}
    assert fetched == {shards[0]["name"], shards[1]["name"]}
    assert main(["release", "verify", str(mirror), "--no-progress"]) == 0


def test_pull_names_what_it_cannot_fetch_keeps_nothing_bad_and_finishes_on_a_rerun(published, tmp_path, capsys):
    server, shard = published["server"], shards_of(published["path"])[0]["name"]
    server.fail(f"/test/1.0.0/shards/{shard}", *["corrupt"] * 3)
    capsys.readouterr()
    assert main(["release", "pull", published["url"], "--to", str(tmp_path), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"shards/{shard}" in err and "after 3 tries" in err
    mirror = tmp_path / "test" / "1.0.0"
    assert not (mirror / "release.json").exists() and not (mirror / "shards" / shard).exists()
    assert main(["release", "pull", published["url"], "--to", str(tmp_path), "--no-progress"]) == 0
    assert main(["release", "verify", str(mirror), "--no-progress"]) == 0


def test_pull_from_an_fsspec_url(published, tmp_path):
    assert main(["release", "pull", f"file://{published['path']}", "--to", str(tmp_path), "--workers", "1",
                 "--no-progress"]) == 0
    assert main(["release", "verify", str(tmp_path / "test" / "1.0.0"), "--no-progress"]) == 0


def test_verify_a_published_release_at_its_url(published, capsys):
    assert main(["release", "verify", published["url"], "--no-progress"]) == 0
    shard = published["path"] / "shards" / shards_of(published["path"])[-1]["name"]
    original = shard.read_bytes()
    try:
        shard.write_bytes(original[:100] + bytes([original[100] ^ 1]) + original[101:])
        capsys.readouterr()
        assert main(["release", "verify", published["url"], "--no-progress"]) == 1
        assert f"shard {shard.name} has been altered" in capsys.readouterr().err
    finally:
        shard.write_bytes(original)


def _batches(shards, count):
    config = DataConfig(workers=0, shuffle_buffer=4)
    loader = iter(train_loader(shards, config, image_size=32, encoder_size=16, seed=5, batch_size=3))
    return [next(loader) for _ in range(count)]


def test_training_streams_a_published_release_over_http_with_the_same_batches(published):
    """Three batches more than one epoch; the URL stream is reset mid-shard, answered with a 500, then cut short."""
    server, path = published["server"], published["path"]
    local, remote = train_shards(path), train_shards(published["url"])
    assert [shard.path.rpartition("/")[2] for shard in remote] == [Path(shard.path).name for shard in local]
    count = sum(shard.samples for shard in local) // 3 + 3
    name = local[0].path.rpartition("/")[2]
    server.fail(f"/test/1.0.0/shards/{name}", "reset", "500", "truncate")
    before = len(server.gets(f"/test/1.0.0/shards/{name}"))
    for mine, theirs in zip(_batches(local, count), _batches(remote, count), strict=True):
        assert mine["key"] == theirs["key"] and mine["index"].tolist() == theirs["index"].tolist()
        for field in ("frame", "next_frame", "flow", "groups", "encoder_flow", "encoder_masks", "flipped"):
            assert torch.equal(mine[field], theirs[field]), field
    ranges = server.gets(f"/test/1.0.0/shards/{name}")[before:]
    assert any(header and header.startswith("bytes=") for header in ranges), ranges  # resumed, not restarted


def test_fgla_train_and_codebook_take_a_release_url(published, tmp_path):
    config = tiny_config(tmp_path / "tiny.toml", steps=2, log_every=1, checkpoint_every=2)
    run = tmp_path / "run"
    assert fgla_main(["train", "--release", published["url"], "--config", str(config), "--out", str(run),
                      "--device", "cpu", "--no-progress"]) == 0
    record = json.loads((run / "run.json").read_text())["release"]
    assert record["path"] == published["url"] and record["shards_dir"] == f"{published['url']}/shards"
    assert fgla_main(["codebook", "--release", published["url"], "--checkpoint", str(run / "checkpoint.pt"),
                      "--out", str(tmp_path / "book.npz"), "--device", "cpu", "--no-progress"]) == 0
    with np.load(tmp_path / "book.npz", allow_pickle=False) as book:
        assert len(book["keys"]) == sum(s["samples"] for s in shards_of(published["path"]) if s["split"] == "train")
    out = tmp_path / "table"
    assert fgla_main(["evaluate", "--checkpoint", str(run / "checkpoint.pt"), "--release", published["url"],
                      "--frames", "3", "--samples", "1", "--out", str(out), "--device", "cpu", "--no-progress"]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["release"] == published["url"] and report["rows"]["run"]["masked_ssim"] is not None


def test_a_server_that_compresses_still_gives_the_stored_bytes(tmp_path):
    """A server that gzips what the client accepts (nginx, CDNs) must not change the bytes hashed."""
    import gzip
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from timelapse_d.net.locations import read_bytes

    body = json.dumps({"name": "x" * 200}).encode()

    class Compressing(BaseHTTPRequestHandler):
        def do_GET(self):
            gzipped = "gzip" in (self.headers.get("Accept-Encoding") or "")
            data = gzip.compress(body) if gzipped else body
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Compressing)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert read_bytes(f"http://127.0.0.1:{server.server_address[1]}/release.json") == body
    finally:
        server.shutdown()
        server.server_close()
