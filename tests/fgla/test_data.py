"""Training data: pair sampling, resizing, the flip self-supervision, shard splitting and exact skipping."""
import itertools
import json
import shutil

import numpy as np
import pytest
import torch

from fgla_model.data import DataConfig, PairStream, Shard, choose_pair, decode_pair, train_loader, train_shards
from fgla_model.model import prepare_encoder_inputs
from timelapse_d.cli import main as timelapse_main
from timelapse_d.errors import UsageError
from timelapse_d.flow import codec
from timelapse_d.shards import decode_frame, sample_entries, write_samples


def hand_made_clip(key, frames=5, size=(8, 8)):
    """Frame i is the constant colour 10 i; flow i is (i + 1, -(i + 1)) px on the left half, 0 on the right;
    mask i is group 1 on the left half, group i % 6 elsewhere."""
    H, W = size
    images = [np.full((H, W, 3), 10 * i, np.uint8) for i in range(frames)]
    masks = []
    for i in range(frames):
        mask = np.full((H, W), i % 6, np.uint8)
        mask[:, : W // 2] = 1
        masks.append(mask)
    flows = []
    for i in range(frames - 1):
        flow = np.zeros((H, W, 2), np.float32)
        flow[:, : W // 2] = (i + 1, -(i + 1))
        flows.append(flow)
    meta = {"sample_key": key, "frame_indices": list(range(frames))}
    return {"__key__": key, **sample_entries(images, masks, flows, meta, frame_format="png")}


def test_a_pair_is_two_consecutive_kept_frames_with_the_matching_flow_and_mask():
    entries = hand_made_clip("clip")
    seen = set()
    for epoch in range(40):
        pair = choose_pair(entries, seed=3, epoch=epoch, flip_prob=0.5)
        assert pair == choose_pair(entries, seed=3, epoch=epoch, flip_prob=0.5)  # depends on (seed, epoch, key) only
        i = pair["index"]
        seen.add(i)
        assert int(decode_frame(pair["frame"])[0, 0, 0]) == 10 * i
        assert int(decode_frame(pair["next_frame"])[0, 0, 0]) == 10 * (i + 1)
        assert codec.decode(pair["flow"])[0, 0].tolist() == [i + 1, -(i + 1)]
        example = decode_pair(pair, image_size=8, encoder_size=8)
        assert example["groups"][0, -1].item() == i % 6
        assert example["frame"].min().item() == example["frame"].max().item() == pytest.approx(10 * i / 127.5 - 1)
    assert seen == {0, 1, 2, 3}  # every pair of the 5 frames, and none past the last frame
    flips = [choose_pair(entries, 3, epoch, 0.5)["flipped"] for epoch in range(200)]
    assert 70 < sum(flips) < 130
    assert not any(choose_pair(entries, 3, epoch, 0.0)["flipped"] for epoch in range(50))


def test_the_flip_mirrors_the_encoders_layout_and_keeps_the_flow_values():
    pair = choose_pair(hand_made_clip("clip"), seed=0, epoch=0, flip_prob=1.0)
    i = pair["index"]
    flipped = decode_pair(pair, image_size=8, encoder_size=8)
    straight = decode_pair({**pair, "flipped": False}, image_size=8, encoder_size=8)
    # the generator side is the stored pair in both cases: frame, target frame, flow and masks agree
    for name in ("frame", "next_frame", "flow", "groups"):
        assert torch.equal(flipped[name], straight[name])
    assert flipped["flow"][:, :, :4].unique().tolist() == [-(i + 1), i + 1] and flipped["flow"][:, :, 4:].abs().max() == 0
    # the encoder sees the mirror: the moving left half is now on the right, with the SAME vector (x not negated)
    assert torch.equal(straight["encoder_flow"], straight["flow"])
    assert torch.equal(flipped["encoder_flow"], straight["flow"].flip(-1))
    assert flipped["encoder_flow"][0, :, 4:].eq(i + 1).all() and flipped["encoder_flow"][1, :, 4:].eq(-(i + 1)).all()
    assert flipped["encoder_flow"][:, :, :4].abs().max() == 0
    assert flipped["encoder_masks"][1, :, 4:].eq(1).all() and flipped["encoder_masks"][1, :, :4].eq(i % 6 == 1).all()
    # flip then downsample to the encoder's size == downsample then flip
    small = decode_pair(pair, image_size=8, encoder_size=4)
    flow, masks = prepare_encoder_inputs(straight["flow"][None], straight["groups"][None], 4)
    assert torch.equal(small["encoder_flow"], flow[0].flip(-1)) and torch.equal(small["encoder_masks"], masks[0].flip(-1))


def test_a_stored_size_other_than_the_models_is_resized_with_flow_values_rescaled():
    pair = choose_pair(hand_made_clip("clip", size=(16, 24)), seed=0, epoch=0, flip_prob=0.0)
    i = pair["index"]
    example = decode_pair(pair, image_size=8, encoder_size=4)
    assert example["frame"].shape == (3, 8, 8) and example["groups"].shape == (8, 8)
    assert example["groups"].dtype == torch.int64 and example["encoder_masks"].shape == (6, 4, 4)
    # 24 -> 8 px wide: x values / 3; 16 -> 8 px high: y values / 2; the left half stays the moving half
    assert example["flow"][0, :, :3].allclose(torch.tensor((i + 1) / 3))
    assert example["flow"][1, :, :3].allclose(torch.tensor(-(i + 1) / 2))
    assert example["flow"][:, :, 5:].abs().max() == 0 and example["groups"][:, :4].eq(1).all()
    assert example["encoder_flow"][0, :, :1].allclose(torch.tensor((i + 1) / 6))  # 24 -> 4 px


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """6 shards holding 2, 3, 1, 2, 2, 1 hand-made clips."""
    directory = tmp_path_factory.mktemp("shards")
    result = []
    for s, count in enumerate((2, 3, 1, 2, 2, 1)):
        path = directory / f"train-{s:06d}.tar"
        write_samples(path, [hand_made_clip(f"s{s}c{c}", frames=3 + c) for c in range(count)])
        result.append(Shard(str(path), count))
    return result


def keys_of(stream, count):
    return [(example["key"], example["index"], example["flipped"]) for example in itertools.islice(iter(stream), count)]


def as_worker(monkeypatch, rank, world_size, worker, workers):
    for name, value in (("RANK", rank), ("WORLD_SIZE", world_size), ("WORKER", worker), ("NUM_WORKERS", workers)):
        monkeypatch.setenv(name, str(value))


def test_ranks_and_workers_read_disjoint_shards_that_cover_every_clip_each_epoch(shards, monkeypatch):
    config = DataConfig(workers=2, shuffle_buffer=4)
    every_key = {f"s{s}c{c}" for s, shard in enumerate(shards) for c in range(shard.samples)}
    for epoch in (0, 1):
        seen = []
        for rank, worker in itertools.product((0, 1), (0, 1)):
            as_worker(monkeypatch, rank, 2, worker, 2)
            stream = PairStream(shards, config, 8, 8, seed=5, batch_size=1)
            seen += [example["key"] for example in stream.epoch_pairs(epoch)]
            assert sum(s.samples for s in stream.own_shards(epoch)) == len(list(stream.epoch_pairs(epoch)))
        assert sorted(seen) == sorted(every_key)  # disjoint, and together every clip once
    as_worker(monkeypatch, 0, 4, 0, 2)
    with pytest.raises(UsageError, match="6 train shards cannot feed 4 rank"):
        next(iter(PairStream(shards, config, 8, 8, seed=5, batch_size=1)))


def test_a_stream_is_reproducible_and_start_batch_skips_exactly(shards, monkeypatch):
    config = DataConfig(workers=2, shuffle_buffer=4)
    for worker in (0, 1):  # the DataLoader takes batch k from worker k % 2
        as_worker(monkeypatch, 1, 2, worker, 2)
        full = keys_of(PairStream(shards, config, 8, 8, seed=5, batch_size=3), 40)
        assert full == keys_of(PairStream(shards, config, 8, 8, seed=5, batch_size=3), 40)
        assert full != keys_of(PairStream(shards, config, 8, 8, seed=6, batch_size=3), 40)
        for start_batch in (1, 2, 7, 11):  # 7 and 11 batches cross epoch boundaries
            done = len(range(worker, start_batch, 2))
            assert keys_of(PairStream(shards, config, 8, 8, seed=5, batch_size=3, start_batch=start_batch), 10) \
                == full[3 * done: 3 * done + 10]


def test_the_data_loader_takes_batch_k_from_worker_k_mod_workers(shards, monkeypatch):
    config = DataConfig(workers=2, shuffle_buffer=4)
    expected = []
    for worker in (0, 1):
        as_worker(monkeypatch, 0, 1, worker, 2)
        expected.append(keys_of(PairStream(shards, config, 8, 4, seed=0, batch_size=2), 6))
    for name in ("RANK", "WORLD_SIZE", "WORKER", "NUM_WORKERS"):
        monkeypatch.delenv(name)
    batches = list(itertools.islice(iter(train_loader(shards, config, 8, 4, seed=0, batch_size=2)), 6))
    first = batches[0]
    assert first["frame"].shape == (2, 3, 8, 8) and first["next_frame"].shape == (2, 3, 8, 8)
    assert first["flow"].shape == (2, 2, 8, 8) and first["groups"].shape == (2, 8, 8)
    assert first["encoder_flow"].shape == (2, 2, 4, 4) and first["encoder_masks"].shape == (2, 6, 4, 4)
    assert first["groups"].dtype == torch.int64 and first["flipped"].dtype == torch.bool
    for k, batch in enumerate(batches):  # what resuming relies on
        got = list(zip(batch["key"], batch["index"].tolist(), batch["flipped"].tolist()))
        assert got == expected[k % 2][2 * (k // 2): 2 * (k // 2) + 2]


def test_train_shards_come_from_release_json_and_missing_ones_are_named(precomputed_run, tmp_path):
    root, work = tmp_path / "root", tmp_path / "work"
    shutil.copytree(precomputed_run, work, symlinks=True)
    assert timelapse_main(["release", "create", "--work", str(work), "--name", "n", "--version", "1.0.0",
                           "--root", str(root)]) == 0
    release = root / "n" / "1.0.0"
    record = json.loads((release / "release.json").read_text())
    shards = train_shards(release)
    assert [s.samples for s in shards] == [s["samples"] for s in record["shards"] if s["split"] == "train"]
    assert all(s.path.startswith(record["shards_location"]) for s in shards)
    with pytest.raises(UsageError, match=r"\d train shard\(s\) missing in .*elsewhere"):
        train_shards(release, tmp_path / "elsewhere")
