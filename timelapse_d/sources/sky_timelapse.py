"""The ``sky-timelapse`` source: import an existing Sky Time-lapse tree (Xiong et al., CVPR 2018).

    ROOT/sky_train/<video>/<n>/<video>_frames_XXXXXXXX.jpg     (640x360 JPEG frames)
    ROOT/sky_test/<video>/<n>/<video>_frames_XXXXXXXX.jpg

One source per ``<video>`` folder; each numbered ``<n>`` folder is one clip, whose frame range is
taken from the frame numbers in its file names. Nothing is re-encoded: rows point at the frame
folders. The dataset's own train/test split is kept in each row's metadata (``split``).

    [[stages]]
    stage = "discover"
    source = "sky-timelapse"
    root = "/data/sky_timelapse"
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from timelapse_d.errors import UsageError
from timelapse_d.keys import source_key
from timelapse_d.sources.base import Source

SPLIT_FOLDERS = {"train": "sky_train", "test": "sky_test"}
_FRAME_NUMBER = re.compile(r"_frames_(\d{8})\.jpg$")


@dataclass(frozen=True)
class SkyTimelapseConfig:
    root: str  # the folder holding sky_train/ and sky_test/
    splits: tuple[str, ...] = ("train", "test")

    def __post_init__(self) -> None:
        unknown = sorted(set(self.splits) - set(SPLIT_FOLDERS))
        if not self.splits or unknown:
            raise ValueError(f"splits must be a non-empty subset of {sorted(SPLIT_FOLDERS)}, got {list(self.splits)}")


def scan_clips(video_dir: Path) -> list[dict]:
    """The clip folders of one video: folder name, frame range [start, end), frame count."""
    clips = []
    folders = sorted((p for p in video_dir.iterdir() if p.is_dir()),
                     key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name))
    for folder in folders:
        numbers = sorted(int(match.group(1)) for path in folder.iterdir()
                         if path.name.startswith(f"{video_dir.name}_frames_")
                         and (match := _FRAME_NUMBER.search(path.name)))
        if numbers:
            clips.append({"folder": folder.name, "start": numbers[0], "end": numbers[-1] + 1,
                          "frames": len(numbers)})
    return clips


class SkyTimelapseSource(Source):
    name = "sky-timelapse"
    Config = SkyTimelapseConfig

    def plan(self, work: str) -> list[dict]:
        root = Path(self.config.root)
        items, split_of = [], {}
        for split in self.config.splits:
            split_dir = root / SPLIT_FOLDERS[split]
            if not split_dir.is_dir():
                raise UsageError(f"Sky Time-lapse root {root}: no {SPLIT_FOLDERS[split]}/ folder")
            for video_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
                video = video_dir.name
                if video in split_of:
                    raise UsageError(f"Sky Time-lapse root {root}: video {video!r} is in both "
                                     f"{SPLIT_FOLDERS[split_of[video]]}/ and {SPLIT_FOLDERS[split]}/")
                split_of[video] = split
                items.append({"query": f"sky-timelapse:{SPLIT_FOLDERS[split]}/{video}", "split": split,
                              "video_dir": str(video_dir.resolve()), "source_id": source_key(self.name, video)})
        return items

    def discover(self, item: dict, work: str) -> list[dict]:
        video_dir = Path(item["video_dir"])
        row = {"source_id": item["source_id"], "source_kind": self.name, "query": item["query"],
               "url": video_dir.as_uri(), "title": f"Sky Time-lapse {item['split']} video {video_dir.name}",
               "license_name": "Sky Time-lapse dataset terms (research use)",
               "attribution": f"Sky Time-lapse dataset (Xiong et al., CVPR 2018), video {video_dir.name}",
               "tags": ["sky"], "discovered_at": datetime.now(timezone.utc)}
        clips = scan_clips(video_dir)
        row["metadata"] = json.dumps({"split": item["split"], "clips": clips}, sort_keys=True)
        if not clips:
            return [{**row, "status": "failed",
                     "error": f"{video_dir}: no frames named {video_dir.name}_frames_XXXXXXXX.jpg in its clip folders"}]
        return [{**row, "status": "ok", "error": ""}]
