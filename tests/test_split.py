"""Scene splitting: cuts against the synthetic ground truth and a real video's published cuts."""
import contextlib
import json
import shutil
from pathlib import Path

import pytest
from hostile_media import write_vfr

from timelapse_d.cli import main
from timelapse_d.frame_reader import read_frames
from timelapse_d.manifest import read_rows
from timelapse_d.net.serve import LocalFileServer
from timelapse_d.stages.split import SplitConfig, windows

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets"

SYNTHETIC = """
[[stages]]
stage = "discover"
source = "synthetic"
videos = 6
seed = 11
width = 160
height = 120
min_shots = 2
max_shots = 3
min_shot_frames = 20
max_shot_frames = 30

[[stages]]
stage = "download"
allow_hosts = ["127.0.0.1"]

[[stages]]
stage = "split"
min_scene_frames = 10
min_clip_frames = {min_clip}
max_clip_frames = {max_clip}
"""


def run_synthetic(tmp_path, min_clip=8, max_clip=0):
    pipeline = tmp_path / "split.toml"
    pipeline.write_text(SYNTHETIC.format(min_clip=min_clip, max_clip=max_clip))
    work = tmp_path / "work"
    assert main(["run", str(pipeline), "--work", str(work), "--workers", "2", "--no-progress"]) == 0
    return work


def ground_truth_cuts(work):
    return {row["source_id"]: json.loads((work / json.loads(row["metadata"])["ground_truth"]).read_text())["cuts"]
            for row in read_rows(work, "sources")}


def test_cuts_match_the_synthetic_ground_truth_and_clips_tile_each_video(tmp_path):
    work = run_synthetic(tmp_path)
    clips, videos = read_rows(work, "clips"), {row["video_id"]: row for row in read_rows(work, "videos")}
    truth = {(video, cut) for video, cuts in ground_truth_cuts(work).items() for cut in cuts}
    found = {(row["video_id"], row["start_frame"]) for row in clips if row["start_frame"] > 0}
    precision, recall = len(found & truth) / len(found), len(found & truth) / len(truth)
    assert (precision, recall) == (1.0, 1.0), (sorted(found - truth), sorted(truth - found))
    for video_id, video in videos.items():
        ranges = sorted((row["start_frame"], row["end_frame"]) for row in clips if row["video_id"] == video_id)
        assert ranges[0][0] == 0 and ranges[-1][1] == video["frames"]
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    row = clips[0]
    assert row["clip_id"] == f"{row['video_id']}_f{row['start_frame']:06d}-{row['end_frame']:06d}"
    assert row["start_time"] == row["start_frame"] / 12.0 and row["detector"] == "content"
    assert json.loads(row["detector_params"])["threshold"] == 27.0
    assert all(row["camera_motion_score"] is not None and row["zoom_per_frame"] > 0 for row in clips)


def test_long_scenes_become_windows_and_short_ones_are_dropped_with_the_reason(tmp_path):
    work = run_synthetic(tmp_path, min_clip=8, max_clip=9)
    clips = read_rows(work, "clips")
    assert all(row["end_frame"] - row["start_frame"] <= 9 for row in clips)
    dropped = [row for row in clips if row["status"] == "dropped"]
    assert all(row["end_frame"] - row["start_frame"] < 8 and "shorter than min_clip_frames 8" in row["error"]
               for row in dropped)
    assert windows(0, 25, 9) == [(0, 8), (8, 17), (17, 25)]


