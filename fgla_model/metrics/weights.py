"""Loading a metric network's weights from a local file or a hub URL, with errors that say what is wrong.

A metric whose weights are absent, or whose download fails or has the wrong sha256, raises
`MissingWeights` (never a score of zero), so the evaluation can catch it and report the metric as
"missing". A file whose keys or shapes do not fit the network raises `WeightsMismatch` naming the
file and the keys.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn


class MissingWeights(FileNotFoundError):
    """A metric network's weights are absent: no file at `source`, or its download failed or had the wrong sha256."""

    def __init__(self, source: str | Path, reason: str = "no such file"):
        self.source = str(source)
        super().__init__(f"weights missing: {self.source} ({reason}); see docs/metrics.md")


class WeightsMismatch(ValueError):
    """A weights file that does not fit the network it is loaded into."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict stored at `path`, on the CPU, read with `torch.load(weights_only=True)`."""
    path = Path(path)
    if not path.is_file():
        raise MissingWeights(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError) as error:
        raise WeightsMismatch(f"{path}: not a state dict readable with weights_only=True: {error}") from error
    if not isinstance(state, dict):
        raise WeightsMismatch(f"{path}: holds a {type(state).__name__}, not a state dict")
    return state


def download_state_dict(url: str, check_hash: bool = False) -> dict[str, torch.Tensor]:
    """The state dict at `url`, downloaded once into the torch.hub cache (`$TORCH_HOME/hub/checkpoints`).

    With `check_hash`, a file name carrying a sha256 prefix (`name-<hex>.ext`, torch.hub's
    convention) is checked: a download whose sha256 does not start with it is `MissingWeights` and
    is not kept. A file already in the cache is read without downloading or checking it again.
    """
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
    if not path.is_file():
        match = torch.hub.HASH_REGEX.search(path.name) if check_hash else None
        prefix = match.group(1) if match else None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(path), hash_prefix=prefix, progress=False)
        except OSError as error:  # no network, HTTP errors (URLError is an OSError)
            raise MissingWeights(url, f"download failed: {error}") from error
        except RuntimeError as error:  # torch.hub's sha256 check, its only RuntimeError
            raise MissingWeights(url, f"sha256 of the download does not match its file name: {error}") from error
    return read_state_dict(path)


def load_into(
    module: nn.Module, state: dict[str, torch.Tensor], source: str | Path, ignore: tuple[str, ...] = ()
) -> nn.Module:
    """Copy `state` into `module`, checking every key and shape first.

    Keys starting with a prefix in `ignore` are parts of the file the metric does not use (e.g. a
    classifier). BatchNorm's `num_batches_tracked` may be absent (files saved by old PyTorch).
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected and not k.startswith(ignore)]
    if missing or unexpected:
        raise WeightsMismatch(
            f"{source}: keys do not match {type(module).__name__}: "
            f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}"
        )
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    if wrong:
        raise WeightsMismatch(f"{source}: shapes do not match {type(module).__name__}: {wrong[:5]}")
    module.load_state_dict({k: state[k] for k in expected if k in state}, strict=False)
    return module
