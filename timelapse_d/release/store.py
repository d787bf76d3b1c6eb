"""Where releases live and how they are named: ``manifests/<name>/<X.Y.Z>/`` holding the manifests
that define a release (``manifests/<table>.parquet``, readable with ``timelapse_d.manifest``),
``release.json``, the dataset card ``README.md``, ``ATTRIBUTION.md`` and the ``pipeline.toml`` it
was built with. Shards live outside, in a flat directory (``shards_location`` in release.json), or, in a
published release (``release publish``), in its ``shards/`` folder (``shards_location`` = ``shards``).

    >>> parse_ref("timelapse-d@1.2.0")
    ('timelapse-d', '1.2.0')
    >>> next_patch("1.2.0")
    '1.2.1'
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from timelapse_d.errors import UsageError

DEFAULT_ROOT = Path("manifests")
RELEASE_JSON = "release.json"
PUBLISHED_SHARDS = "shards"  # a published release's shard folder (next to release.json), its shards_location
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


class ReleaseError(UsageError):
    """A release that cannot be made, found or read."""


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ReleaseError(f"release name {name!r} must be lower-case letters, digits, '-' or '_' (at most 64)")
    return name


def check_version(version: str) -> str:
    if not isinstance(version, str) or not _VERSION.match(version):
        raise ReleaseError(f"release version {version!r} must be a semantic version X.Y.Z")
    return version


def next_patch(version: str) -> str:
    major, minor, patch = (int(part) for part in check_version(version).split("."))
    return f"{major}.{minor}.{patch + 1}"


def parse_ref(ref: str) -> tuple[str, str]:
    """``NAME@X.Y.Z`` -> (name, version)."""
    name, at, version = ref.partition("@")
    if not at:
        raise ReleaseError(f"release reference {ref!r} must be NAME@X.Y.Z")
    return check_name(name), check_version(version)


def release_dir(root: str | Path, name: str, version: str) -> Path:
    return Path(root) / check_name(name) / check_version(version)


def release_json_location(path: str | Path) -> str:
    """Where the release.json of a release directory or URL is (given it, or that file itself)."""
    from timelapse_d.net.locations import is_url, join

    if is_url(path):
        return path if path.endswith(RELEASE_JSON) else join(path, RELEASE_JSON)
    path = Path(path).resolve()
    return str(path / RELEASE_JSON if path.is_dir() else path)


def load_release(path: str | Path) -> dict:
    """The release.json of a release directory or URL (or of the release.json path itself)."""
    from timelapse_d.net.locations import read_bytes

    path = release_json_location(path)
    try:
        return json.loads(read_bytes(path))
    except (OSError, ValueError) as error:
        raise ReleaseError(f"cannot read release {path}: {error}") from None


def release_root(path: str | Path) -> str:
    """The release directory or URL, given it or its release.json."""
    path = str(path)
    return path[:-len(RELEASE_JSON)].rstrip("/") if path.endswith(RELEASE_JSON) else path


def shards_location(release: str | Path, record: dict, shards: str | Path | None = None) -> str:
    """Where the release's shards are: ``shards`` if given, else release.json's ``shards_location``,
    which a published release states relative to itself (``shards``)."""
    from timelapse_d.net.locations import is_url, join

    if shards:
        return str(shards)
    location = record["shards_location"]
    if is_url(location) or Path(location).is_absolute():
        return location
    return join(release_root(release), location)


def find_release(root: str | Path, ref: str) -> Path:
    path = release_dir(root, *parse_ref(ref))
    if not (path / RELEASE_JSON).exists():
        raise ReleaseError(f"no release {ref} under {root} (no {path / RELEASE_JSON})")
    return path

