"""Training pairs from a release's train shards: a WebDataset pipeline with the flip self-supervision.

Each data epoch draws ONE random consecutive pair (I_i, I_{i+1}) per clip with its flow F_i and
the mask of frame i (§4.2), decoding only those four entries. Units and shapes of one example
(S = the model's image_size, s = its encoder_size, K = 6 semantics):

    frame          (3, S, S) float32 in [-1, 1]   I_t, the generator's input
    next_frame     (3, S, S) float32 in [-1, 1]   I_{t+1}, the frame-loss target
    flow           (2, S, S) float32 pixels       F_t, backward, of the S grid: the flow-loss target
    groups         (S, S) int64 group ids         masks of I_t, for the latent map
    encoder_flow   (2, s, s) float32 pixels       the encoder's flow (flipped or not, downsampled)
    encoder_masks  (K, s, s) float32 one-hot      the encoder's masks (same flip, nearest)
    flipped        bool                           whether the encoder inputs are the mirror
    key, index     str, int                       the clip and the pair's first kept frame

Flip self-supervision (§3.3, §4.2; docs/training.md): with probability ``flip_prob`` the encoder
(the "reference" side) gets the horizontally MIRRORED layout of the flow and masks, the flow's
VALUES unchanged (flipped after estimation, "to keep the value of the optical flow constant in
each pixel"), while the generator side (frame, next_frame, flow, groups) stays as stored, so its
targets agree with each other. ``flip_prob = 0`` is the "w/o flip" ablation.

Sharding: per data epoch the train shard list is permuted with a seed shared by all ranks, then
``webdataset.split_by_node`` (DDP ranks) and ``split_by_worker`` (DataLoader workers) take
disjoint slices; each worker shuffles its pairs in a small buffer seeded by (seed, epoch, rank,
worker). The pair and the flip of a clip depend only on (seed, epoch, key). A stream is endless
(epoch after epoch); ``start_batch`` skips the batches a run already consumed, exactly and
without decoding (whole epochs are skipped by counting release.json's per-shard samples).

    >>> import torch
    >>> flow = torch.tensor([[[1.0, 2.0, 3.0]], [[4.0, 5.0, 6.0]]])  # (2, 1, 3): x row, y row
    >>> mirror_layout(flow).tolist()   # layout mirrored, values (signs included) unchanged
    [[[3.0, 2.0, 1.0]], [[6.0, 5.0, 4.0]]]
"""
from __future__ import annotations

import dataclasses
import itertools
import zlib
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
import webdataset as wds
from torch.utils.data import DataLoader, IterableDataset
from webdataset.utils import pytorch_worker_info

from timelapse_d.errors import UsageError
from timelapse_d.flow import codec
from timelapse_d.net.locations import is_url, join
from timelapse_d.release.store import load_release, shards_location
from timelapse_d.shards import ClipSample, decode_frame, decode_groups, flow_entry, mask_entry, read_samples

from .model import prepare_encoder_inputs
from .warp import resize_flow


