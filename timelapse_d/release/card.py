"""The generated dataset card (README.md) and attribution list (ATTRIBUTION.md) of a release.

The card starts with the Hugging Face Hub's YAML front matter (``front_matter``): license, task,
tags, size, and a ``default`` config whose ``data_files`` name each split's shards as a published
release holds them (``shards/<name>``), with the columns the ``datasets`` library reads from them.

    >>> hub_license({"license_id": "CC-BY-4.0"}), hub_license({"source_kind": "flickr", "license_id": "4"})
    ('cc-by-4.0', 'cc-by-2.0')
    >>> hub_license({"license_name": "Research use only"}), hub_license({})
    ('other', 'unknown')
    >>> size_category(999), size_category(1000), size_category(2_500_000)
    ('n<1K', '1K<n<10K', '1M<n<10M')
    >>> print(yaml_text({"license": "cc0-1.0", "tags": ["time-lapse"], "x": [{"a": 'say "hi"'}]}))
    license: "cc0-1.0"
    tags:
      - "time-lapse"
    x:
      - {a: "say \\"hi\\""}
"""
from __future__ import annotations

import json
import re

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from timelapse_d.licenses import FLICKR_LICENSES
from timelapse_d.shards.sample import flow_entry, frame_entry, mask_entry
from .store import PUBLISHED_SHARDS

CITATION = """@inproceedings{xue2021fgla,
  title     = {Learning Fine-Grained Motion Embedding for Landscape Animation},
  author    = {Xue, Hongwei and Liu, Bei and Yang, Huan and Fu, Jianlong and Li, Houqiang and Luo, Jiebo},
  booktitle = {Proceedings of the 29th ACM International Conference on Multimedia},
  year      = {2021}
}"""


# The Hub's license identifiers (https://huggingface.co/docs/hub/repositories-licenses) that a
# source's media or data can carry; any other license is ``other``, named by license_name/license_link.
HUB_LICENSES = frozenset({
    "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0", "cc-by-sa-4.0",
    "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0",
    "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "pddl", "odc-by", "odbl", "c-uda", "etalab-2.0",
    "cdla-permissive-1.0", "cdla-permissive-2.0", "cdla-sharing-1.0", "apache-2.0", "mit", "unlicense",
})
SIZE_CATEGORIES = ("n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B",
                   "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T")
HUB_TAGS = ("time-lapse", "video", "optical-flow", "semantic-segmentation", "landscape-animation", "webdataset")


def hub_license(source: dict) -> str:
    """The Hub's identifier of a source's license (``CC-BY-4.0`` or Flickr's ``"11"`` -> ``cc-by-4.0``):
    ``other`` where the Hub has none (Flickr's CC BY-SA 2.0, a dataset's own terms), ``unknown``
    where the source states no license."""
    license_id = str(source.get("license_id") or "")
    if source.get("source_kind") == "flickr" and license_id in FLICKR_LICENSES:
        license_id = FLICKR_LICENSES[license_id].spdx
    if license_id.lower() in HUB_LICENSES:
        return license_id.lower()
    return "other" if license_id or source.get("license_name") else "unknown"


def _license_fields(sources: list[dict]) -> dict:
    """``license`` (one identifier, or the sorted list of several) and, where one is ``other``, the
    ``license_name`` and ``license_link`` the Hub asks for: ATTRIBUTION.md links each source's license."""
    ids = sorted({hub_license(row) for row in sources}) or ["unknown"]
    fields: dict = {"license": ids[0] if len(ids) == 1 else ids}
    if "other" in ids:
        names = sorted({row.get("license_name") or str(row.get("license_id")) for row in sources
                        if hub_license(row) == "other"})
        slug = re.sub(r"[^a-z0-9.]+", "-", names[0].lower()).strip("-.") if len(names) == 1 else ""
        fields.update(license_name=slug or "per-source-licenses", license_link="ATTRIBUTION.md")
    return fields


def size_category(samples: int) -> str:
    """The Hub's size bucket of a dataset of ``samples`` rows."""
    index = 0
    while index < len(SIZE_CATEGORIES) - 1 and samples >= 1000 * 10 ** index:
        index += 1
    return SIZE_CATEGORIES[index]


