"""The ``sky-timelapse`` source: import an existing Sky Time-lapse tree (Xiong et al., CVPR 2018).

    ROOT/sky_train/<video>/<n>/<video>_frames_XXXXXXXX.jpg     (640x360 JPEG frames)
    ROOT/sky_test/<video>/<n>/<video>_frames_XXXXXXXX.jpg

One source per ``<video>`` folder; each numbered ``<n>`` folder is one clip, whose frame range is
taken from the frame numbers in its file names. Nothing is re-encoded: the download stage links
the video folder as ``WORK/videos/<video_id>`` after decoding every frame, and hashes the frames.
The dataset's own train/test split is kept in each row's metadata (``split``).

    [[stages]]
    stage = "discover"
    source = "sky-timelapse"
    root = "/data/sky_timelapse"
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np

from timelapse_d.errors import UsageError
from timelapse_d.keys import source_key
from timelapse_d.media import VideoProbeError
from timelapse_d.sources.base import Source

SPLIT_FOLDERS = {"train": "sky_train", "test": "sky_test"}
_FRAME_NUMBER = re.compile(r"_frames_(\d{8})\.jpg$")


@dataclass(frozen=True)
class SkyTimelapseConfig:
    root: str  # the folder holding sky_train/ and sky_test/
    splits: tuple[str, ...] = ("train", "test")  # which of the dataset's splits to import

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

    @classmethod
    def predefined_clips(cls, metadata: str | None) -> list[tuple[int, int]]:
        """The dataset's own clips: one per numbered folder, by the frame numbers in its file names."""
        return [(clip["start"], clip["end"]) for clip in json.loads(metadata)["clips"]]

    @classmethod
    def fetch_local(cls, row: dict, work: str) -> dict:
        video_dir = Path(url2pathname(urlparse(row["url"]).path))
        clips = json.loads(row["metadata"])["clips"]
        import cv2

        digest, total_bytes, frames, size = hashlib.sha256(), 0, 0, None
        for clip in clips:
            for path in sorted((video_dir / clip["folder"]).glob(f"{video_dir.name}_frames_*.jpg")):
                data = path.read_bytes()
                image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                if image is None:
                    raise VideoProbeError(f"{path}: not a decodable JPEG frame")
                if size is None:
                    size = image.shape[:2]
                elif image.shape[:2] != size:
                    raise VideoProbeError(f"{path}: frame size {image.shape[1]}x{image.shape[0]} differs from "
                                          f"the video's {size[1]}x{size[0]}")
                relative = f"{clip['folder']}/{path.name}"
                digest.update(f"{relative}\0{hashlib.sha256(data).hexdigest()}\n".encode())
                total_bytes += len(data)
                frames += 1
        if size is None:
            raise VideoProbeError(f"{video_dir}: no frames left to import")
        link = Path(work) / "videos" / row["source_id"]
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(f".tmp-{os.getpid()}-{link.name}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(video_dir, target_is_directory=True)
        os.replace(tmp, link)
        return {"path": f"videos/{row['source_id']}", "sha256": digest.hexdigest(), "bytes": total_bytes,
                "width": size[1], "height": size[0], "fps": None, "frames": frames, "duration": None,
                "codec": "jpeg-frames"}
