"""Training FGLA on a release's train shards: Adam, eq. 12, checkpoints that resume exactly, DDP.

``train`` is a loop of steps over a ``TrainState`` (``train_state.py``: what a checkpoint keeps) and
a ``RunDirectory`` (what the run writes: config copy, run.json, checkpoint, loss log and plot).
Distributed: under ``torchrun`` (RANK / WORLD_SIZE / LOCAL_RANK set) the model is wrapped in
DistributedDataParallel, gloo on CPU, nccl on CUDA; each rank reads disjoint shards.
"""
from __future__ import annotations

import copy
import csv
import dataclasses
import hashlib
import json
import math
import os
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from timelapse_d.atomic import remove_stale_temporaries, write_bytes_atomic, write_json_atomic
from timelapse_d.errors import UsageError
from timelapse_d.release.publish import code_version
from timelapse_d.net.locations import read_bytes
from timelapse_d.release.store import release_json_location, release_root

from .data import Shard, train_loader, train_shards
from .losses import fgla_loss
from .model import FGLA, NUM_SEMANTICS, prepare_encoder_inputs
from .train_config import TrainConfig, load_config
from .train_state import TrainState

CONFIG, RUN_JSON, CHECKPOINT, LOSSES_CSV, LOSSES_PNG = "config.toml", "run.json", "checkpoint.pt", "losses.csv", "losses.png"
LOSS_TERMS = ("total", "frame", "flow", "tv")
CSV_COLUMNS = ("step", "epoch", *LOSS_TERMS, "seconds")


@dataclasses.dataclass
class Dist:
    """This process's place in the run: rank, world size, and the device it trains on."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str | None) -> Dist:
    """Join the torchrun process group when WORLD_SIZE > 1; pick the device (cuda:LOCAL_RANK on CUDA)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    kind = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if kind not in ("cpu", "cuda"):
        raise UsageError(f"--device must be cpu or cuda, got {device!r}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda, but torch sees no CUDA device")
    torch_device = torch.device("cuda", local_rank) if kind == "cuda" else torch.device("cpu")
    if kind == "cuda":
        torch.cuda.set_device(torch_device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if kind == "cuda" else "gloo")
    return Dist(rank=rank, world_size=world_size, device=torch_device)


