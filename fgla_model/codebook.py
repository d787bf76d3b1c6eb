"""A codebook of motion latents from the training clips, and sampling latents from it (Algorithm 1
without a reference video: "5 random reference embeddings" per input in §4.3).

``build_codebook`` runs the model's encoder E over the clips of precomputed shards, one row per
clip (K = 6 semantics, ``GROUPS``; D = latent_dim):

- ``pairs="mean"`` (default): every consecutive pair of the clip is encoded and each semantic's
  latent is averaged over the pairs where the semantic is present, exactly as a reference video's
  latent is made at animation time (``fgla_model.animate``), so both draw from one distribution.
- ``pairs="random"``: one pair per clip, drawn from (seed, clip key) as a training epoch draws it.

The encoder sees the pair's flow and the mask of its first frame, resized to the model's size and
then to its encoder size (``prepare_encoder_inputs``), NOT mirrored: the flip is a training
augmentation. A semantic is present when its mask covers at least one encoder pixel; an absent
one's latent is 0 and its flag False.

The .npz (``np.savez``, read with ``allow_pickle=False``) holds ``latents`` (N, K, D) float32,
``present`` (N, K) bool, ``keys`` (N,) str, ``pairs`` (N,) int64 (the pair, -1 for "mean"),
``groups`` (K,) str and ``meta``, a json string: format, version, pairs mode, seed, shards,
checkpoint path and sha256, the model config and the training data's provenance (flow estimator,
segmenter, every; ``provenance_from_meta``).

``Codebook.sample(seed)`` picks, independently per semantic, the latent of one row where that
semantic is present, uniformly; a semantic present in no row is left out (it stays still).

    >>> import numpy as np
    >>> book = Codebook(latents=np.arange(24, dtype=np.float32).reshape(2, 6, 2),
    ...                 present=np.array([[1, 0, 0, 0, 0, 1], [1, 1, 0, 0, 0, 1]], bool),
    ...                 keys=np.array(["a", "b"]), pairs=np.array([-1, -1]), meta={})
    >>> rows = book.sample_rows(seed=0)
    >>> rows["tree"], sorted(rows)   # only clip "b" has tree; grass, water, waterfall are in no clip
    (1, ['others', 'sky', 'tree'])

Command line (``fgla codebook``): ``fgla codebook --release manifests/timelapse-d/1.0.0
--checkpoint runs/paper/checkpoint.pt --out codebook.npz``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from timelapse_d.errors import UsageError
from timelapse_d.media import sha256_file
from timelapse_d.net.locations import is_url
from timelapse_d.segmentation.groups import GROUPS
from timelapse_d.shards import ClipSample, read_samples

from . import checkpoint
from .model import FGLA, prepare_encoder_inputs
from .warp import resize_flow

FORMAT, VERSION = "fgla-codebook", 1
PAIR_MODES = ("mean", "random")
PROVENANCE_KEYS = ("flow", "segmenter", "every", "size", "aspect")


def resolve_device(device: str | None) -> torch.device:
    """"cpu", "cuda" or None (cuda when available, else cpu) -> a torch.device; UsageError otherwise."""
    kind = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if kind not in ("cpu", "cuda"):
        raise UsageError(f"--device must be cpu or cuda, got {device!r}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda, but torch sees no CUDA device")
    return torch.device(kind)


def provenance_from_meta(meta: dict) -> dict:
    """The part of a shard sample's json that defines its flow and masks: flow (the estimator's
    ``params()``, "estimator" = its name), segmenter (``params()``, "segmenter" = its name), every,
    size, aspect. Training should store this as ``checkpoint.extra["provenance"]``."""
    return {key: meta[key] for key in PROVENANCE_KEYS if key in meta}


@torch.no_grad()
def encode_pairs(model: FGLA, flows_px: torch.Tensor, groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """flows_px (P, 2, S, S) pixels of the model's grid, groups (P, S, S) int64 (the first frame's
    masks) -> latents (P, K, D) and present (P, K) bool, on the model's device."""
    flow, masks = prepare_encoder_inputs(flows_px, groups, model.config.encoder_size)  # (P, 2, s, s), (P, K, s, s)
    return model.encode(flow, masks), masks.sum(dim=(2, 3)) > 0


