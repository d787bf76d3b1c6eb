"""Train / test split by source video, with a test set balanced across categories.

No video has clips on both sides. A video's category is the most frequent category among its
clips' labels (ties: alphabetical); videos without one are train. The paper's test set has "the
same number of clips from each category": the target is ``round(test_fraction * clips /
categories)`` test clips per category (at least one when ``test_fraction > 0``), filled with whole videos in a seeded order
(sha256 of ``"<seed>:<video_id>"``) while the category is below its target, never taking a
category's last train video. Assignments already made are kept (``fixed``), so a growing dataset
only assigns its new videos and nothing already published changes side.

    >>> clips = [{"video_id": f"v{i}", "category": c} for i, c in enumerate("aabbbb")]
    >>> sorted(assign_splits(clips, {}, test_fraction=0.34, seed=0).items())
    [('v0', 'test'), ('v1', 'train'), ('v2', 'train'), ('v3', 'test'), ('v4', 'train'), ('v5', 'train')]
"""
from __future__ import annotations

import hashlib
from collections import Counter

SPLITS = ("train", "test")


def video_categories(clips: list[dict]) -> dict[str, str | None]:
    """video_id -> its most frequent clip category (``clip["category"]``, None for none)."""
    counts: dict[str, Counter] = {}
    for clip in clips:
        counts.setdefault(clip["video_id"], Counter())
        if clip["category"]:
            counts[clip["video_id"]][clip["category"]] += 1
    return {video: min(count, key=lambda c: (-count[c], c)) if count else None for video, count in counts.items()}


def _order(seed: int, video_id: str) -> str:
    return hashlib.sha256(f"{seed}:{video_id}".encode()).hexdigest()


def assign_splits(clips: list[dict], fixed: dict[str, str], test_fraction: float, seed: int) -> dict[str, str]:
    """video_id -> "train" | "test" for every video of ``clips`` (dicts with video_id and category)."""
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    bad = {video: split for video, split in fixed.items() if split not in SPLITS}
    if bad:
        raise ValueError(f"recorded splits must be one of {SPLITS}, got {bad}")
    category_of = video_categories(clips)
    clip_count = Counter(clip["video_id"] for clip in clips)
    categories = sorted({c for c in category_of.values() if c})
    target = max(1, round(test_fraction * len(clips) / len(categories))) if categories and test_fraction else 0
    splits = {video: fixed.get(video, "train") for video in category_of}
    for category in categories:
        videos = [video for video, c in category_of.items() if c == category]
        in_test = sum(clip_count[video] for video in videos if splits[video] == "test")
        in_train = sum(1 for video in videos if splits[video] == "train")
        for video in sorted((v for v in videos if v not in fixed), key=lambda v: _order(seed, v)):
            if in_test >= target or in_train <= 1:
                break
            splits[video] = "test"
            in_test += clip_count[video]
            in_train -= 1
    return splits