@dataclasses.dataclass
class DataConfig:
    """How training pairs are drawn. ``flip_prob = 0`` is the "w/o flip" ablation."""

    flip_prob: float = 0.5  # probability that the encoder sees the mirrored flow and masks
    shuffle_buffer: int = 64  # pairs shuffled per worker (0: shard order only)
    workers: int = 2  # DataLoader worker processes per rank (0: load in the training process)

    def __post_init__(self):
        if not 0.0 <= self.flip_prob <= 1.0:
            raise ValueError(f"DataConfig.flip_prob must be in [0, 1], got {self.flip_prob}")
        for name in ("shuffle_buffer", "workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"DataConfig.{name} must be an int >= 0, got {value!r}")


@dataclasses.dataclass(frozen=True)
class Shard:
    """One shard file of the release and its sample count (from release.json)."""

    path: str
    samples: int


def train_shards(release: str | Path, shards_dir: str | Path | None = None, split: str = "train") -> list[Shard]:
    """The release's shards of ``split``, in ``shards_dir`` or release.json's ``shards_location``. The
    release and its shards may be local or at a URL (``http(s)://`` or fsspec), read as they stream.

    Raises UsageError naming the release when it has no such shard, or the missing local files.
    """
    record = load_release(release)
    directory = shards_location(release, record, shards_dir)
    shards = [Shard(join(directory, shard["name"]), int(shard["samples"]))
              for shard in record["shards"] if shard["split"] == split and shard["samples"] > 0]
    if not shards:
        raise UsageError(f"release {release} has no {split!r} shard with samples")
    missing = [shard.path for shard in shards if not is_url(shard.path) and not Path(shard.path).is_file()]
    if missing:
        raise UsageError(f"release {release}: {len(missing)} {split} shard(s) missing in {directory}: {missing[:3]}")
    return shards


def shard_samples(shards: Iterable[dict]) -> Iterator[dict]:
    """WebDataset stage: {"url": location} per shard -> its samples, the shard opened wherever it is
    (a local file; over HTTP, resumed after a reset mid-shard; any fsspec URL)."""
    for shard in shards:
        yield from read_samples(shard["url"])


def mirror_layout(array: torch.Tensor) -> torch.Tensor:
    """Mirror (..., H, W) left-right. A flow's values are NOT negated: each vector moves, unchanged."""
    return array.flip(-1)


def _rng(*words: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(words)))


def _key_word(key: str) -> int:
    return zlib.crc32(key.encode())


def choose_pair(entries: dict, seed: int, epoch: int, flip_prob: float) -> dict:
    """One clip's raw entries -> the bytes of one random consecutive pair, and the flip draw.

    The pair index i (frames i, i + 1, flow i, mask i) and the flip depend only on (seed, epoch, key).
    """
    clip = ClipSample(entries)
    if len(clip) < 2:
        raise ValueError(f"sample {clip.key!r} has {len(clip)} kept frame(s); a training pair needs 2")
    rng = _rng(seed, epoch, _key_word(clip.key))
    i = int(rng.integers(len(clip) - 1))
    flipped = bool(rng.random() < flip_prob)
    return {"key": clip.key, "index": i, "flipped": flipped, "frame": entries[clip.frame_names[i]],
            "next_frame": entries[clip.frame_names[i + 1]], "flow": entries[flow_entry(i)],
            "groups": entries[mask_entry(i)]}


