"""What a training step changes and a checkpoint keeps: ``TrainState``, saved and loaded exactly.

A training checkpoint is an ``fgla_model.checkpoint`` whose ``extra`` holds the optimizer and
GradScaler states, step, epoch, python / numpy / torch RNG states, the data position, the training
config's loss / data / optim tables and the data's provenance.

Data position: every step each rank takes one batch of its endless ``PairStream``, so the step
is the position; resuming rebuilds the streams and skips that many batches (``data.py``).
"""
from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path

import numpy as np
import torch

from timelapse_d.errors import UsageError

from . import checkpoint
from .model import FGLA
from .train_config import TrainConfig


def rng_states() -> dict:
    """Python, numpy and torch global RNG states, weights_only-loadable (numpy's as lists)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    states = {"python": random.getstate(), "numpy": [name, keys.tolist(), pos, has_gauss, cached],
              "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


@dataclasses.dataclass
class TrainState:
    """The model, Adam, the GradScaler (mixed precision, CUDA only) and the step, with what a
    checkpoint records beside them: the config, the world size and sample count (the epoch and data
    position follow from them) and the data's provenance."""

    model: FGLA
    optimizer: torch.optim.Adam
    scaler: torch.amp.GradScaler
    config: TrainConfig
    world_size: int
    samples: int  # training samples, all ranks' shards together
    provenance: dict
    step: int = 0

    @classmethod
    def fresh(cls, config: TrainConfig, device: torch.device, world_size: int, samples: int,
              provenance: dict) -> TrainState:
        """Step 0: every global RNG seeded with the config's seed, then the model built on ``device``."""
        opt = config.optim
        torch.manual_seed(opt.seed)
        random.seed(opt.seed)
        np.random.seed(opt.seed)
        model = FGLA(config.model).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=opt.lr)
        scaler = torch.amp.GradScaler("cuda", enabled=opt.amp and device.type == "cuda")
        return cls(model, optimizer, scaler, config, world_size, samples, provenance)

    @property
    def amp(self) -> bool:
        """Mixed precision: the config asks for it and the model is on CUDA."""
        return self.scaler.is_enabled()

    @property
    def total_steps(self) -> int:
        """The run's length: the config's steps, or its epochs over all ranks' batches."""
        opt = self.config.optim
        if opt.steps is not None:
            return opt.steps
        return math.ceil(opt.epochs * self.samples / (opt.batch_size * self.world_size))

    @property
    def lr(self) -> float:
        """The learning rate of the next step (``OptimConfig.lr_at``)."""
        return self.config.optim.lr_at(self.step, self.total_steps)

    @property
    def epoch(self) -> float:
        """Data epochs done after ``step`` steps, all ranks together."""
        return self.step * self.config.optim.batch_size * self.world_size / self.samples

    @property
    def data_position(self) -> dict:
        """What the step means as a position in the data; a resumption must not change it."""
        return {"world_size": self.world_size, "workers": self.config.data.workers,
                "batch_size": self.config.optim.batch_size, "seed": self.config.optim.seed}

    def save(self, path: Path) -> None:
        """Write the checkpoint, atomically; the RNG states are taken now."""
        config = self.config
        extra = {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(), "step": self.step,
                 "epoch": self.epoch, "rng": rng_states(), "data": {**self.data_position, "batches": self.step},
                 "train_config": {"loss": dataclasses.asdict(config.loss), "data": dataclasses.asdict(config.data),
                                  "optim": dataclasses.asdict(config.optim)},
                 "provenance": self.provenance}
        checkpoint.save(path, self.model, config.model, extra)

    def load(self, path: Path) -> None:
        """Continue from the checkpoint at ``path``: weights, optimizer, scaler, RNG states, step.

        Raises UsageError when it was written with another data position.
        """
        state = checkpoint.load(path, map_location=next(self.model.parameters()).device)
        saved = {key: state.extra["data"][key] for key in self.data_position}
        if saved != self.data_position:
            raise UsageError(f"{path} was written with {saved}; this run has {self.data_position}: "
                             f"resume with the same world size, workers, batch size and seed")
        self.model.load_state_dict(state.model.state_dict())
        self.optimizer.load_state_dict(state.extra["optimizer"])
        self.scaler.load_state_dict(state.extra["scaler"])
        set_rng_states(state.extra["rng"])
        self.step = int(state.extra["step"])
