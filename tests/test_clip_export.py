"""``clips export``: exact frame ranges as browser-playable H.264 mp4, from videos and frame folders."""
from __future__ import annotations

import json
import shutil

import cv2
import numpy as np

from timelapse_d.cli import main
from timelapse_d.manifest import read_rows, write_rows
from timelapse_d.media import probe_video


def _frame(path, index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = capture.read()
    capture.release()
    assert ok, (path, index)
    return frame.astype(np.float32)


def test_export_cuts_each_clip_s_frame_range_and_skips_existing_files(tiny_run, tmp_path, capsys):
    work = tmp_path / "work"
    shutil.copytree(tiny_run, work)
    assert main(["clips", "export", "--work", str(work)]) == 0
    videos = {row["video_id"]: row for row in read_rows(work, "videos")}
    clips = read_rows(work, "clips")
    for clip in clips:
        path = work / "clips" / f"{clip['clip_id']}.mp4"
        info = probe_video(path)
        assert (info.frames, info.codec, info.width, info.height) == (clip["end_frame"] - clip["start_frame"], "h264", 128, 96)
        source = work / videos[clip["video_id"]]["path"]
        for offset in (0, info.frames - 1):  # first and last frames are the range's, not a neighbour's
            assert np.abs(_frame(path, offset) - _frame(source, clip["start_frame"] + offset)).mean() < 6
    assert json.loads((work / "stats" / "clips_export.json").read_text())["counts"]["ok"] == len(clips)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (work / "clips").iterdir()}
    capsys.readouterr()
    assert main(["clips", "export", "--work", str(work)]) == 0
    assert f"0 written, {len(clips)} already there" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in (work / "clips").iterdir()} == mtimes
    assert main(["clips", "export", "--work", str(work), "--clip", "no-such-clip"]) == 2


def test_export_encodes_frame_folder_videos(tmp_path):
    work, name = tmp_path / "work", "skyvid"
    for number in range(20):
        folder = work / "videos" / "sky-timelapse-skyvid" / str(1 + number // 10)
        folder.mkdir(parents=True, exist_ok=True)
        image = np.full((36, 63, 3), number * 12, np.uint8)  # odd width: padded to even
        cv2.imwrite(str(folder / f"{name}_frames_{number:08d}.jpg"), image)
    write_rows(work, "videos", [{"video_id": "sky-timelapse-skyvid", "status": "ok", "error": "",
                                 "path": "videos/sky-timelapse-skyvid", "fps": None, "codec": "jpeg-frames"}])
    write_rows(work, "clips", [{"clip_id": "sky-timelapse-skyvid_f000005-000015", "video_id": "sky-timelapse-skyvid",
                                "status": "ok", "error": "", "start_frame": 5, "end_frame": 15}])
    assert main(["clips", "export", "--work", str(work)]) == 0
    path = work / "clips" / "sky-timelapse-skyvid_f000005-000015.mp4"
    info = probe_video(path)
    assert (info.frames, info.codec, info.width % 2, info.height % 2) == (10, "h264", 0, 0)
    assert abs(_frame(path, 0).mean() - 5 * 12) < 4 and abs(_frame(path, 9).mean() - 14 * 12) < 4
