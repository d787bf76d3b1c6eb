"""Labelling against a real Label Studio server: serve, push, pull, auto, and outages.

One server for the session (installed on first use into the user's cache, then ~25 s to start);
tests use projects of their own titles and copies of the tiny run's work directory.
"""
from __future__ import annotations

import json
import os
import stat
import time

import pytest
import requests
from label_studio_server import LabelStudioServer, start_session_server, stop_session_server

from timelapse_d.cli import main
from timelapse_d.labelling import client as client_module
from timelapse_d.labelling.auto import verdict_confidence
from timelapse_d.categories import CATEGORIES
from timelapse_d.labelling.server import stop_server
from timelapse_d.manifest import read_rows, table_path


@pytest.fixture(scope="session")
def ls_server(tiny_run, tmp_path_factory):
    began = time.monotonic()
    server = start_session_server(tiny_run, tmp_path_factory.mktemp("label-studio"))
    print(f"\nLabel Studio installed (if needed) and started in {time.monotonic() - began:.1f} s at {server.url}")
    yield server
    stop_session_server(server)


@pytest.fixture
def work(ls_server: LabelStudioServer, tiny_run, tmp_path):
    return ls_server.work_copy(tiny_run, tmp_path / "work")


def label(*args: str) -> int:
    return main(["label", *args])


def clip_ids(work) -> list[str]:
    return [row["clip_id"] for row in read_rows(work, "clips") if row["status"] == "ok"]


def test_serve_keeps_credentials_private_and_reuses_a_running_server(ls_server, capsys):
    credentials = ls_server.work / "label-studio" / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    secrets = json.loads(credentials.read_text())
    record = json.loads((ls_server.work / "label-studio" / "server.json").read_text())
    assert record["url"].startswith("http://127.0.0.1:") and os.getpid() != record["pid"]
    assert not {secrets["password"], secrets["token"]} & set(map(str, record.values()))
    command_line = open(f"/proc/{record['pid']}/cmdline", "rb").read().decode()
    assert "label-studio" in command_line and secrets["password"] not in command_line  # ps shows no secret
    assert secrets["token"] not in command_line
    me = ls_server.api("GET", "/api/current-user/whoami")
    assert me["email"] == secrets["email"]
    assert label("serve", "--work", str(ls_server.work)) == 0
    out, err = capsys.readouterr()
    assert out.strip() == ls_server.url and "already running" in err and str(credentials) in err
    assert secrets["password"] not in out + err and secrets["token"] not in out + err


def test_push_imports_one_pre_annotated_task_per_clip_once(ls_server, work, capsys):
    title = "push once"
    assert label("push", "--work", str(work), "--url", ls_server.url, "--project", title, "--batch-size", "4") == 0
    tasks = ls_server.tasks(title)
    assert sorted(task["data"]["clip_id"] for task in tasks) == sorted(clip_ids(work))
    clips = {row["clip_id"]: row for row in read_rows(work, "clips")}
    for task in tasks:
        clip_id = task["data"]["clip_id"]
        assert task["data"]["video"] == f"/data/local-files/?d=clips/{clip_id}.mp4"
        assert (work / "clips" / f"{clip_id}.mp4").is_file()
        prediction = {r["from_name"]: r["value"]["choices"] for r in task["predictions"][0]["result"]}
        assert prediction["camera_motion"][0] in ("none", "pan", "zoom") and prediction["usable"][0] in ("yes", "no")
        assert task["predictions"][0]["score"] == pytest.approx(verdict_confidence(clips[clip_id]))
        assert 0.5 <= task["predictions"][0]["score"] <= 1.0
        assert task["data"]["start_frame"] == clips[clip_id]["start_frame"]
        assert task["data"]["fps"] == 12.0  # the tiny pipeline's videos: the Video tag plays them at their rate
    config = ls_server.project(title)["label_config"]
    assert 'frameRate="$fps"' in config and config.count('choice="single-radio"') == 2
    assert label("push", "--work", str(work), "--url", ls_server.url, "--project", title) == 0
    assert len(ls_server.tasks(title)) == len(tasks)
    assert "0 task(s) imported, 6 already there" in capsys.readouterr().err


def test_the_browser_can_play_the_clip_videos(ls_server):
    """The session server's own work directory: its clips are served by Label Studio itself."""
    title = "playable"
    assert label("push", "--work", str(ls_server.work), "--project", title) == 0
    task = ls_server.tasks(title)[0]
    session = requests.Session()
    session.headers["Authorization"] = f"Token {ls_server.token}"
    response = session.get(ls_server.url + task["data"]["video"], timeout=60)
    assert response.status_code == 200
    assert response.content == (ls_server.work / "clips" / f"{task['data']['clip_id']}.mp4").read_bytes()


