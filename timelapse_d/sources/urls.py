"""The ``urls`` source: a list of links (text, CSV or Parquet), optionally with license columns.

    [[stages]]
    stage = "discover"
    source = "urls"
    path = "lists/my_timelapses.csv"

A ``.txt`` list has one link per line (blank lines and ``#`` comments skipped). A ``.csv`` or
``.parquet`` list has a ``url`` column and any of the optional columns below; ``tags`` is a list in
Parquet and ``;``-separated in CSV. Every link is its own discovery query, so links appended to a
list are discovered by the next run and the others are not repeated. A link that is not http(s)
is recorded as a failed row.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

from timelapse_d.errors import UsageError
from timelapse_d.keys import source_key
from timelapse_d.sources.base import Source

OPTIONAL_COLUMNS = ("id", "title", "owner", "owner_name", "license_id", "license_name", "license_url",
                    "attribution", "page_url", "tags")


class UrlListError(UsageError):
    """A link list that cannot be used."""


@dataclass(frozen=True)
class UrlListConfig:
    path: str  # the list: .txt, .csv or .parquet

    def __post_init__(self) -> None:
        if Path(self.path).suffix.lower() not in (".txt", ".csv", ".parquet"):
            raise ValueError(f"path must be a .txt, .csv or .parquet list, got {self.path!r}")


def _text_links(path: Path) -> list[str]:
    """The links of a text list: one per line, blank lines and ``#`` comments skipped."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _read_entries(path: Path) -> Iterator[dict]:
    """The rows of a CSV or Parquet list as dicts with ``url`` and optional columns, None for empty cells."""
    import pandas as pd

    frame = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path, dtype=str)
    unknown = sorted(set(frame.columns) - {"url", *OPTIONAL_COLUMNS})
    if "url" not in frame.columns or unknown:
        raise UrlListError(f"link list {path}: needs a 'url' column, may have {list(OPTIONAL_COLUMNS)}; "
                           f"unknown column(s) {unknown}")
    for record in frame.astype(object).where(frame.notna(), None).to_dict("records"):
        tags = record.get("tags")
        if isinstance(tags, str):
            record["tags"] = [tag.strip() for tag in tags.split(";") if tag.strip()]
        elif tags is not None:
            record["tags"] = [str(tag) for tag in tags]
        yield record


class UrlListSource(Source):
    name = "urls"
    Config = UrlListConfig

    def plan(self, work: str) -> list[dict]:
        """One query per link. The source key is made by the worker (``discover``), except where the
        list gives ids, which are checked here: one id may not name two links."""
        path = Path(self.config.path)
        if not path.is_file():
            raise UrlListError(f"link list {path} does not exist")
        if path.suffix.lower() == ".txt":  # a crawl's list: millions of links, kept lean
            return [{"url": url, "query": f"urls:{url}"} for url in _text_links(path)]
        items, link_of_id = [], {}
        for line, entry in enumerate(_read_entries(path), 1):
            url = str(entry["url"] or "").strip()
            if not url:
                raise UrlListError(f"link list {path}, entry {line}: empty url")
            if entry.get("id"):
                source_id = source_key(self.name, entry["id"])
                if link_of_id.setdefault(source_id, url) != url:
                    raise UrlListError(f"link list {path}, entry {line}: id {entry['id']!r} "
                                       f"is used by two different links")
            items.append({**{key: value for key, value in entry.items() if value is not None}, "url": url,
                          "query": f"urls:{url}"})
        return items

    def discover(self, item: dict, work: str) -> list[dict]:
        row = {"source_id": source_key(self.name, item.get("id") or item["url"]), "source_kind": self.name,
               "url": item["url"],
               "query": item["query"], "discovered_at": datetime.now(timezone.utc),
               **{column: item.get(column) for column in OPTIONAL_COLUMNS if column != "id"},
               "metadata": json.dumps({"list": self.config.path}, sort_keys=True)}
        if urlparse(item["url"]).scheme not in ("http", "https"):
            return [{**row, "status": "failed", "error": f"not an http(s) link: {item['url']!r}"}]
        return [{**row, "status": "ok", "error": ""}]