def weights_sha256(model: torch.nn.Module) -> str:
    """sha256 of every parameter and buffer's bytes, in state-dict order."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def read_loss_rows(run: Path) -> list[dict]:
    path = run / LOSSES_CSV
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(f)]


def truncate_loss_log(run: Path, step: int) -> None:
    """Keep the header and the rows up to ``step`` (the checkpoint's): a killed run may have logged
    further, its last line possibly cut short; those rows are logged again."""
    path = run / LOSSES_CSV
    lines = path.read_text().splitlines()[1:] if path.exists() else []
    kept = [line for line in lines if len(line.split(",")) == len(CSV_COLUMNS) and float(line.split(",")[0]) <= step]
    write_bytes_atomic(path, "".join(f"{line}\n" for line in [",".join(CSV_COLUMNS), *kept]).encode())


def append_loss_row(run: Path, row: dict) -> None:
    with (run / LOSSES_CSV).open("a") as f:
        f.write(",".join(f"{row[c]:.8g}" for c in CSV_COLUMNS) + "\n")


def plot_losses(rows: list[dict], path: Path, size: tuple[int, int] = (800, 480)) -> None:
    """The loss terms against the step, log10 y axis, drawn with OpenCV into a PNG."""
    import cv2

    W, H = size
    left, right, top, bottom = 70, 20, 20, 40
    image = np.full((H, W, 3), 255, np.uint8)
    colours = {"total": (0, 0, 0), "frame": (200, 80, 0), "flow": (0, 140, 0), "tv": (0, 0, 220)}  # BGR
    steps = np.array([row["step"] for row in rows], np.float64)
    values = {t: np.log10(np.maximum([row[t] for row in rows], 1e-8)) for t in LOSS_TERMS}
    lo = min(v.min() for v in values.values()) if rows else 0.0
    hi = max(v.max() for v in values.values()) if rows else 1.0
    lo, hi = math.floor(lo), max(math.ceil(hi), math.floor(lo) + 1)
    s0, s1 = (steps.min(), max(steps.max(), steps.min() + 1)) if rows else (0.0, 1.0)
    cv2.rectangle(image, (left, top), (W - right, H - bottom), (0, 0, 0), 1)
    for decade in range(lo, hi + 1):  # y grid at each power of ten
        y = int(H - bottom - (decade - lo) / (hi - lo) * (H - top - bottom))
        cv2.line(image, (left, y), (W - right, y), (220, 220, 220), 1)
        cv2.putText(image, f"1e{decade}", (5, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    cv2.putText(image, f"step {int(s0)}", (left, H - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    cv2.putText(image, f"step {int(s1)}", (W - right - 90, H - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    for i, term in enumerate(LOSS_TERMS):
        xs = left + (steps - s0) / (s1 - s0) * (W - left - right)
        ys = H - bottom - (values[term] - lo) / (hi - lo) * (H - top - bottom)
        points = np.stack([xs, ys], axis=1).round().astype(np.int32)
        cv2.polylines(image, [points], False, colours[term], 2)
        cv2.putText(image, term, (W - right - 80, top + 20 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colours[term], 2)
    ok, data = cv2.imencode(".png", image)
    assert ok, "OpenCV encodes any uint8 image"
    write_bytes_atomic(path, data.tobytes())


def warm_up(model: FGLA, config: TrainConfig, batch: int, device: torch.device, amp: bool) -> None:
    """Two throwaway forward / backward passes of a COPY of ``model`` on a synthetic batch of the training shapes.

    Why: the first call of some CPU math kernels in a process is not reproducible. Measured with
    torch 2.13 (MKL, OpenMP, 2 threads): the generator's ``torch.tanh`` over a (B, 2, S, S) tensor is
    split between the intra-op threads, and in the first call of the process the worker thread's half
    now and then comes out ~1e-5 off (a few hundred ulp), more often when the machine is loaded;
    every later call is exact. Adam turns that into ~lr-sized weight differences, so the first training
    step of every process (a fresh run, a resumed one) could silently diverge from an uninterrupted
    run. Paying the first calls here, on a copy, with inputs from a private generator, leaves the
    model, the optimizer, every RNG and the data stream untouched.
    """
    S, s = config.model.image_size, config.model.encoder_size
    generator = torch.Generator().manual_seed(0)
    frame = (torch.rand(batch, 3, S, S, generator=generator) * 2 - 1).to(device)  # (B, 3, S, S)
    flow = (torch.randn(batch, 2, S, S, generator=generator) * 2).to(device)  # (B, 2, S, S) px
    groups = torch.randint(0, NUM_SEMANTICS, (batch, S, S), generator=generator).to(device)  # (B, S, S)
    encoder_flow, encoder_masks = prepare_encoder_inputs(flow, groups, s)  # (B, 2, s, s), (B, K, s, s)
    scratch = copy.deepcopy(model).train()
    for _ in range(2):
        with torch.autocast("cuda", dtype=torch.float16) if amp else nullcontext():
            out = scratch(frame, groups, encoder_flow, encoder_masks)
        losses = fgla_loss(out.next_frame.float(), frame, out.flow.float(), flow, config.loss)
        losses["total"].backward()
    del scratch


def _tensorboard(run: Path, purge_step: int):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(run / "tensorboard"), purge_step=purge_step)


class RunDirectory:
    """A training run's directory; rank 0 alone writes it (on the other ranks the writing methods do nothing):

        config.toml      the training config, copied at the start (a resumed run reads this one)
        run.json         the release trained on (path, name, version, sha256 of its release.json,
                         shards), world size, device, code version, resumptions, final weights' sha256
        checkpoint.pt    the latest checkpoint (``fgla_model.checkpoint``), written atomically every
                         ``checkpoint_every`` steps and at the end: weights, config, and in ``extra``
                         the optimizer and GradScaler states, step, epoch, python / numpy / torch RNG
                         states and the data position (``TrainState``)
        checkpoint_<step>.pt  copies of it at multiples of ``keep_every`` (when set)
        losses.csv       step, epoch, total, frame, flow, tv (means over the last log_every steps and
                         all ranks), seconds
        losses.png       the loss curves (OpenCV drawing), redrawn at each checkpoint
        tensorboard/     the same scalars, when ``torch.utils.tensorboard`` is importable
    """

    def __init__(self, path: str | Path, writer: bool, resume: bool):
        self.path, self.writer, self.resume = Path(path), writer, resume
        self.checkpoint = self.path / CHECKPOINT
        self.record: dict = {}  # run.json, once opened
        self.board = None  # the tensorboard SummaryWriter, once opened, if importable

    def read_config(self, config_path: str | Path | None) -> tuple[TrainConfig, str]:
        """The run's config and its TOML text. A fresh run copies ``config_path``; a resumed one reads its own."""
        own = self.path / CONFIG
        if self.resume:
            if not own.exists():
                raise UsageError(f"--resume: {self.path} is not a training run (no {CONFIG})")
            if config_path is not None and Path(config_path).read_text() != own.read_text():
                raise UsageError(f"--resume: {config_path} differs from the run's own {own}; "
                                 f"resume with the run's config")
            return load_config(own), own.read_text()
        if config_path is None:
            raise UsageError("--config is required for a new run")
        if self.checkpoint.exists() or own.exists():
            raise UsageError(f"{self.path} already holds a training run; "
                             f"continue it with --resume or choose another --out")
        return load_config(config_path), Path(config_path).read_text()

    def open(self, config_text: str, release: str | Path, shards: list[Shard], world: Dist,
             state: TrainState) -> None:
        """Write the config copy and run.json, drop the loss rows past ``state``'s step, open tensorboard."""
        if not self.writer:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.path)
        write_bytes_atomic(self.path / CONFIG, config_text.encode())
        truncate_loss_log(self.path, state.step)
        self.record = self._run_record(release, shards, world, state)
        write_json_atomic(self.path / RUN_JSON, self.record)
        self.board = _tensorboard(self.path, purge_step=state.step)

    def log(self, row: dict) -> None:
        """One losses.csv row (``CSV_COLUMNS``), and its loss terms to tensorboard."""
        if not self.writer:
            return
        append_loss_row(self.path, row)
        if self.board is not None:
            for term in LOSS_TERMS:
                self.board.add_scalar(f"loss/{term}", row[term], row["step"])

    def save(self, state: TrainState) -> None:
        """The checkpoint (and its copy ``checkpoint_<step>.pt`` at multiples of ``keep_every``), then the
        loss curves redrawn."""
        if not self.writer:
            return
        state.save(self.checkpoint)
        keep = state.config.optim.keep_every
        if keep and state.step % keep == 0:
            write_bytes_atomic(self.path / f"checkpoint_{state.step}.pt", self.checkpoint.read_bytes())
        plot_losses(read_loss_rows(self.path), self.path / LOSSES_PNG)

    def finish(self, step: int, digests: list[str]) -> None:
        """Close tensorboard; record the last step and every rank's weights' sha256 in run.json."""
        if not self.writer:
            return
        if self.board is not None:
            self.board.close()
        self.record["finished"] = {"step": step, "at": _now(), "weights_sha256_per_rank": digests}
        write_json_atomic(self.path / RUN_JSON, self.record)

    def _run_record(self, release: str | Path, shards: list[Shard], world: Dist, state: TrainState) -> dict:
        """run.json: the release reference and the run's settings; a resumption is appended to the old record."""
        release_file = release_json_location(release)
        release_bytes = read_bytes(release_file)  # read once: over HTTP too
        release_json_sha256, info = hashlib.sha256(release_bytes).hexdigest(), json.loads(release_bytes)
        own = self.path / RUN_JSON
        record = json.loads(own.read_text()) if self.resume and own.exists() else {}
        if not record:
            record = {"release": {"path": release_root(release_file), "name": info.get("name"),
                                  "version": info.get("version"), "release_json_sha256": release_json_sha256,
                                  "shards_dir": shards[0].path.rpartition("/")[0],
                                  "train_shards": [shard.path.rpartition("/")[2] for shard in shards],
                                  "train_samples": state.samples},
                      "config": CONFIG, "started": _now(), "code_version": code_version(), "resumed": []}
        elif record["release"]["release_json_sha256"] != release_json_sha256:
            raise UsageError(f"--resume: {release_file} is not the release this run started on "
                             f"({record['release']['name']}@{record['release']['version']})")
        else:
            record["resumed"].append({"from_step": state.step, "at": _now()})
        record.update(world_size=world.world_size, device=str(world.device), total_steps=state.total_steps)
        record.pop("finished", None)
        return record


