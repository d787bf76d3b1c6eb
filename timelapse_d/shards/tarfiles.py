"""Reading and writing samples as WebDataset tar files: each member is ``<key>.<entry>``, split at
the first dot of its base name, and the members of one sample are consecutive.

    >>> import io
    >>> buffer = io.BytesIO()
    >>> write_samples(buffer, [{"__key__": "a", "json": b"{}", "0000.jpg": b"x"}])
    >>> _ = buffer.seek(0)
    >>> [(s["__key__"], sorted(s)) for s in read_samples(buffer)]
    [('a', ['0000.jpg', '__key__', 'json'])]
"""
from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

MTIME = 0  # fixed member times: the same samples make byte-identical tar files


def write_samples(target: str | Path | BinaryIO, samples: Iterable[dict]) -> None:
    """Write samples (``__key__`` plus entry -> bytes) as webdataset's TarWriter does: members
    ``<key>.<entry>`` in sorted entry order, ustar, mode 0444, fixed times; without importing it
    (and torch) into every worker."""
    stream = open(target, "wb") if isinstance(target, (str, Path)) else target
    try:
        with tarfile.open(fileobj=stream, mode="w|", format=tarfile.USTAR_FORMAT) as archive:
            for sample in samples:
                for entry in sorted(name for name in sample if not name.startswith("_")):
                    info = tarfile.TarInfo(f"{sample['__key__']}.{entry}")
                    info.size, info.mtime, info.mode = len(sample[entry]), MTIME, 0o444
                    info.uname = info.gname = "bigdata"
                    archive.addfile(info, io.BytesIO(sample[entry]))
    finally:
        if stream is not target:
            stream.close()


def read_samples(source: str | Path | BinaryIO) -> Iterator[dict]:
    """Yield ``{"__key__": key, entry: bytes, ...}`` per sample, in file order (streaming). ``source``
    is a file, a stream, or a URL (``http(s)://``, resumed after a broken connection, or fsspec)."""
    from timelapse_d.net.locations import is_url, open_read

    if is_url(source):
        with open_read(source) as stream:
            yield from read_samples(stream)
        return
    where = source if isinstance(source, (str, Path)) else getattr(source, "name", "<stream>")
    with tarfile.open(source if isinstance(source, (str, Path)) else None,
                      fileobj=None if isinstance(source, (str, Path)) else source, mode="r|") as archive:
        sample: dict = {}
        for member in archive:
            if not member.isfile():
                continue
            directory, _, base = member.name.rpartition("/")
            key, dot, entry = base.partition(".")
            if not dot:
                raise ValueError(f"{where}: member {member.name!r} has no entry name after its key")
            key = f"{directory}/{key}" if directory else key
            if sample and sample["__key__"] != key:
                yield sample
                sample = {}
            sample["__key__"] = key
            if entry in sample:
                raise ValueError(f"{where}: sample {key!r} has entry {entry!r} twice")
            sample[entry] = archive.extractfile(member).read()
        if sample:
            yield sample


def index_tar(path: str | Path) -> dict[str, dict[str, tuple[int, int]]]:
    """key -> entry -> (offset, size) of its bytes in the file: random access to a shard's samples
    without reading them (only the member headers are read)."""
    index: dict[str, dict[str, tuple[int, int]]] = {}
    with tarfile.open(path, mode="r:") as archive:
        for member in archive:
            if member.isfile():
                directory, _, base = member.name.rpartition("/")
                key, _, entry = base.partition(".")
                index.setdefault(f"{directory}/{key}" if directory else key, {})[entry] = (member.offset_data, member.size)
    return index


def read_indexed(path: str | Path, entries: dict[str, tuple[int, int]], key: str) -> dict:
    """One sample from a file, given its ``index_tar`` entries."""
    sample = {"__key__": key}
    with open(path, "rb") as file:
        for entry, (offset, size) in entries.items():
            file.seek(offset)
            sample[entry] = file.read(size)
    return sample
