"""The manifests joined for one clip: its row, its video's, its source's and its effective label.

Precompute plans from it and rebuild selects with it, so both read the tables the same way.

    for joined in clip_joins(work):
        joined.clip["clip_id"], joined.video["path"], joined.source["license_id"], joined.label
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator

from timelapse_d.labelling.effective import read_effective_labels
from timelapse_d.manifest import read_rows


@dataclass(frozen=True)
class ClipJoin:
    clip: dict  # its clips row (status ok)
    video: dict  # its videos row (status ok)
    source: dict  # its sources row ({} when the table has none)
    label: dict | None  # its effective label (consensus, human, import or auto), None before labelling

    @cached_property
    def metadata(self) -> dict:
        """The source's ``metadata`` JSON (ground-truth files, a dataset's own split, ...)."""
        return json.loads(self.source.get("metadata") or "{}")


def clip_joins(work: str | Path, clip_ids: set[str] | None = None) -> Iterator[ClipJoin]:
    """The ok clips (those of ``clip_ids`` only, when given) whose video downloaded ok, in clip key order."""
    labels = read_effective_labels(work)
    videos = {row["video_id"]: row for row in read_rows(work, "videos") if row["status"] == "ok"}
    sources = {row["source_id"]: row for row in read_rows(work, "sources")}
    for clip in read_rows(work, "clips"):
        video = videos.get(clip["video_id"])
        if clip["status"] != "ok" or video is None or (clip_ids is not None and clip["clip_id"] not in clip_ids):
            continue
        yield ClipJoin(clip, video, sources.get(video["source_id"], {}), labels.get(clip["clip_id"]))
