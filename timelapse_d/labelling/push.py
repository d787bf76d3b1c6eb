"""``label push``: one Label Studio task per clip that has none yet, pre-annotated from the scores.

A task's identity is ``data.clip_id``: the project's tasks are listed before importing, so a
second push (or a rerun after the server went away mid-push) imports only the missing clips.
Tasks go in batches; Label Studio imports a batch in one transaction, so a stop leaves whole
batches. The browser plays ``WORK/clips/<clip_id>.mp4`` (written first, by ``clips export``)
through Label Studio's local file serving: ``/data/local-files/?d=clips/<clip_id>.mp4``.
"""
from __future__ import annotations

import time
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from timelapse_d.atomic import write_json_atomic
from timelapse_d.clip_export import FRAME_FOLDER_FPS, clip_video_path, export_clips
from timelapse_d.labelling.auto import auto_label, clip_tags, verdict_confidence
from timelapse_d.labelling.client import LabelStudioClient, LabelStudioError
from timelapse_d.labelling.project import DEFAULT_TITLE, MODEL_VERSION, find_or_create_project
from timelapse_d.manifest import read_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushReport:
    project_id: int
    existing: int  # clips that already had a task
    imported: int
    failed: list[dict]  # clips whose video could not be exported: {clip_id, error}
    videos_served: bool  # whether the server serves WORK/clips to the browser


def existing_tasks(client: LabelStudioClient, project_id: int) -> dict[str, int]:
    """clip_id -> task id, for the project's tasks that carry a clip_id."""
    tasks = client.paginate("/api/tasks/", key="tasks", project=project_id, fields="task_only")
    return {task["data"]["clip_id"]: task["id"] for task in tasks if "clip_id" in task.get("data", {})}


def ensure_clip_storage(client: LabelStudioClient, project_id: int, clips_dir: Path) -> bool:
    """Give the project a local-files storage over ``WORK/clips`` so that Label Studio serves the clip
    videos (it serves only files under a project's storage). False, with a warning, when the server
    refuses (``WORK/clips`` is not under its LOCAL_FILES_DOCUMENT_ROOT: not the server of this WORK)."""
    path = str(clips_dir.resolve())
    storages = client.get("/api/storages/localfiles/", project=project_id)
    if any(storage.get("path") == path for storage in storages):
        return True
    try:
        client.post("/api/storages/localfiles/", {"project": project_id, "path": path, "title": "timelapse-d clips",
                                                  "use_blob_urls": True, "regex_filter": r".*\.mp4"})
    except LabelStudioError as error:
        if " answered 400" not in str(error):
            raise
        log.warning("Label Studio at %s will not serve %s (is it the server of this work directory?): %s",
                    client.url, path, error)
        return False
    return True


def _result(name: str, values: list[str]) -> dict:
    return {"from_name": name, "to_name": "video", "type": "choices", "value": {"choices": values}}


def clip_task(clip: dict, tags: list[str] | None, fps: float) -> dict:
    """The task of one clip: its video (played at ``fps``, the rate its mp4 was cut at) and keys, and
    the automatic verdict as a prediction whose score is the verdict's confidence."""
    auto = auto_label(clip, tags)
    result = [_result("camera_motion", [auto["camera_motion"]]),
              _result("usable", ["yes" if auto["usable"] else "no"])]
    if auto["categories"]:
        result.append(_result("categories", auto["categories"]))
    return {"data": {"video": "/data/local-files/?d=" + quote(clip_video_path(clip["clip_id"])),
                     "clip_id": clip["clip_id"], "video_id": clip["video_id"],
                     "start_frame": clip["start_frame"], "end_frame": clip["end_frame"], "fps": fps},
            "predictions": [{"model_version": MODEL_VERSION, "score": verdict_confidence(clip), "result": result}]}


def push(work: str | Path, client: LabelStudioClient, title: str = DEFAULT_TITLE, batch_size: int = 50,
         annotators_per_clip: int = 1) -> PushReport:
    work = Path(work)
    began = time.monotonic()
    clips = [row for row in read_rows(work, "clips") if row["status"] == "ok"]
    project = find_or_create_project(client, title, annotators_per_clip)
    have = existing_tasks(client, project["id"])
    todo = [clip for clip in clips if clip["clip_id"] not in have]
    existing, failed = len(clips) - len(todo), []
    if todo:
        results = export_clips(work, [clip["clip_id"] for clip in todo])
        failed = [{"clip_id": r["clip_id"], "error": r["error"]} for r in results if r["status"] == "failed"]
        bad = {r["clip_id"] for r in failed}
        todo = [clip for clip in todo if clip["clip_id"] not in bad]
    (work / "clips").mkdir(exist_ok=True)
    served = ensure_clip_storage(client, project["id"], work / "clips")
    tags = clip_tags(work)
    fps = {row["video_id"]: row["fps"] or FRAME_FOLDER_FPS for row in read_rows(work, "videos")}
    for first in range(0, len(todo), batch_size):
        batch = [clip_task(clip, tags.get(clip["video_id"]), fps[clip["video_id"]])
                 for clip in todo[first:first + batch_size]]
        client.post(f"/api/projects/{project['id']}/import", batch)
    report = PushReport(project["id"], existing, len(todo), failed, served)
    write_json_atomic(work / "stats" / "label_push.json",
                      {"project_id": report.project_id, "existing": report.existing, "imported": report.imported,
                       "failed": report.failed, "videos_served": served, "seconds": round(time.monotonic() - began, 3)})
    return report
