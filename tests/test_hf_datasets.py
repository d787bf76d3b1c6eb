"""Hugging Face compatibility: the card's Hub front matter, and a published release's shards read
with the real ``datasets`` library (its webdataset builder), decoded with the project's own decoders
and compared with ``ClipSample`` reading the same shards directly. No Hub access: offline, local files."""
import json
import shutil

import numpy as np
import pytest
import yaml

from timelapse_d.flow import codec
from timelapse_d.manifest import read_rows
from timelapse_d.release.card import PUBLISHED_SHARDS, front_matter, yaml_text
from timelapse_d.release.create import create_release
from timelapse_d.shards import (ClipSample, decode_frame, decode_groups, flow_entry, frame_entry, mask_entry,
                                read_samples)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No Hub here: datasets and huggingface_hub offline, also where they were imported (and read
    the environment) before this module."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module")
def published(precomputed_run, tmp_path_factory):
    """Release hf@1.0.0 of the precomputed run, laid out as published: its shards in <release>/shards/."""
    base = tmp_path_factory.mktemp("hf-release")
    path = create_release(precomputed_run, "hf", "1.0.0", shards=base / "flat", root=base / "manifests")
    (path / PUBLISHED_SHARDS).mkdir()
    for shard in json.loads((path / "release.json").read_text())["shards"]:
        shutil.copyfile(base / "flat" / shard["name"], path / PUBLISHED_SHARDS / shard["name"])
    return path


def card_metadata(path) -> dict:
    """The YAML front matter of a release's README.md, parsed."""
    text = (path / "README.md").read_text()
    assert text.startswith("---\n"), "the Hub reads metadata only from a block at the very start"
    block, closing, _ = text[4:].partition("\n---\n")
    assert closing, "the front matter is not closed by a --- line"
    return yaml.safe_load(block)


def card_features(metadata: dict):
    """The ``datasets`` Features the card declares, read as ``datasets`` reads a Hub card."""
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    return DatasetInfosDict.from_dataset_card_data(DatasetCardData(**metadata))["default"].features


def direct_samples(path, names) -> dict[str, ClipSample]:
    """sample key -> ClipSample, reading the shards with the project's own tar reader."""
    return {entries["__key__"]: ClipSample(entries) for name in names
            for entries in read_samples(path / PUBLISHED_SHARDS / name)}


def test_card_front_matter_has_what_the_hub_needs(published):
    from huggingface_hub import DatasetCard

    metadata = card_metadata(published)
    record = json.loads((published / "release.json").read_text())
    sources = read_rows(published, "sources")
    assert {row["license_id"] for row in sources} == {"CC0-1.0"} and metadata["license"] == "cc0-1.0"
    assert DatasetCard.load(published / "README.md").data.license == metadata["license"]
    assert metadata["pretty_name"] == "hf@1.0.0" and "image-to-video" in metadata["task_categories"]
    assert {"time-lapse", "optical-flow", "webdataset"} <= set(metadata["tags"])
    assert metadata["size_categories"] == ["n<1K"] and record["counts"]["samples"] < 1000
    (config,) = metadata["configs"]
    assert config["config_name"] == "default"
    by_split = {item["split"]: item["path"] for item in config["data_files"]}
    assert by_split.keys() == record["counts"]["per_split"].keys() == {"train", "test"}
    for split, paths in by_split.items():
        assert sorted(paths) == sorted(f"shards/{s['name']}" for s in record["shards"] if s["split"] == split)
        assert all((published / p).is_file() for p in paths)
    # the declared columns cover every entry of every sample, and nothing a sample cannot have
    features = card_features(metadata)
    samples = direct_samples(published, [shard["name"] for shard in record["shards"]])
    entries = {name for sample in samples.values() for name in sample.entries}
    assert entries | {"__url__"} == set(features)
    longest = max(len(sample) for sample in samples.values())
    assert frame_entry(longest - 1) in features and frame_entry(longest) not in features
    assert flow_entry(longest - 2) in features and flow_entry(longest - 1) not in features


