"""Manifest keys: stable, deterministic, safe as file names and as WebDataset keys.

A key is ASCII letters, digits, ``_`` and ``-``, starts with a letter or digit, and has no dot
(WebDataset splits a sample's key at the first dot), no slash and no space.

    >>> source_key("flickr", "53123456789")
    'flickr-53123456789'
    >>> source_key("urls", "../clip.mp4")
    'urls-clip-mp4-f73f4521d879'
    >>> clip_key("flickr-53123456789", 120, 480)
    'flickr-53123456789_f000120-000480'
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_KEY_LENGTH = 200
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def check_key(key: object, what: str = "key") -> str:
    """Return ``key`` if it is a valid manifest key, else raise ValueError naming it."""
    if not isinstance(key, str) or not _KEY.fullmatch(key) or len(key) > MAX_KEY_LENGTH:
        raise ValueError(
            f"invalid {what} {key!r}: keys are 1-{MAX_KEY_LENGTH} characters of [A-Za-z0-9_-], "
            "starting with a letter or digit")
    return key


def external_id_part(raw: object) -> str:
    """Map an id that comes from outside (an API id, a file name, a URL) to a safe key part.

    Safe ids are kept as they are; anything else becomes an ASCII slug plus 12 hex digits of the
    sha256 of the original, so distinct ids never share a key and ``../x`` cannot escape a folder.
    Empty or non-string ids are rejected.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"invalid external id {raw!r}: it must be a non-empty string")
    if _PART.fullmatch(raw):
        return raw
    ascii_text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-")[:40].strip("-")
    digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:12]
    return f"{slug}-{digest}" if slug else digest


def source_key(kind: str, external_id: object) -> str:
    """The key of a source row: its kind plus its (mapped) external id."""
    return check_key(f"{check_key(kind, 'source kind')}-{external_id_part(external_id)}", "source key")


def clip_key(video_id: str, start_frame: int, end_frame: int) -> str:
    """The key of a clip: its video key and its frame range [start_frame, end_frame)."""
    if not 0 <= start_frame < end_frame:
        raise ValueError(f"invalid frame range [{start_frame}, {end_frame}) for clip of {video_id!r}")
    return check_key(f"{check_key(video_id, 'video key')}_f{start_frame:06d}-{end_frame:06d}", "clip key")
