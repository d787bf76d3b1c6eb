"""Checkpoints that carry their config and load with ``torch.load(weights_only=True)``.

A checkpoint is a dict: ``format`` ("fgla-checkpoint"), ``version`` (1), ``config``
(``dataclasses.asdict(FGLAConfig)``, plain values), ``model`` (the state dict) and ``extra``
(whatever the caller adds: optimizer state, step, RNG states...). ``extra`` must itself be
weights_only-loadable: tensors, numbers, strings, None, and lists / tuples / dicts of them (store
``torch.get_rng_state()`` as is, a numpy RNG state as lists). The file is written atomically.

    >>> import tempfile, torch
    >>> from fgla_model.model import FGLA, FGLAConfig
    >>> config = FGLAConfig(image_size=16, encoder_size=8, encoder_base_channels=2, encoder_depth=1,
    ...                     generator_base_channels=2, generator_depth=1)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save(f"{d}/a.pt", FGLA(config), config, {"step": 3})
    ...     loaded = load(f"{d}/a.pt")
    >>> loaded.config == config, loaded.extra
    (True, {'step': 3})
"""
from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import torch

from timelapse_d.atomic import atomic_path

from .model import FGLA, FGLAConfig

FORMAT = "fgla-checkpoint"
VERSION = 1


@dataclasses.dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model (weights loaded), its config, and the caller's extra state."""

    model: FGLA
    config: FGLAConfig
    extra: dict


def save(path: str | Path, model: FGLA, config: FGLAConfig, extra: dict | None = None) -> None:
    """Write model weights, config and ``extra`` to ``path`` atomically."""
    payload = {"format": FORMAT, "version": VERSION, "config": dataclasses.asdict(config),
               "model": model.state_dict(), "extra": extra or {}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load(path: str | Path, map_location: str | torch.device | None = None) -> Checkpoint:
    """Read a checkpoint written by ``save``; raise ValueError naming ``path`` if it is not a usable one."""
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise ValueError(f"{path} is not a loadable FGLA checkpoint: {error}") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an FGLA checkpoint (no format {FORMAT!r})")
    if payload.get("version") != VERSION:
        raise ValueError(f"{path} has checkpoint version {payload.get('version')!r}; this code reads version {VERSION}")
    try:
        config = FGLAConfig(**payload["config"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path} holds a config this code cannot build: {error}") from error
    model = FGLA(config)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as error:
        raise ValueError(f"{path}: weights do not fit the model its config describes: {error}") from error
    if map_location is not None:
        model.to(map_location)
    return Checkpoint(model=model, config=config, extra=payload["extra"])
