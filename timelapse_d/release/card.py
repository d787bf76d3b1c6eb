"""The generated dataset card (README.md) and attribution list (ATTRIBUTION.md) of a release."""
from __future__ import annotations

import json

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

CITATION = """@inproceedings{xue2021fgla,
  title     = {Learning Fine-Grained Motion Embedding for Landscape Animation},
  author    = {Xue, Hongwei and Liu, Bei and Yang, Huan and Fu, Jianlong and Li, Houqiang and Luo, Jiebo},
  booktitle = {Proceedings of the 29th ACM International Conference on Multimedia},
  year      = {2021}
}"""


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _precompute_params(pipeline: str) -> dict:
    stages = tomllib.loads(pipeline).get("stages", [])
    return next((stage for stage in stages if stage.get("stage") == "precompute"), {})


def dataset_card(record: dict, tables: dict[str, list[dict]]) -> str:
    ref = f"{record['name']}@{record['version']}"
    counts = record["counts"]
    params = _precompute_params(record["pipeline"])
    samples = tables["samples"]
    flow_params = json.loads(samples[0]["flow_params"]) if samples else {}
    segmenter_params = json.loads(samples[0]["segmenter_params"]) if samples else {}
    license_names = {row.get("license_id") or "unknown": row.get("license_name") or "" for row in tables["sources"]}
    shard_bytes = sum(shard["bytes"] for shard in record["shards"])
    parts = [
        f"# {ref}",
        "",
        "Time-lapse video clips prepared for landscape animation (FGLA, Xue et al., ACM MM 2021), as "
        "WebDataset shards. One sample per clip: every "
        f"{params.get('every', 4)}th frame at {params.get('width', 256)}x{params.get('height', 256)} "
        f"(aspect: {params.get('aspect', 'squash')}), the backward optical flow of each consecutive kept pair "
        f"({flow_params.get('estimator', '?')}, stored to within 1/128 px) and a six-group semantic map per "
        f"frame (sky, tree, grass, water, waterfall, others; segmenter: {segmenter_params.get('segmenter', '?')}). "
        "The sample format is described in docs/shards.md of the timelapse-d code.",
        "",
    ]
    if record["parent"]:
        parts += [f"Derived from **{record['parent']}** with the filter `{json.dumps(record['filter'], sort_keys=True)}`.", ""]
    parts += [
        "## Statistics", "",
        _table(("", "count"), [("samples (clips)", counts["samples"]), ("kept frames", counts["frames"]),
                               ("frame pairs", counts["frame_pairs"]), ("source videos", counts["videos"]),
                               ("shards", len(record["shards"])), ("shard bytes", shard_bytes)]), "",
        "Per split:", "", _table(("split", "samples"), list(counts["per_split"].items())), "",
        "Per category (the test set is balanced across them, by source video):", "",
        _table(("category", "samples"), list(counts["per_category"].items())), "",
        "Source resolution (height):", "", _table(("height", "samples"), list(counts["per_source_height"].items())), "",
        "## Licenses", "",
        "Every clip keeps the license of its source video; ATTRIBUTION.md credits each one.", "",
        _table(("license", "name", "samples"),
               [(lid, license_names.get(lid, ""), n) for lid, n in counts["per_license"].items()]), "",
    ]
    if record["removed"]:
        parts += ["## Takedowns", "", "These sources were removed at their owners' request or for the reason given; "
                  "the versions named still hold them and should no longer be distributed.", "",
                  _table(("source", "reason", "date", "removed in", "present until"),
                         [(r["source_id"], r["reason"], r["date"], r["in"], r["previous"]) for r in record["removed"]]), ""]
    parts += [
        "## How to cite", "", "```bibtex", CITATION, "```", "",
        f"and name the release: `{ref}`.", "",
        "## How to check and rebuild", "",
        "```bash",
        f"timelapse-d release verify manifests/{record['name']}/{record['version']} --shards SHARDS_DIR",
        f"timelapse-d rebuild manifests/{record['name']}/{record['version']} --work WORK2",
        "```", "",
        "`verify` re-hashes every shard against release.json. `rebuild` downloads the videos again, cuts the "
        "recorded frame ranges, precomputes with the recorded pipeline (pipeline.toml) and compares the result "
        "with these shards: the same sample keys, equal frames and masks, flows within the stated tolerance.", "",
        f"Built by timelapse-d {record['code_version'].get('timelapse_d')}"
        + (f" (commit {record['code_version']['git_commit'][:12]})" if "git_commit" in record["code_version"] else "")
        + f" on {record['created']}.", "",
    ]
    return "\n".join(parts)


def attribution_list(record: dict, sources: list[dict]) -> str:
    lines = [f"# Attribution: {record['name']}@{record['version']}", "",
             "Each source video, its owner and its license.", ""]
    for row in sorted(sources, key=lambda row: row["source_id"]):
        line = row.get("attribution") or f"{row.get('title') or row['source_id']} by {row.get('owner_name') or row.get('owner') or 'unknown'}"
        license_text = row.get("license_name") or row.get("license_id") or "license unknown"
        if row.get("license_url"):
            license_text = f"[{license_text}]({row['license_url']})"
        link = row.get("page_url") or row.get("url") or ""
        lines.append(f"- `{row['source_id']}`: {line}. {license_text}." + (f" <{link}>" if link.startswith("http") else ""))
    return "\n".join(lines) + "\n"