def test_the_real_test_video_is_cut_where_pyscenedetect_publishes(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(ASSETS / "videos" / "pyscenedetect_testvideo.mp4", served / "testvideo.mp4")
    golden = json.loads((ASSETS / "videos" / "pyscenedetect_testvideo_golden_ContentDetector.json").read_text())
    with LocalFileServer(served) as server:
        links = tmp_path / "links.txt"
        links.write_text(f"{server.url}/testvideo.mp4\n")
        pipeline = tmp_path / "real.toml"
        pipeline.write_text(f'[[stages]]\nstage = "discover"\nsource = "urls"\npath = "{links}"\n'
                            '[[stages]]\nstage = "download"\nallow_hosts = ["127.0.0.1"]\n[[stages]]\nstage = "split"\nmin_clip_frames = 1\n')
        assert main(["run", str(pipeline), "--work", str(tmp_path / "work"), "--no-progress"]) == 0
    starts = sorted(row["start_frame"] for row in read_rows(tmp_path / "work", "clips"))
    assert starts[1:] == golden["cuts"] == [30, 180, 394]


@pytest.mark.parametrize("params, message", [
    ({"detector": "histogram"}, "detector must be one of"),
    ({"threshold": 0}, "threshold must be > 0"),
    ({"min_clip_frames": 50, "max_clip_frames": 20}, r"max_clip_frames \(20\) is below min_clip_frames \(50\)"),
])
def test_bad_split_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        SplitConfig(**params)


def test_a_cut_in_variable_frame_rate_video_is_a_clip_boundary_in_decoded_frames(tmp_path):
    """20 frames at 10 fps, then 20 at 30 fps, with a hard cut at decoded frame 30 (2.333 s). By the
    average frame rate (14.3 fps) that time would be frame 33; every stage counts decoded frames."""
    served = tmp_path / "served"
    served.mkdir()
    write_vfr(served / "vfr.mp4", 40, cut_at=30, slow=20)
    with LocalFileServer(served) as server:
        links = tmp_path / "links.txt"
        links.write_text(f"{server.url}/vfr.mp4\n")
        pipeline = tmp_path / "vfr.toml"
        pipeline.write_text(f'[[stages]]\nstage = "discover"\nsource = "urls"\npath = "{links}"\n'
                            '[[stages]]\nstage = "download"\nallow_hosts = ["127.0.0.1"]\n'
                            '[[stages]]\nstage = "split"\nmin_scene_frames = 5\nmin_clip_frames = 5\n')
        assert main(["run", str(pipeline), "--work", str(tmp_path / "work"), "--no-progress"]) == 0
    [video] = read_rows(tmp_path / "work", "videos")
    assert video["frames"] == 40 and 14 < video["fps"] < 15
    clips = sorted(read_rows(tmp_path / "work", "clips"), key=lambda row: row["start_frame"])
    assert [(row["start_frame"], row["end_frame"]) for row in clips] == [(0, 30), (30, 40)]
    assert [(row["start_time"], row["end_time"]) for row in clips] == [(0.0, 2.333), (2.333, 2.666)]  # frames' own
    frames = dict(read_frames(tmp_path / "work" / video["path"], [29, 30]))
    assert frames[29][..., 2].mean() > frames[29][..., 0].mean()  # the first scene is blue...
    assert frames[30][..., 0].mean() > frames[30][..., 2].mean()  # ...the second red, from frame 30 on


def test_the_one_call_content_score_is_pyscenedetects_own():
    """Split's detector scores frames in one OpenCV call; PySceneDetect's ContentDetector, fed the
    same frames, gives the same score for each."""
    from scenedetect import ContentDetector, FrameTimecode

    from timelapse_d.media import decode_frames
    from timelapse_d.small_frames import detection_frame
    from timelapse_d.stages.split import _detector

    ours, theirs = _detector(SplitConfig()), ContentDetector()
    scores = []
    with contextlib.closing(decode_frames(ASSETS / "videos" / "pyscenedetect_testvideo.mp4")) as frames:
        for index, (_, frame) in zip(range(120), frames):
            small, position = detection_frame(frame, 5), FrameTimecode(index, fps=30.0)
            scores.append((ours._calculate_frame_score(position, small), theirs._calculate_frame_score(position, small)))
    assert max(theirs for _, theirs in scores) > 27.0  # a cut among them
    assert [ours for ours, _ in scores] == pytest.approx([theirs for _, theirs in scores], abs=1e-9)


def test_the_adaptive_detector_finds_the_real_videos_hard_cuts_too():
    from timelapse_d.stages.split import detect_scenes

    video = ASSETS / "videos" / "pyscenedetect_testvideo.mp4"
    content = detect_scenes(video, SplitConfig(score_pairs=0)).ranges
    assert len(content) >= 3
    assert detect_scenes(video, SplitConfig(detector="adaptive", score_pairs=0)).ranges == content


def test_skipping_deblocking_on_unreferenced_frames_barely_changes_what_split_sees():
    """Split decodes without the deblocking filter on frames no other frame references: on the real
    video (x264, B-frames) it takes effect on about half the frames, and changes the detector's
    frame scores by far less than a cut's and the analysis copies by a fraction of a grey level."""
    import numpy as np

    from timelapse_d.media import decode_frames
    from timelapse_d.small_frames import analysis_grey, detection_frame
    from timelapse_d.stages.split import DECODER_OPTIONS, _detector

    def decoded(options):
        detector, scores, greys = _detector(SplitConfig()), [], []
        with contextlib.closing(decode_frames(ASSETS / "videos" / "pyscenedetect_testvideo.mp4", options)) as frames:
            for _, frame in frames:
                scores.append(detector._calculate_frame_score(None, detection_frame(frame, 5)))
                greys.append(analysis_grey(frame).astype(np.int16))
        return np.array(scores), np.array(greys)

    (full_scores, full_greys), (split_scores, split_greys) = decoded(None), decoded(DECODER_OPTIONS)
    changed = np.abs(full_greys - split_greys).mean(axis=(1, 2))  # (frames,) mean grey-level change
    assert (changed > 0).mean() > 0.3  # the option is in effect
    assert changed.max() < 0.1
    assert np.abs(full_scores - split_scores).max() < 2.0 and full_scores.max() > 27.0  # a cut scores 80


def test_score_pairs_0_samples_and_scores_nothing(monkeypatch):
    import timelapse_d.stages.split as split

    video = ASSETS / "videos" / "pyscenedetect_testvideo.mp4"
    scored = split.detect_scenes(video, SplitConfig(), split.ClipMeasure(SplitConfig(), {}, None, ""))
    assert all(scores["camera_motion_score"] is not None for scores in scored.scores.values())
    assert split.pairs_inside(dict.fromkeys(range(0, 40, 8)), 0, 40, 0) == []

    def no_sampling(frame):  # noqa: ANN001, ANN202
        raise AssertionError("a pair was sampled")

    monkeypatch.setattr(split, "analysis_grey_and_colour", no_sampling)
    none = SplitConfig(score_pairs=0)
    unscored = split.detect_scenes(video, none, split.ClipMeasure(none, {}, None, ""))
    assert unscored.ranges == scored.ranges
    assert all(scores["camera_motion_score"] is None and scores["categories"] is None
               for scores in unscored.scores.values())


def test_a_scene_is_measured_when_it_closes_and_a_long_shot_is_thinned(monkeypatch):
    """Each scene's clips are measured as soon as the detector closes it, and at most MAX_OPEN_PAIRS
    pairs of the scene being decoded are held (here 6 instead of 512, so the real video's longer
    scenes are thinned): the scenes are the same, and each clip is measured from pairs spread over it."""
    import timelapse_d.stages.split as split

    video, held, measured = ASSETS / "videos" / "pyscenedetect_testvideo.mp4", [], {}
    offer = split._PairSampler.offer

    def offer_and_count(sampler, index, frame):  # noqa: ANN001
        offer(sampler, index, frame)
        held.append(len(sampler.open))

    class Recorded(split.ClipMeasure):
        def measure(self, pairs, start, end):  # noqa: ANN001
            measured[start, end] = split.pairs_inside(pairs, start, end, self.config.score_pairs)
            return super().measure(pairs, start, end)

    monkeypatch.setattr(split._PairSampler, "offer", offer_and_count)
    full = split.detect_scenes(video, SplitConfig(), Recorded(SplitConfig(), {}, None, ""))
    assert max(held) <= 720 // 8 // 2  # the longest scene's pairs, not the video's
    everything, measured = measured, {}
    monkeypatch.setattr(split, "MAX_OPEN_PAIRS", 6)
    held.clear()
    thinned = split.detect_scenes(video, SplitConfig(), Recorded(SplitConfig(), {}, None, ""))
    assert max(held) == 6 and thinned.ranges == full.ranges == list(measured)
    for (start, end), pairs in measured.items():
        assert pairs == everything[start, end] or end - start > 6 * split.SAMPLE_STRIDE
        assert min(5, 6 // 2) <= len(pairs) <= 5  # thinned: at least half of 6 left
        assert pairs[-1] - pairs[0] >= (end - start) / 2
        assert thinned.scores[start, end]["camera_motion_score"] is not None
    measured.clear()  # windows of at most 100 frames: a shot is thinned only while each keeps 5 pairs
    windowed = SplitConfig(max_clip_frames=100)
    split.detect_scenes(video, windowed, Recorded(windowed, {}, None, ""))
    assert len(measured) > 8
    for (start, end), pairs in measured.items():  # as many as a pair every 8 frames gives: nothing thinned
        assert len(pairs) == min(5, len([i for i in range(start, end - 1) if i % split.SAMPLE_STRIDE == 0]))


def test_a_short_pan_late_in_a_long_video_is_measured_as_a_pan(tmp_path):
    """Sampling is as dense in a long video as in a short one. A 16-frame panning shot after 8,008
    frames (the sampler used to thin to 512 pairs a video, a pair every 17 frames here, and this shot
    held none: no scores, so passed as usable) is measured, and found to pan."""
    import cv2
    import numpy as np

    from timelapse_d.camera_motion import camera_verdict
    from timelapse_d.media import write_video
    from timelapse_d.stages.split import ClipMeasure, detect_scenes

    rng = np.random.default_rng(0)

    def shot(start: int, end: int):  # a smooth texture, the camera panning 1 px a frame
        texture = cv2.normalize(cv2.GaussianBlur(rng.integers(0, 255, (72, 400, 3), np.uint8), (0, 0), 4),
                                None, 0, 255, cv2.NORM_MINMAX)
        return (np.ascontiguousarray(texture[:, index % 272:index % 272 + 128]) for index in range(start, end))

    video = tmp_path / "long.mp4"
    write_video(video, (frame for bounds in ((0, 8008), (8008, 8024), (8024, 8200)) for frame in shot(*bounds)), fps=30)
    scenes = detect_scenes(video, SplitConfig(), ClipMeasure(SplitConfig(), {}, None, ""))
    assert (8008, 8024) in scenes.ranges
    assert camera_verdict(scenes.scores[8008, 8024]) == "pan"