def test_pull_writes_annotations_consensus_and_agreement_and_is_idempotent(ls_server, work, capsys):
    title = "pull"
    assert label("push", "--work", str(work), "--url", ls_server.url, "--project", title,
                 "--annotators-per-clip", "2") == 0
    alice, bob = ls_server.annotator("alice@example.org"), ls_server.annotator("bob@example.org")
    tasks = sorted(ls_server.tasks(title), key=lambda task: task["data"]["clip_id"])
    agree, split_vote = tasks[0], tasks[1]
    ls_server.annotate(alice, agree["id"], "pan", False, ("cloud", "tree"))
    ls_server.annotate(bob, agree["id"], "pan", False, ("cloud",))
    ls_server.annotate(alice, split_vote["id"], "none", True, ("water",))
    ls_server.annotate(bob, split_vote["id"], "zoom", True, ("water",))

    assert label("pull", "--work", str(work), "--url", ls_server.url, "--project", title) == 0
    rows = {(row["clip_id"], row["annotator"]): row for row in read_rows(work, "labels")}
    humans = [row for row in rows.values() if row["label_source"] == "human"]
    assert len(humans) == 4 and {row["status"] for row in humans} == {"ok"}
    assert all(row["ls_task_id"] and row["ls_annotation_id"] and row["labelled_at"] for row in humans)
    assert all(row["needs_review"] is False for row in humans)
    annotators = {row["annotator"] for row in humans}
    assert sorted(name.split("-")[0] for name in annotators) == ["alice", "bob"]
    assert all("@" not in name and "." not in name for name in annotators)

    first = rows[(agree["data"]["clip_id"], "consensus")]
    assert (first["camera_motion"], first["usable"], first["label_source"]) == ("pan", False, "consensus")
    assert first["needs_review"] is True and first["categories"] == ["cloud"]  # "tree": 1 of 2 is a tie
    second = rows[(split_vote["data"]["clip_id"], "consensus")]
    assert second["camera_motion"] is None and second["usable"] is True and second["needs_review"] is True
    assert second["categories"] == ["water"] and second["agreement"] == pytest.approx(0.75)
    assert len(rows) == 6  # 4 annotations, 2 consensus rows; no rows for clips nobody annotated

    stats = json.loads((work / "stats" / "label_agreement.json").read_text())
    assert stats["clips_with_several_annotators"] == 2
    assert stats["fields"]["camera_motion"]["unanimous"] == 1 and stats["fields"]["usable"]["unanimous_share"] == 1.0
    assert stats["fields"]["camera_motion"]["pairwise_agreement"] == 0.5

    manifest, stats_bytes = table_path(work, "labels").read_bytes(), (work / "stats" / "label_agreement.json").read_bytes()
    assert label("pull", "--work", str(work), "--url", ls_server.url, "--project", title) == 0
    assert table_path(work, "labels").read_bytes() == manifest
    assert (work / "stats" / "label_agreement.json").read_bytes() == stats_bytes

    secrets = json.loads((ls_server.work / "label-studio" / "credentials.json").read_text())
    for path in [path for path in [*(work / "manifests").rglob("*"), *(work / "stats").iterdir()] if path.is_file()]:
        data = path.read_bytes()
        assert secrets["token"].encode() not in data and secrets["password"].encode() not in data, path

    assert label("auto", "--work", str(work)) == 0  # auto rows join the human ones, which stay
    after = {(row["clip_id"], row["annotator"]): row for row in read_rows(work, "labels")}
    assert {key: after[key] for key in rows} == rows


def test_auto_labels_every_clip_from_its_scores_and_reruns_change_nothing(work):
    assert label("auto", "--work", str(work)) == 0
    rows = read_rows(work, "labels")
    assert [row["clip_id"] for row in rows] == sorted(clip_ids(work))
    sources = {row["source_id"]: row["tags"] for row in read_rows(work, "sources")}
    videos = {row["video_id"]: row["source_id"] for row in read_rows(work, "videos")}
    clips = {row["clip_id"]: row for row in read_rows(work, "clips")}
    for row in rows:
        assert (row["annotator"], row["label_source"], row["status"]) == ("auto", "auto", "ok")
        assert row["camera_motion"] in ("none", "pan", "zoom") and isinstance(row["usable"], bool)
        tags = sources[videos[clips[row["clip_id"]]["video_id"]]]
        assert set(row["categories"]) <= set(tags)
    before = table_path(work, "labels").read_bytes()
    assert label("auto", "--work", str(work)) == 0
    assert table_path(work, "labels").read_bytes() == before