def average_latents(latents: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """latents (P, K, D), present (P, K) -> each semantic's mean over the pairs where it is present
    (K, D) (0 where it never is) and present in any pair (K,)."""
    counts = present.sum(dim=0)  # (K,)
    total = (latents * present[..., None]).sum(dim=0)  # (K, D)
    return total / counts.clamp(min=1)[:, None], counts > 0


def step_latents(latents: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """latents (P, K, D), present (P, K) -> each pair's latents, a semantic missing from a pair taking its
    mean over the pairs where it is present (the latents of animation steps, Algorithm 1), (P, K, D),
    and present in any pair (K,)."""
    mean, anywhere = average_latents(latents, present)  # (K, D), (K,)
    return torch.where(present[..., None], latents, mean), anywhere


def clip_pair_inputs(clip: ClipSample, indices: list[int], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The flows and first-frame masks of a clip's pairs ``indices``, resized to size x size:
    flows (P, 2, size, size) pixels of that grid, groups (P, size, size) int64."""
    flows = torch.stack([torch.from_numpy(clip.flow(i)).permute(2, 0, 1) for i in indices]).float()  # (P, 2, h, w)
    groups = torch.stack([torch.from_numpy(clip.groups(i).astype(np.int64)) for i in indices])  # (P, h, w)
    if tuple(flows.shape[-2:]) != (size, size):
        flows = resize_flow(flows, (size, size))  # values rescaled per axis
        groups = F.interpolate(groups[:, None].float(), size=(size, size), mode="nearest-exact")[:, 0].long()
    return flows, groups


@dataclasses.dataclass
class Codebook:
    """latents (N, K, D) float32, present (N, K) bool, keys (N,) str, pairs (N,) int64, meta (json-ready dict)."""

    latents: np.ndarray
    present: np.ndarray
    keys: np.ndarray
    pairs: np.ndarray
    meta: dict

    def save(self, path: str | Path) -> None:
        np.savez(path, latents=self.latents.astype(np.float32), present=self.present.astype(bool),
                 keys=self.keys.astype(str), pairs=self.pairs.astype(np.int64), groups=np.array(GROUPS),
                 meta=np.array(json.dumps(self.meta, sort_keys=True)))

    @classmethod
    def load(cls, path: str | Path) -> Codebook:
        """Read a codebook .npz; UsageError naming ``path`` when it is missing or not a codebook."""
        if not Path(path).is_file():
            raise UsageError(f"codebook {path} does not exist")
        try:
            data = np.load(path, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("a single array, not an .npz archive")
            with data:
                arrays = {name: data[name] for name in ("latents", "present", "keys", "pairs", "groups", "meta")}
            meta = json.loads(str(arrays["meta"]))
        except (OSError, KeyError, ValueError) as error:
            raise UsageError(f"{path} is not an FGLA codebook: {error}") from None
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise UsageError(f"{path} is not an FGLA codebook of version {VERSION}: format {meta.get('format')!r}, "
                             f"version {meta.get('version')!r}")
        if tuple(arrays["groups"]) != GROUPS:
            raise UsageError(f"{path} has semantics {tuple(arrays['groups'])}, this code {GROUPS}")
        N = len(arrays["keys"])
        if arrays["latents"].shape[:2] != (N, len(GROUPS)) or arrays["present"].shape != (N, len(GROUPS)):
            raise UsageError(f"{path}: latents {arrays['latents'].shape} and present {arrays['present'].shape} "
                             f"do not fit {N} rows of {len(GROUPS)} semantics")
        return cls(latents=arrays["latents"], present=arrays["present"], keys=arrays["keys"], pairs=arrays["pairs"],
                   meta=meta)

    def sample_rows(self, seed: int) -> dict[str, int]:
        """Semantic name -> the row its latent is taken from, uniform over the rows where it is present."""
        rng = np.random.default_rng(seed)
        rows = {}
        for k, name in enumerate(GROUPS):
            candidates = np.flatnonzero(self.present[:, k])
            if candidates.size:
                rows[name] = int(candidates[rng.integers(candidates.size)])
        return rows

    def sample(self, seed: int) -> dict[str, torch.Tensor]:
        """Semantic name -> latent (D,) float32, one draw per semantic present in some row (``sample_rows``)."""
        return {name: torch.from_numpy(self.latents[row, GROUPS.index(name)].copy())
                for name, row in self.sample_rows(seed).items()}


def _pair_rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(key.encode())]))


@torch.no_grad()
def build_codebook(model: FGLA, shard_paths: list[str | Path], pairs: str = "mean", seed: int = 0,
                   batch_size: int = 64, progress: bool = False) -> Codebook:
    """Encode the clips of ``shard_paths`` (one row per clip, ``pairs`` = "mean" or "random") with ``model``
    (in eval mode, on its device). ``meta`` gets the mode, seed, shards and the clips' provenance."""
    from tqdm import tqdm

    if pairs not in PAIR_MODES:
        raise UsageError(f"pairs must be one of {PAIR_MODES}, got {pairs!r}")
    missing = [str(path) for path in shard_paths if not is_url(str(path)) and not Path(path).is_file()]
    if missing:
        raise UsageError(f"shard(s) not found: {missing[:3]}")
    model.eval()
    device, size = next(model.parameters()).device, model.config.image_size
    latents, present, keys, chosen, provenance = [], [], [], [], None
    for entries in tqdm((e for path in shard_paths for e in read_samples(path)), disable=not progress, unit="clip"):
        clip = ClipSample(entries)
        if len(clip) < 2:
            raise ValueError(f"sample {clip.key!r} has {len(clip)} kept frame(s); a latent needs a pair")
        provenance = provenance or provenance_from_meta(clip.meta)
        last = len(clip) - 1  # pairs 0 .. last - 1
        indices = list(range(last)) if pairs == "mean" else [int(_pair_rng(seed, clip.key).integers(last))]
        parts = [encode_pairs(model, *(t.to(device) for t in clip_pair_inputs(clip, indices[i:i + batch_size], size)))
                 for i in range(0, len(indices), batch_size)]
        z, p = average_latents(torch.cat([z for z, _ in parts]), torch.cat([p for _, p in parts]))  # (K, D), (K,)
        latents.append(z.cpu().numpy())
        present.append(p.cpu().numpy())
        keys.append(clip.key)
        chosen.append(-1 if pairs == "mean" else indices[0])
    if not keys:
        raise UsageError(f"no clip in the shards {[str(p) for p in shard_paths][:3]}")
    meta = {"format": FORMAT, "version": VERSION, "pairs": pairs, "seed": seed,
            "shards": [Path(path).name for path in shard_paths], "provenance": provenance,
            "model_config": dataclasses.asdict(model.config)}
    return Codebook(latents=np.stack(latents).astype(np.float32), present=np.stack(present), keys=np.array(keys),
                    pairs=np.array(chosen, np.int64), meta=meta)


def release_shard_paths(release: str | Path, shards_dir: str | Path | None = None, split: str = "train") -> list[str]:
    """The shard files of a release's ``split`` (release.json "shards"), in ``shards_dir`` or its shards_location."""
    from .data import train_shards

    return [shard.path for shard in train_shards(release, shards_dir, split)]


def codebook_from_checkpoint(checkpoint_path: str | Path, shard_paths: list[str | Path], out: str | Path,
                             pairs: str = "mean", seed: int = 0, device: str | None = None, batch_size: int = 64,
                             progress: bool = True) -> Codebook:
    """Load a checkpoint, build the codebook of ``shard_paths`` with its encoder and save it to ``out`` (.npz)."""
    if not Path(checkpoint_path).is_file():
        raise UsageError(f"checkpoint {checkpoint_path} does not exist")
    if Path(out).suffix != ".npz":
        raise UsageError(f"--out must end in .npz (np.savez adds it otherwise), got {out}")
    try:
        state = checkpoint.load(checkpoint_path, map_location=resolve_device(device))
    except ValueError as error:
        raise UsageError(str(error)) from None
    book = build_codebook(state.model, shard_paths, pairs, seed, batch_size, progress)
    book.meta.update(checkpoint=str(checkpoint_path), checkpoint_sha256=sha256_file(checkpoint_path))
    book.save(out)
    return book


def add_codebook_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``fgla codebook`` arguments; ``run_codebook`` handles them."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--release", help="release directory (manifests/<name>/<X.Y.Z>), its release.json, or its URL")
    source.add_argument("--shard", action="append", metavar="TAR",
                        help="a shard file (repeatable), instead of --release")
    parser.add_argument("--shards", help="directory of the release's shards (default: release.json's shards_location)")
    parser.add_argument("--split", default="train", help="which of the release's splits to encode (default: train)")
    parser.add_argument("--checkpoint", required=True, help="the model whose encoder makes the latents")
    parser.add_argument("--out", required=True, help="codebook file to write (.npz)")
    parser.add_argument("--pairs", choices=PAIR_MODES, default="mean",
                        help="per clip: the mean latent over all its pairs (default), or one random pair's")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random pair per clip (default: 0)")
    parser.add_argument("--batch-size", type=int, default=64, help="pairs per encoder batch (default: 64)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available, else cpu")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_codebook(args: argparse.Namespace) -> int:
    """Handle ``fgla codebook``: print the codebook's path and its row count; 0 when done."""
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.shard and args.shards:
        raise UsageError("--shards names the directory of --release's shards; with --shard give the files alone")
    shard_paths = args.shard or release_shard_paths(args.release, args.shards, args.split)
    book = codebook_from_checkpoint(args.checkpoint, shard_paths, args.out, args.pairs, args.seed, args.device,
                                    args.batch_size, progress=not args.no_progress)
    print(f"{args.out}: {len(book.keys)} clips, present per semantic "
          f"{dict(zip(GROUPS, book.present.sum(axis=0).tolist()))}")
    return 0