class LossMeter:
    """The loss terms summed since the last log row; a row holds their means over those steps and all ranks."""

    def __init__(self, world: Dist, step: int):
        self.world, self.since, self.started = world, step, time.monotonic()
        self.sums = torch.zeros(len(LOSS_TERMS), dtype=torch.float64, device=world.device)  # (4,) LOSS_TERMS

    def add(self, losses: torch.Tensor) -> None:
        self.sums += losses

    def row(self, state: TrainState) -> dict:
        """The log row at ``state``'s step (``CSV_COLUMNS``); every rank calls it together (an all-reduce)."""
        if self.world.world_size > 1:
            dist.all_reduce(self.sums)
        means = (self.sums / (self.world.world_size * (state.step - self.since))).tolist()
        self.sums.zero_()
        self.since = state.step
        return {"step": state.step, "epoch": state.epoch, **dict(zip(LOSS_TERMS, means)),
                "seconds": time.monotonic() - self.started}


def train_step(net: torch.nn.Module, state: TrainState, batch: dict, device: torch.device) -> torch.Tensor:
    """One step on ``batch``: forward through ``net`` (the model or its DDP wrapper), eq. 12, backward,
    Adam through the GradScaler; returns the loss terms (LOSS_TERMS order), detached, shape (4,)."""
    example = {key: value.to(device, non_blocking=True) for key, value in batch.items()
               if isinstance(value, torch.Tensor)}
    with torch.autocast("cuda", dtype=torch.float16) if state.amp else nullcontext():
        out = net(example["frame"], example["groups"], example["encoder_flow"], example["encoder_masks"])
    losses = fgla_loss(out.next_frame.float(), example["next_frame"], out.flow.float(), example["flow"],
                       state.config.loss)
    state.optimizer.zero_grad(set_to_none=True)
    for group in state.optimizer.param_groups:
        group["lr"] = state.lr
    state.scaler.scale(losses["total"]).backward()
    state.scaler.step(state.optimizer)
    state.scaler.update()
    state.step += 1
    return torch.stack([losses[t].detach().double() for t in LOSS_TERMS])