def test_front_matter_licenses_sizes_and_quoting():
    record = {"name": "mix", "version": "2.0.1", "pipeline": "", "counts": {"samples": 12_345},
              "shards": [{"name": "b-train-000001.tar", "split": "train"},
                         {"name": "a-test-000000.tar", "split": "test"},
                         {"name": "b-train-000000.tar", "split": "train"}]}
    sources = [{"source_kind": "flickr", "license_id": "11"}, {"source_kind": "urls", "license_id": "CC-BY-4.0"},
               {"source_kind": "flickr", "license_id": "4"}, {"source_kind": "synthetic", "license_id": "CC0-1.0"}]
    samples = [{"frame_indices": [0, 4, 8]}, {"frame_indices": [0, 4]}]
    metadata = yaml.safe_load(front_matter(record, {"sources": sources, "samples": samples}).strip("-\n"))
    assert metadata["license"] == ["cc-by-2.0", "cc-by-4.0", "cc0-1.0"] and "license_name" not in metadata
    assert metadata["size_categories"] == ["10K<n<100K"]
    assert metadata["configs"][0]["data_files"] == [
        {"split": "test", "path": ["shards/a-test-000000.tar"]},
        {"split": "train", "path": ["shards/b-train-000000.tar", "shards/b-train-000001.tar"]}]
    assert [f["name"] for f in metadata["dataset_info"]["features"]][3:] == [
        "0000.jpg", "0000.mask.png", "0000.flow", "0001.jpg", "0001.mask.png", "0001.flow", "0002.jpg", "0002.mask.png"]
    # licenses the Hub has no identifier for: "other", named, linked to the attribution list
    sources += [{"source_kind": "flickr", "license_id": "5", "license_name": "CC BY-SA 2.0"},
                {"source_kind": "sky-timelapse", "license_name": "Sky Time-lapse dataset terms (research use)"},
                {"source_kind": "urls"}]
    metadata = yaml.safe_load(front_matter(record, {"sources": sources, "samples": samples}).strip("-\n"))
    assert metadata["license"] == ["cc-by-2.0", "cc-by-4.0", "cc0-1.0", "other", "unknown"]
    assert metadata["license_name"] == "per-source-licenses" and metadata["license_link"] == "ATTRIBUTION.md"
    metadata = yaml.safe_load(front_matter(record, {"sources": sources[-2:-1], "samples": samples}).strip("-\n"))
    assert metadata["license"] == "other" and metadata["license_name"] == "sky-time-lapse-dataset-terms-research-use"
    # any string survives the hand-written YAML
    nasty = ['a: "b" # c', "'quoted'", "back\\slash", "line\nbreak\ttab", "caf\u00e9 \u2028 \U0001F600", "- dash",
             "", " lead", "null", "yes", "012", "[x]", "{y}", "&anchor *ref !tag %", "@x `y`"]
    value = {"list": nasty, "nested": [{"k": s} for s in nasty], "n": 3, "flag": False, "none": None, "empty": []}
    assert yaml.safe_load(yaml_text(value)) == value


def test_shards_load_with_datasets_webdataset_and_decode_as_clip_sample(published, tmp_path):
    import datasets

    metadata = card_metadata(published)
    record = json.loads((published / "release.json").read_text())
    features = card_features(metadata)
    for item in metadata["configs"][0]["data_files"]:
        split, paths = item["split"], item["path"]
        rows = datasets.load_dataset("webdataset", data_files={split: [str(published / p) for p in paths]},
                                     split=split, features=features, cache_dir=str(tmp_path / "cache"))
        assert len(rows) == record["counts"]["per_split"][split]
        direct = direct_samples(published, [p.split("/", 1)[1] for p in paths])
        assert sorted(rows["__key__"]) == sorted(direct)
        raw = rows.cast_column(frame_entry(0), datasets.Image(decode=False))  # the frame's bytes, as stored
        for index, row in enumerate(rows):
            sample = direct[row["__key__"]]
            assert row["json"] == sample.meta
            assert raw[index][frame_entry(0)]["bytes"] == sample.entries[frame_entry(0)]
            for i in range(len(sample)):
                image = row[frame_entry(i)]  # decoded by datasets to a PIL image
                assert image.mode == "RGB" and np.array_equal(np.asarray(image), sample.frame(i))
                assert np.array_equal(np.asarray(image), decode_frame(sample.entries[frame_entry(i)]))
                mask = row[mask_entry(i)]
                assert mask.mode == "L" and np.array_equal(np.asarray(mask), sample.groups(i))
                assert np.array_equal(np.asarray(mask), decode_groups(sample.entries[mask_entry(i)]))
            for i in range(len(sample) - 1):
                assert isinstance(row[flow_entry(i)], bytes)
                np.testing.assert_array_equal(codec.decode(row[flow_entry(i)]), sample.flow(i))
            absent = [name for name in features if name not in sample.entries and name not in ("__key__", "__url__")]
            assert all(row[name] is None for name in absent)


def test_the_published_release_loads_by_its_card_as_from_the_hub(published, tmp_path):
    """``load_dataset(<release dir>)`` reads README.md's configs and dataset_info, as for a Hub repository."""
    import datasets

    loaded = datasets.load_dataset(str(published), cache_dir=str(tmp_path / "cache"))
    samples = read_rows(published, "samples")
    assert set(loaded) == {row["split"] for row in samples}
    for split, rows in loaded.items():
        assert sorted(rows["__key__"]) == sorted(row["sample_key"] for row in samples if row["split"] == split)
        assert all(row["json"]["split"] == split for row in rows.select_columns(["json"]))
        first = rows[0]
        shard = next(row["shard"] for row in samples if row["sample_key"] == first["__key__"])
        entries = next(entries for entries in read_samples(published / PUBLISHED_SHARDS / shard)
                       if entries["__key__"] == first["__key__"])
        np.testing.assert_array_equal(codec.decode(first[flow_entry(0)]), ClipSample(entries).flow(0))
