"""Segmentation: the ADE20K-150 -> group table against objectInfo150.csv, the oracle on synthetic
ground truth, and the SegFormer path with a randomly initialised tiny model (no weights here)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from timelapse_d.segmentation import ADE_LABEL_TO_GROUP, GROUP_CLASSES, GROUPS, SEGMENTERS, ade_to_groups
from timelapse_d.segmentation.groups import ADE_LOGIT_TO_GROUP, ade_logits_to_groups
from timelapse_d.segmentation.oracle import OracleConfig
from timelapse_d.synthetic import SEMANTICS, SyntheticConfig, generate_video, render_frames

SEG_ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets" / "seg"
OBJECT_INFO = SEG_ASSETS / "ade20k_150class" / "objectInfo150.csv"


def read_object_info() -> dict[int, str]:
    with OBJECT_INFO.open(newline="") as f:
        return {int(row["Idx"]): row["Name"] for row in csv.DictReader(f)}


def read_label_png(path: Path) -> np.ndarray:
    import cv2

    label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert label is not None and label.ndim == 2 and label.dtype == np.uint8, path
    return label


# ---- the table -------------------------------------------------------------------------------

def test_groups_are_the_synthetic_semantics():
    assert GROUPS == SEMANTICS == ("sky", "tree", "grass", "water", "waterfall", "others")


def test_every_mapped_index_names_that_row_of_object_info_csv():
    info = read_object_info()
    assert sorted(info) == list(range(1, 151))
    for group, classes in GROUP_CLASSES.items():
        for index, name in classes:
            words = info[index].replace(";", " ")
            assert words == name or words.startswith(name + " "), (group, index, name, info[index])


def test_the_lookup_is_the_table_and_nothing_else():
    info = read_object_info()
    mapped = {index: GROUPS.index(group) for group, classes in GROUP_CLASSES.items() for index, _ in classes}
    assert ADE_LABEL_TO_GROUP.shape == (151,) and ADE_LABEL_TO_GROUP.dtype == np.uint8
    assert ADE_LABEL_TO_GROUP[0] == GROUPS.index("others")  # unlabeled
    for index in info:
        assert ADE_LABEL_TO_GROUP[index] == mapped.get(index, GROUPS.index("others")), (index, info[index])
        assert ADE_LOGIT_TO_GROUP[index - 1] == ADE_LABEL_TO_GROUP[index]
    # the classes the paper names by name are where they must be
    by_name = {info[i].split(";")[0]: int(ADE_LABEL_TO_GROUP[i]) for i in info}
    for name, group in [("sky", "sky"), ("tree", "tree"), ("palm", "palm"), ("grass", "grass"), ("water", "water"),
                        ("sea", "water"), ("river", "water"), ("lake", "water"), ("waterfall", "waterfall"),
                        ("mountain", "others"), ("building", "others"), ("rock", "others")]:
        assert GROUPS[by_name[name]] == (group if group != "palm" else "tree"), name


def test_ade_label_maps_of_the_assets_map_to_the_expected_groups():
    groups = ade_to_groups(read_label_png(SEG_ASSETS / "ade20k_150class" / "ADE_val_00000001.png"))
    present = {GROUPS[g] for g in np.unique(groups)}
    assert {"sky", "tree", "grass", "others"} <= present  # old house, sky, grass, trees
    assert groups.dtype == np.uint8


def test_ade_to_groups_rejects_bad_label_maps():
    with pytest.raises(ValueError, match="0..150"):
        ade_to_groups(np.array([[151]], np.int32))
    with pytest.raises(ValueError, match="integers"):
        ade_to_groups(np.zeros((2, 2), np.float32))
    assert ade_logits_to_groups(np.array([2, 4, 113])).tolist() == [0, 1, 4]  # 0-based sky, tree, waterfall


# ---- oracle ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic_video(tmp_path_factory):
    cfg = SyntheticConfig(width=64, height=48, min_shots=2, max_shots=2, min_shot_frames=3, max_shot_frames=4)
    out = tmp_path_factory.mktemp("synthetic")
    meta = generate_video(out, "v", cfg, seed=5)
    return out, meta, [frame.semantics for frame in render_frames(cfg, seed=5)]


def test_oracle_returns_the_ground_truth_of_each_frame(synthetic_video):
    out, meta, truth = synthetic_video
    oracle = SEGMENTERS.get("oracle")()
    assert oracle.needs_source_masks
    for k in range(meta["frames"]):
        for ref in (out / "v.gt.json", str(out / "v.gt.npz")):
            groups = oracle.segment_frame(ref, k)
            assert groups.dtype == np.uint8 and np.array_equal(groups, truth[k])
    assert json.dumps(oracle.params())


def test_oracle_resizes_with_nearest_neighbour(synthetic_video):
    out, _, truth = synthetic_video
    groups = SEGMENTERS.get("oracle")(OracleConfig(resize_to=(128, 96))).segment_frame(out / "v.gt.json", 1)
    assert groups.shape == (96, 128) and set(np.unique(groups)) == set(np.unique(truth[1]))
    assert np.array_equal(groups[::2, ::2], truth[1])


def test_oracle_errors_name_the_offending_value(synthetic_video):
    out, meta, _ = synthetic_video
    oracle = SEGMENTERS.get("oracle")()
    with pytest.raises(IndexError, match=str(meta["frames"])):
        oracle.segment_frame(out / "v.gt.json", meta["frames"])
    with pytest.raises(FileNotFoundError, match="missing.gt.npz"):
        oracle.segment_frame(out / "missing.gt.json", 0)
    with pytest.raises(ValueError, match="video.mp4"):
        oracle.segment_frame(out / "video.mp4", 0)
    with pytest.raises(TypeError, match="segment_frame"):
        oracle.segment(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="resize_to"):
        OracleConfig(resize_to=(0, 5))


# ---- segformer (random tiny weights: checks the plumbing, not the masks) ---------------------

def test_segformer_from_a_local_directory_gives_group_maps_at_input_size(tiny_segformer_dir):
    from timelapse_d.segmentation.segformer import SegformerConfig

    segmenter = SEGMENTERS.get("segformer")(SegformerConfig(weights=str(tiny_segformer_dir), device="cpu"))
    frame = np.random.default_rng(0).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    groups = segmenter.segment(frame)
    assert groups.shape == (45, 70) and groups.dtype == np.uint8 and int(groups.max()) < len(GROUPS)
    batch = segmenter.segment_batch([frame, frame[::-1].copy()])
    assert batch.shape == (2, 45, 70) and np.array_equal(batch[0], groups)
    params = segmenter.params()
    assert params["segmenter"] == "segformer" and params["weights"] == str(tiny_segformer_dir)
    assert json.dumps(params)


def test_segformer_rejects_bad_inputs_and_non_ade_weights(tiny_segformer_dir, tmp_path):
    import torch
    from transformers import SegformerForSemanticSegmentation

    from timelapse_d.segmentation.segformer import SegformerConfig, _check_labels

    with pytest.raises(ValueError, match="device"):
        SegformerConfig(weights="x", device="tpu")
    segmenter = SEGMENTERS.get("segformer")(SegformerConfig(weights=str(tiny_segformer_dir)))
    with pytest.raises(ValueError, match="uint8"):
        segmenter.segment(np.zeros((8, 8, 3), np.float32))
    # named labels must agree with the table (an ADE model names channel 2 "sky")
    names = {i: f"class{i}" for i in range(150)}
    with pytest.raises(ValueError, match="not ADE20K-150"):
        _check_labels(names)
    info = read_object_info() if OBJECT_INFO.exists() else None
    if info:
        _check_labels({i - 1: info[i].split(";")[0] for i in info})
    # a model with another number of classes is refused
    model = SegformerForSemanticSegmentation.from_pretrained(tiny_segformer_dir)
    torch.manual_seed(0)
    other = type(model)(model.config.__class__(**{**model.config.to_dict(), "num_labels": 19,
                                                    "id2label": None, "label2id": None}))
    other.save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text((tiny_segformer_dir / "preprocessor_config.json").read_text())
    with pytest.raises(ValueError, match="150"):
        SEGMENTERS.get("segformer")(SegformerConfig(weights=str(tmp_path)))
