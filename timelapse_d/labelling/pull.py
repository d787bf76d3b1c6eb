"""``label pull``: annotations into the labels table, a consensus per clip, agreement statistics.

One labels row per (clip, annotator) with ``label_source = "human"`` and the Label Studio task and
annotation ids (an annotator who submitted twice: their latest annotation). Per clip with human
rows, a ``consensus`` row: the majority per field; a field whose top values tie is left empty and
the row gets ``needs_review``. Categories: those more than half the annotators chose; one exactly
half chose is a tie. ``labelled_at`` is the annotation's own update time (the consensus's: the
latest of its inputs), so pulling twice writes the same table. Rows of other annotators (auto,
import) are kept. Agreement per field goes to ``WORK/stats/label_agreement.json``.

    >>> consensus_value(["pan", "pan", "none"])
    ('pan', 0.6666666666666666, False)
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from itertools import combinations
from pathlib import Path

from timelapse_d.atomic import write_json_atomic
from timelapse_d.keys import external_id_part
from timelapse_d.labelling.client import LabelStudioClient, LabelStudioError
from timelapse_d.categories import CATEGORIES
from timelapse_d.labelling.project import DEFAULT_TITLE
from timelapse_d.manifest import read_rows

HUMAN, CONSENSUS = "human", "consensus"


def find_project(client: LabelStudioClient, title: str = DEFAULT_TITLE) -> dict:
    matches = [project for project in client.paginate("/api/projects/") if project["title"] == title]
    if not matches:
        raise LabelStudioError(f"Label Studio at {client.url} has no project titled {title!r}; "
                               "run `timelapse-d label push` first")
    return min(matches, key=lambda project: project["id"])


def _choices(result: list[dict], name: str) -> list[str] | None:
    for region in result:
        if region.get("from_name") == name and region.get("type") == "choices":
            return list(region["value"].get("choices", []))
    return None


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def annotation_row(task: dict, annotation: dict, annotator: str) -> dict:
    result = annotation.get("result") or []
    camera, usable = _choices(result, "camera_motion"), _choices(result, "usable")
    categories = set(_choices(result, "categories") or [])
    row = {"clip_id": task["data"]["clip_id"], "annotator": annotator, "status": "ok", "error": "",
           "camera_motion": camera[0] if camera else None,
           "usable": {"yes": True, "no": False}.get(usable[0]) if usable else None,
           "categories": [category for category in CATEGORIES if category in categories],
           "label_source": HUMAN, "ls_task_id": task["id"], "ls_annotation_id": annotation["id"],
           "needs_review": False, "agreement": None,
           "labelled_at": _time(annotation.get("updated_at") or annotation["created_at"])}
    missing = [name for name in ("camera_motion", "usable") if row[name] is None]
    if missing:
        row.update(status="failed", error=f"annotation {annotation['id']} of task {task['id']} "
                                          f"has no {' / '.join(missing)} choice")
    return row


def annotator_keys(client: LabelStudioClient) -> dict[int, str]:
    """Label Studio user id -> a safe annotator key made from the user's e-mail."""
    return {user["id"]: external_id_part(user.get("email") or f"user-{user['id']}")
            for user in client.paginate("/api/users/")}


def consensus_value(values: list) -> tuple[object, float, bool]:
    """(majority value or None on a tie, share of votes for it, tied)."""
    counts = Counter(values).most_common()
    tied = len(counts) > 1 and counts[0][1] == counts[1][1]
    return (None if tied else counts[0][0]), counts[0][1] / len(values), tied


def consensus_row(clip_id: str, rows: list[dict]) -> dict:
    camera, camera_share, camera_tied = consensus_value([row["camera_motion"] for row in rows])
    usable, usable_share, usable_tied = consensus_value([row["usable"] for row in rows])
    votes = Counter(category for row in rows for category in row["categories"])
    half = len(rows) / 2
    categories = [category for category in CATEGORIES if votes[category] > half]
    categories_tied = any(votes[category] == half for category in CATEGORIES)
    return {"clip_id": clip_id, "annotator": CONSENSUS, "status": "ok", "error": "", "camera_motion": camera,
            "usable": usable, "categories": categories, "label_source": CONSENSUS,
            "ls_task_id": rows[0]["ls_task_id"], "ls_annotation_id": None,
            "needs_review": camera_tied or usable_tied or categories_tied,
            "agreement": (camera_share + usable_share) / 2,
            "labelled_at": max(row["labelled_at"] for row in rows)}