def test_unreachable_server_is_exit_1_naming_the_url_and_writes_nothing(work, capsys):
    with __import__("socket").socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    before = sorted(p.name for p in (work / "manifests").iterdir())
    for verb in ("push", "pull"):
        assert label(verb, "--work", str(work), "--url", closed, "--timeout", "5") == 1
        err = capsys.readouterr().err
        assert closed in err and "unreachable" in err
    assert sorted(p.name for p in (work / "manifests").iterdir()) == before
    assert not (work / "manifests" / "labels.parquet").exists()


def test_server_stopped_mid_push_then_pull_down_and_a_rerun_completes(ls_server, work, capsys, monkeypatch):
    """The real server is stopped between two import batches; pull fails while it is down; after
    a restart (on the same port, remembered), push completes without duplicates and pull works."""
    title, url, port = "outage", ls_server.url, ls_server.port
    real_post = client_module.LabelStudioClient.post
    imports = []

    def post_then_stop(self, path, json):
        answer = real_post(self, path, json)
        if path.endswith("/import"):
            imports.append(len(json))
            if len(imports) == 1:
                stop_server(ls_server.work)  # the server goes away after the first batch
        return answer

    monkeypatch.setattr(client_module.LabelStudioClient, "post", post_then_stop)
    assert label("push", "--work", str(work), "--url", url, "--project", title, "--batch-size", "2") == 1
    assert url in capsys.readouterr().err and imports == [2]
    monkeypatch.undo()
    before = {name: read_rows(work, name) for name in ("clips", "labels")}
    assert label("pull", "--work", str(work), "--url", url, "--project", title, "--timeout", "5") == 1
    assert url in capsys.readouterr().err
    assert {name: read_rows(work, name) for name in ("clips", "labels")} == before

    assert label("serve", "--work", str(ls_server.work)) == 0  # no --port: the one it had, remembered
    assert ls_server.url == url and ls_server.port == port
    assert label("push", "--work", str(work), "--url", url, "--project", title, "--batch-size", "2") == 0
    assert "4 task(s) imported, 2 already there" in capsys.readouterr().err
    tasks = ls_server.tasks(title)
    assert sorted(task["data"]["clip_id"] for task in tasks) == sorted(clip_ids(work))
    assert label("pull", "--work", str(work), "--url", url, "--project", title) == 0


def test_an_annotator_labels_a_clip_in_the_browser_and_pull_returns_it(ls_server, browser):
    """Debian's chromium, driven by Playwright: log in, open a task, play its clip, answer with radio
    buttons and check boxes, submit; `label pull` returns what was clicked."""
    title, work = "in the browser", ls_server.work
    assert label("push", "--work", str(work), "--project", title) == 0
    project, task = ls_server.project(title), sorted(ls_server.tasks(title), key=lambda task: task["id"])[0]
    credentials = json.loads((work / "label-studio" / "credentials.json").read_text())
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{ls_server.url}/user/login/")
        page.fill("input[name=email]", credentials["email"])
        page.fill("input[name=password]", credentials["password"])
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        page.goto(f"{ls_server.url}/projects/{project['id']}/data?task={task['id']}")
        page.wait_for_function("() => document.querySelector('video') && document.querySelector('video').readyState >= 2",
                               timeout=60_000)
        fps, frames = task["data"]["fps"], task["data"]["end_frame"] - task["data"]["start_frame"]
        page.wait_for_function(f"() => /of\\s{frames}\\b/.test(document.body.innerText)", timeout=10_000)  # "1 of 14":
        page.get_by_role("button", name="Play").click()
        page.wait_for_function("() => document.querySelector('video').currentTime > 0.1", timeout=10_000)
        assert page.get_by_role("radio", name="none").count() == 1  # single choices are radio buttons
        page.get_by_role("radio", name="none").check()
        page.get_by_role("radio", name="yes").check()
        for category in CATEGORIES:  # the pre-annotation may have ticked some
            page.locator(f"input[type=checkbox][name={category}]").set_checked(category == "cloud")
        page.get_by_role("button", name="Submit current annotation").click()
        page.wait_for_function("() => !document.querySelector('[data-testid=bottombar-submit-button]')",
                               timeout=20_000)
    finally:
        page.close()
    assert fps == 12.0
    assert label("pull", "--work", str(work), "--project", title) == 0
    rows = [row for row in read_rows(work, "labels") if row["clip_id"] == task["data"]["clip_id"]]
    [row] = [row for row in rows if row["label_source"] == "human"]
    assert (row["camera_motion"], row["usable"], row["categories"]) == ("none", True, ["cloud"])
    assert (row["ls_task_id"], row["needs_review"], row["status"]) == (task["id"], False, "ok")