def weights_per_rank(model: torch.nn.Module, world: Dist) -> list[str]:
    """Every rank's ``weights_sha256``, in rank order (gathered on all ranks)."""
    if world.world_size == 1:
        return [weights_sha256(model)]
    digests = [None] * world.world_size
    dist.all_gather_object(digests, weights_sha256(model))
    return digests


def train(release: str | Path, out: str | Path, config_path: str | Path | None = None,
          shards_dir: str | Path | None = None, resume: bool = False, device: str | None = None,
          steps: int | None = None, progress: bool = True) -> Path:
    """Train (or with ``resume`` continue) a run in ``out``; returns the final checkpoint's path.

    ``steps`` overrides the config's run length (steps or epochs). Under torchrun every rank calls
    this; rank 0 alone writes ``out``.
    """
    world = setup_distributed(device)
    run = RunDirectory(out, writer=world.main, resume=resume)
    config, config_text = run.read_config(config_path)
    if steps is not None:
        config = config.with_steps(steps)
    shards = train_shards(release, shards_dir)
    samples, provenance = sum(shard.samples for shard in shards), _provenance(shards)
    state = TrainState.fresh(config, world.device, world.world_size, samples, provenance)
    if resume and run.checkpoint.exists():
        state.load(run.checkpoint)
    total_steps = state.total_steps
    if resume and state.step == total_steps:
        return run.checkpoint  # a finished run: resuming it again does nothing
    if state.step > total_steps:
        raise UsageError(f"{run.path} is already at step {state.step}, beyond the requested {total_steps} steps")
    net = DistributedDataParallel(state.model) if world.world_size > 1 else state.model
    if world.world_size > 1:
        dist.barrier()  # every rank checked the run directory before rank 0 writes into it
    run.open(config_text, release, shards, world, state)

    opt = config.optim
    batches = iter(train_loader(shards, config.data, config.model.image_size, config.model.encoder_size, opt.seed,
                                opt.batch_size, start_batch=state.step))
    meter = LossMeter(world, state.step)
    bar = tqdm(total=total_steps, initial=state.step, disable=not (progress and world.main), unit="step")
    warm_up(state.model, config, opt.batch_size, world.device, state.amp)  # before the first real step: see warm_up
    net.train()
    while state.step < total_steps:
        meter.add(train_step(net, state, next(batches), world.device))
        bar.update(1)
        if state.step % opt.log_every == 0 or state.step == total_steps:
            row = meter.row(state)
            run.log(row)
            bar.set_postfix(loss=f"{row['total']:.4f}")
        if state.step % opt.checkpoint_every == 0 or state.step == total_steps:
            run.save(state)
    bar.close()
    del batches  # stops the DataLoader's workers

    digests = weights_per_rank(state.model, world)  # every rank must hold the same weights; rank 0 records them
    run.finish(state.step, digests)
    if world.world_size > 1:
        dist.barrier()  # ranks leave together: one tearing gloo down while another still works can abort it
    if len(set(digests)) != 1:
        raise RuntimeError(f"ranks ended with different weights: {digests}")
    return run.checkpoint


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _provenance(shards: list) -> dict:
    """How the training data's flow and masks were made (estimator, segmenter, every, size, aspect),
    from the first sample's json, so that animation computes reference latents the same way."""
    from timelapse_d.shards import read_samples

    from .codebook import provenance_from_meta

    first = next(read_samples(shards[0].path), None)
    return provenance_from_meta(json.loads(first["json"])) if first else {}
