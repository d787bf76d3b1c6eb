"""Training configs: a TOML file -> ``TrainConfig`` (model, loss, data, optim dataclasses).

One table per dataclass; every key is a field of it, and anything else is an error naming the key
and the file. Ablations are plain switches: ``model.encoder = "plain"`` (w/o LM),
``data.flip_prob = 0`` (w/o flip), ``loss.use_*`` (only L_flow, only L_frame, w/o L_tv).

    >>> config = parse_config('''
    ... [model]
    ... image_size = 64
    ... encoder_size = 32
    ... [optim]
    ... steps = 10
    ... ''', "inline.toml")
    >>> config.model.image_size, config.loss.alpha, config.optim.lr, config.optim.steps
    (64, 0.5, 0.0001, 10)
    >>> [round(config.optim.lr_at(step, 10), 6) for step in (0, 5, 9)]   # "constant", the paper's
    [0.0001, 0.0001, 0.0001]
    >>> cosine = OptimConfig(lr=1e-3, lr_schedule="cosine", steps=10, checkpoint_every=50)
    >>> [round(cosine.lr_at(step, 10), 6) for step in (0, 5, 9)]
    [0.001, 0.0005, 2.4e-05]
    >>> parse_config("[optim]\\nstep = 10", "inline.toml")
    Traceback (most recent call last):
    ...
    timelapse_d.errors.UsageError: inline.toml: unknown key 'step' in [optim]; known: amp, batch_size, checkpoint_every, epochs, keep_every, log_every, lr, lr_schedule, seed, steps
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from timelapse_d.errors import UsageError

from .data import DataConfig
from .losses import LossConfig
from .model import FGLAConfig


LR_SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass
class OptimConfig:
    """Adam and the length of the run. Give ``steps`` or ``epochs`` (one data epoch = one pair per clip)."""

    lr: float = 1e-4
    lr_schedule: str = "constant"  # "constant" (the paper's Adam) or "cosine": lr * (1 + cos(pi step / steps)) / 2
    batch_size: int = 16  # per process (rank); the global batch is batch_size x world size
    steps: int | None = None
    epochs: int | None = None
    checkpoint_every: int = 1000  # steps; a multiple of log_every
    log_every: int = 50  # steps
    keep_every: int = 0  # steps; also keep checkpoint_<step>.pt at its multiples (0: the latest only)
    seed: int = 0
    amp: bool = True  # float16 autocast + GradScaler, on CUDA only (ignored on CPU)

    def __post_init__(self):
        if not self.lr > 0:
            raise ValueError(f"OptimConfig.lr must be > 0, got {self.lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"OptimConfig.lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        for name in ("batch_size", "checkpoint_every", "log_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"OptimConfig.{name} must be a positive int, got {value!r}")
        if not isinstance(self.keep_every, int) or isinstance(self.keep_every, bool) or self.keep_every < 0 \
                or self.keep_every % self.checkpoint_every:
            raise ValueError(f"OptimConfig.keep_every must be 0 or a multiple of checkpoint_every = "
                             f"{self.checkpoint_every}, got {self.keep_every!r}")
        if (self.steps is None) == (self.epochs is None):
            raise ValueError(f"OptimConfig needs exactly one of steps and epochs, got steps={self.steps}, "
                             f"epochs={self.epochs}")
        length = self.steps if self.steps is not None else self.epochs
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise ValueError(f"OptimConfig.{'steps' if self.steps is not None else 'epochs'} must be a positive "
                             f"int, got {length!r}")
        if self.checkpoint_every % self.log_every:
            raise ValueError(f"OptimConfig.checkpoint_every = {self.checkpoint_every} must be a multiple of "
                             f"log_every = {self.log_every} (a resumed run continues its loss log exactly)")

    def lr_at(self, step: int, total_steps: int) -> float:
        """The learning rate of the step that follows ``step`` steps of a ``total_steps`` run (a function of
        the step alone, so a resumed run takes the same rates)."""
        if self.lr_schedule == "constant":
            return self.lr
        return self.lr * (1 + math.cos(math.pi * step / total_steps)) / 2


@dataclasses.dataclass
class TrainConfig:
    model: FGLAConfig = dataclasses.field(default_factory=FGLAConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optim: OptimConfig = dataclasses.field(default_factory=lambda: OptimConfig(steps=1))

    def with_steps(self, steps: int) -> TrainConfig:
        """The same config with the run length set to ``steps`` (the ``--steps`` override)."""
        return dataclasses.replace(self, optim=dataclasses.replace(self.optim, steps=steps, epochs=None))


SECTIONS = {"model": FGLAConfig, "loss": LossConfig, "data": DataConfig, "optim": OptimConfig}


def parse_config(text: str, source: str) -> TrainConfig:
    """TOML text -> TrainConfig; raise UsageError naming ``source`` (the file) and the offending key or value."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{source}: not valid TOML: {error}") from None
    unknown = sorted(set(document) - set(SECTIONS))
    if unknown:
        raise UsageError(f"{source}: unknown table or key {unknown[0]!r}; known tables: {', '.join(SECTIONS)}")
    parts = {}
    for section, cls in SECTIONS.items():
        table = document.get(section, {})
        if not isinstance(table, dict):
            raise UsageError(f"{source}: {section} must be a table [{section}], got {table!r}")
        fields = {field.name for field in dataclasses.fields(cls)}
        for key in table:
            if key not in fields:
                raise UsageError(f"{source}: unknown key {key!r} in [{section}]; known: {', '.join(sorted(fields))}")
        try:
            parts[section] = cls(**table)
        except (TypeError, ValueError) as error:
            raise UsageError(f"{source}: [{section}]: {error}") from None
    return TrainConfig(**parts)


def load_config(path: str | Path) -> TrainConfig:
    """Read a training config file (see ``parse_config``)."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise UsageError(f"cannot read training config {path}: {error}") from None
    return parse_config(text, str(path))
