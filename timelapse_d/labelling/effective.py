"""The one label a clip is used with, out of the rows the labels table holds for it.

People's word comes first: the ``consensus`` of the human annotators (written by ``label pull``),
then an ``import`` (labels that came with a dataset), then the automatic verdict (``auto``).
Only ok rows count. A clip whose consensus ``needs_review`` (annotators tied) keeps that row, so
the precompute stage can say why it leaves the clip out.

    >>> rows = [{"clip_id": "c", "annotator": "auto", "label_source": "auto", "status": "ok", "usable": True},
    ...         {"clip_id": "c", "annotator": "consensus", "label_source": "consensus", "status": "ok",
    ...          "usable": False}]
    >>> effective_labels(rows)["c"]["usable"]
    False
"""
from __future__ import annotations

from pathlib import Path

from timelapse_d.manifest import read_rows

PRECEDENCE = ("consensus", "import", "auto")  # label_source, strongest first


def effective_labels(rows: list[dict]) -> dict[str, dict]:
    """clip_id -> its effective label row (clips with no usable row are absent)."""
    best: dict[str, dict] = {}
    for row in rows:
        if row["status"] != "ok" or row.get("label_source") not in PRECEDENCE:
            continue
        current = best.get(row["clip_id"])
        if current is None or PRECEDENCE.index(row["label_source"]) < PRECEDENCE.index(current["label_source"]):
            best[row["clip_id"]] = row
    return best


def read_effective_labels(work: str | Path) -> dict[str, dict]:
    return effective_labels(read_rows(work, "labels"))