def fleiss_kappa(items: list[list]) -> float | None:
    """Fleiss' kappa over items rated by two or more raters each (counts may differ per item)."""
    items = [values for values in items if len(values) >= 2]
    if not items:
        return None
    totals, observed = Counter(), 0.0
    for values in items:
        n, counts = len(values), Counter(values)
        totals.update(counts)
        observed += (sum(c * c for c in counts.values()) - n) / (n * (n - 1))
    observed /= len(items)
    ratings = sum(totals.values())
    expected = sum((count / ratings) ** 2 for count in totals.values())
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def field_agreement(items: list[list]) -> dict:
    multi = [values for values in items if len(values) >= 2]
    pairs = [a == b for values in multi for a, b in combinations(values, 2)]
    return {"clips": len(multi), "unanimous": sum(len(set(values)) == 1 for values in multi),
            "unanimous_share": (sum(len(set(values)) == 1 for values in multi) / len(multi)) if multi else None,
            "pairwise_agreement": (sum(pairs) / len(pairs)) if pairs else None,
            "fleiss_kappa": fleiss_kappa(multi)}


def agreement_stats(by_clip: dict[str, list[dict]]) -> dict:
    stats = {"clips_annotated": len(by_clip),
             "annotations": sum(len(rows) for rows in by_clip.values()),
             "clips_with_several_annotators": sum(len(rows) >= 2 for rows in by_clip.values()),
             "fields": {name: field_agreement([[row[name] for row in rows] for rows in by_clip.values()])
                        for name in ("camera_motion", "usable")},
             "categories": {category: field_agreement([[category in row["categories"] for row in rows]
                                                       for rows in by_clip.values()])
                            for category in CATEGORIES}}
    return stats


def pulled_rows(work: str | Path, client: LabelStudioClient, title: str = DEFAULT_TITLE) -> tuple[list[dict], dict]:
    """The new labels table and the agreement statistics; reads everything before changing anything."""
    project = find_project(client, title)
    tasks = client.get(f"/api/projects/{project['id']}/export", exportType="JSON")
    users = annotator_keys(client)
    clips = {row["clip_id"] for row in read_rows(work, "clips")}
    latest: dict[tuple[str, str], dict] = {}
    for task in tasks:
        if task.get("data", {}).get("clip_id") not in clips:
            continue
        for annotation in task.get("annotations", []):
            if annotation.get("was_cancelled"):
                continue
            user = annotation["completed_by"]
            user_id = user["id"] if isinstance(user, dict) else user
            row = annotation_row(task, annotation, users.get(user_id, f"user-{user_id}"))
            key = (row["clip_id"], row["annotator"])
            if key not in latest or (row["labelled_at"], row["ls_annotation_id"]) > (
                    latest[key]["labelled_at"], latest[key]["ls_annotation_id"]):
                latest[key] = row
    labels = {(row["clip_id"], row["annotator"]): row for row in read_rows(work, "labels")}
    labels.update(latest)
    by_clip: dict[str, list[dict]] = {}
    for row in labels.values():
        if row["label_source"] == HUMAN and row["status"] == "ok":
            by_clip.setdefault(row["clip_id"], []).append(row)
    labels = {key: row for key, row in labels.items() if row["annotator"] != CONSENSUS}
    for clip_id, rows in sorted(by_clip.items()):
        rows.sort(key=lambda row: row["annotator"])
        labels[(clip_id, CONSENSUS)] = consensus_row(clip_id, rows)
    stats = {"project_id": project["id"], **agreement_stats(dict(sorted(by_clip.items())))}
    return list(labels.values()), stats


def write_agreement(work: str | Path, stats: dict) -> None:
    write_json_atomic(Path(work) / "stats" / "label_agreement.json", stats)