def hub_features(samples: list[dict], frame_format: str = "jpg") -> list[dict]:
    """The columns ``datasets``' webdataset builder makes of the shards (card ``dataset_info`` form):
    key, tar URL, the json, and frame / mask / flow entries up to the longest clip, so clips of
    different lengths fit one schema (the builder, left to infer it, refuses samples whose entries differ)."""
    frames = max((len(row["frame_indices"]) for row in samples), default=0)
    columns = [("__key__", "string"), ("__url__", "string"), ("json", "json")]
    for index in range(frames):
        columns += [(frame_entry(index, frame_format), "image"), (mask_entry(index), "image")]
        columns += [(flow_entry(index), "binary")] if index < frames - 1 else []
    return [{"name": name, "dtype": dtype} for name, dtype in columns]


def _data_files(shards: list[dict]) -> list[dict]:
    """One ``{"split", "path"}`` per split, its shards as a published release holds them."""
    names = sorted((shard["split"], shard["name"]) for shard in shards)
    return [{"split": split, "path": [f"{PUBLISHED_SHARDS}/{name}" for of, name in names if of == split]}
            for split in sorted({split for split, _ in names})]


def front_matter(record: dict, tables: dict[str, list[dict]]) -> str:
    """The Hub's YAML metadata block (``---`` ... ``---``) that starts the card."""
    frame_format = _precompute_params(record["pipeline"]).get("frame_format", "jpg")
    metadata = {
        **_license_fields(tables["sources"]),
        "pretty_name": f"{record['name']}@{record['version']}",
        "task_categories": ["image-to-video"],
        "tags": list(HUB_TAGS),
        "size_categories": [size_category(record["counts"]["samples"])],
        "configs": [{"config_name": "default", "data_files": _data_files(record["shards"])}],
        "dataset_info": {"config_name": "default", "features": hub_features(tables["samples"], frame_format)},
    }
    return f"---\n{yaml_text(metadata)}\n---\n"


def _yaml_string(text: str) -> str:
    """A double-quoted YAML scalar of only printable ASCII (escapes for the rest): safe for any text."""
    def char(c: str) -> str:
        if c in '"\\':
            return "\\" + c
        if " " <= c <= "~":
            return c
        return f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}"
    return '"' + "".join(char(c) for c in text) + '"'


def _yaml_scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, int):
        return "null" if value is None else str(value)
    if isinstance(value, (list, dict)):
        assert not value, "only empty collections are written inline"
        return "[]" if isinstance(value, list) else "{}"
    return _yaml_string(value)


def _yaml_key(key: str) -> str:
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key), f"YAML key {key!r} is not a plain word"
    return key


def _is_flat(item) -> bool:
    return isinstance(item, dict) and bool(item) and not any(isinstance(v, (dict, list)) for v in item.values())


def yaml_text(value: dict | list, indent: str = "") -> str:
    """Block-style YAML of nested dicts and lists of strings, ints, bools and None (keys plain words,
    strings always quoted); a list item that is a flat dict goes on one line. No YAML library
    needed; ``yaml.safe_load`` reads it back as ``value``."""
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines += [f"{indent}{_yaml_key(key)}:", yaml_text(item, indent + "  ")]
            else:
                lines.append(f"{indent}{_yaml_key(key)}: {_yaml_scalar(item)}")
        return "\n".join(lines)
    for item in value:
        if _is_flat(item):
            pairs = ", ".join(f"{_yaml_key(key)}: {_yaml_scalar(scalar)}" for key, scalar in item.items())
            lines.append(f"{indent}- {{{pairs}}}")
        elif isinstance(item, (dict, list)) and item:
            lines.append(f"{indent}- " + yaml_text(item, indent + "  ").lstrip())
        else:
            lines.append(f"{indent}- {_yaml_scalar(item)}")
    return "\n".join(lines)


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _precompute_params(pipeline: str) -> dict:
    stages = tomllib.loads(pipeline).get("stages", [])
    return next((stage for stage in stages if stage.get("stage") == "precompute"), {})


def dataset_card(record: dict, tables: dict[str, list[dict]]) -> str:
    """The card: the Hub's front matter, then what the release is, its statistics, licenses,
    takedowns, how to cite it and how to check and rebuild it."""
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
    return front_matter(record, tables) + "\n".join(parts)


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