def _image_tensor(rgb: np.ndarray, size: int) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, size, size) float32 in [-1, 1], resized bilinearly (antialiased)."""
    image = torch.from_numpy(rgb).permute(2, 0, 1).float() / 127.5 - 1.0  # (3, H, W)
    if tuple(image.shape[1:]) != (size, size):
        image = F.interpolate(image[None], size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False)[0].clamp(-1.0, 1.0)  # (3, S, S)
    return image


def decode_pair(pair: dict, image_size: int, encoder_size: int) -> dict:
    """The bytes from ``choose_pair`` -> one training example (the module docstring's fields)."""
    frame = _image_tensor(decode_frame(pair["frame"]), image_size)  # (3, S, S)
    next_frame = _image_tensor(decode_frame(pair["next_frame"]), image_size)  # (3, S, S)
    flow = torch.from_numpy(codec.decode(pair["flow"])).permute(2, 0, 1)[None].float()  # (1, 2, h, w) px
    groups = torch.from_numpy(decode_groups(pair["groups"]).astype(np.int64))[None]  # (1, h, w)
    if tuple(flow.shape[-2:]) != tuple(groups.shape[-2:]):
        raise ValueError(f"sample {pair['key']!r} pair {pair['index']}: flow {tuple(flow.shape[-2:])} "
                         f"and mask {tuple(groups.shape[-2:])} sizes differ")
    if tuple(flow.shape[-2:]) != (image_size, image_size):
        flow = resize_flow(flow, (image_size, image_size))  # (1, 2, S, S), values rescaled per axis
        groups = F.interpolate(groups[:, None].float(), size=(image_size, image_size),
                               mode="nearest-exact")[:, 0].long()  # (1, S, S)
    enc_flow, enc_groups = (mirror_layout(flow), mirror_layout(groups)) if pair["flipped"] else (flow, groups)
    enc_flow, enc_masks = prepare_encoder_inputs(enc_flow, enc_groups, encoder_size)  # (1, 2, s, s), (1, K, s, s)
    return {"frame": frame, "next_frame": next_frame, "flow": flow[0], "groups": groups[0],
            "encoder_flow": enc_flow[0], "encoder_masks": enc_masks[0], "flipped": pair["flipped"],
            "key": pair["key"], "index": pair["index"]}


class PairStream(IterableDataset):
    """An endless stream of training examples for this rank and DataLoader worker.

    ``shards``: the release's train shards; ``batch_size``: the DataLoader's, per rank (needed to
    skip ``start_batch`` batches, which the DataLoader takes from its workers in turn).
    Rank and world size come from torch.distributed or the RANK / WORLD_SIZE variables, as
    ``webdataset.split_by_node`` reads them.
    """

    def __init__(self, shards: list[Shard], config: DataConfig, image_size: int, encoder_size: int, seed: int,
                 batch_size: int, start_batch: int = 0):
        self.shards, self.config, self.seed = shards, config, seed
        self.image_size, self.encoder_size = image_size, encoder_size
        self.batch_size, self.start_batch = batch_size, start_batch

    def epoch_shards(self, epoch: int) -> list[Shard]:
        """All shards in this epoch's order (the same on every rank)."""
        order = _rng(self.seed, epoch).permutation(len(self.shards))
        return [self.shards[i] for i in order]

    def own_shards(self, epoch: int) -> list[Shard]:
        """This rank's and worker's slice of the epoch's shards (what the webdataset splitters keep)."""
        rank, world_size, worker, workers = pytorch_worker_info()
        return self.epoch_shards(epoch)[rank::world_size][worker::workers]

    def epoch_pairs(self, epoch: int):
        """This worker's shuffled pair bytes of one data epoch."""
        rank, _, worker, _ = pytorch_worker_info()
        buffer, flip_prob = self.config.shuffle_buffer, self.config.flip_prob
        shuffle_seed = int(_rng(self.seed, epoch, rank, worker).integers(2**63))
        stages = [wds.SimpleShardList([shard.path for shard in self.epoch_shards(epoch)]), wds.split_by_node,
                  wds.split_by_worker, shard_samples, wds.map(lambda entries: choose_pair(entries, self.seed, epoch,
                                                                                          flip_prob))]
        if buffer > 0:
            stages.append(wds.shuffle(buffer, initial=buffer, seed=shuffle_seed))
        return wds.DataPipeline(*stages)

    def __iter__(self):
        rank, world_size, worker, workers = pytorch_worker_info()
        if len(self.shards) < world_size * workers:
            raise UsageError(f"{len(self.shards)} train shards cannot feed {world_size} rank(s) x {workers} "
                             f"DataLoader worker(s): each needs at least one shard; use fewer workers or ranks")
        skip = len(range(worker, self.start_batch, workers)) * self.batch_size  # samples this worker yielded
        for epoch in itertools.count():
            count = sum(shard.samples for shard in self.own_shards(epoch))
            if skip >= count:
                skip -= count
                continue
            seen = 0
            for pair in itertools.islice(self.epoch_pairs(epoch), skip, None):
                seen += 1
                yield decode_pair(pair, self.image_size, self.encoder_size)
            if skip + seen != count:
                names = [Path(shard.path).name for shard in self.own_shards(epoch)]
                raise ValueError(f"shards {names} hold {skip + seen} samples, release.json says {count}")
            skip = 0


def train_loader(shards: list[Shard], config: DataConfig, image_size: int, encoder_size: int, seed: int,
                 batch_size: int, start_batch: int = 0) -> DataLoader:
    """An endless DataLoader of batches (each field stacked: frame (B, 3, S, S) ...), from ``start_batch`` on."""
    stream = PairStream(shards, config, image_size, encoder_size, seed, batch_size, start_batch)
    return DataLoader(stream, batch_size=batch_size, num_workers=config.workers)
