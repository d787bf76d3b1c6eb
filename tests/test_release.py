"""Releases: create, verify, export, remove (takedown) and rebuild, on the precomputed synthetic run."""
import json
import shutil

import pytest
from conftest import shard_samples

from timelapse_d.cli import main
from timelapse_d.flow import codec
from timelapse_d.manifest import read_rows
from timelapse_d.shards import read_samples, write_samples
from timelapse_d.shards.tarfiles import index_tar


@pytest.fixture(scope="module")
def released(precomputed_run, tmp_path_factory):
    """A copy of the precomputed work directory and its release test@1.0.0, shards published apart."""
    base = tmp_path_factory.mktemp("release")
    work = base / "work"
    shutil.copytree(precomputed_run, work, symlinks=True)
    root, shards = base / "manifests", base / "published"
    assert main(["release", "create", "--work", str(work), "--name", "test", "--version", "1.0.0",
                 "--root", str(root), "--shards", str(shards)]) == 0
    return {"work": work, "root": root, "shards": shards, "path": root / "test" / "1.0.0"}


def record(path):
    return json.loads((path / "release.json").read_text())


def test_create_writes_manifests_counts_checksums_card_and_attribution(released):
    path, work = released["path"], released["work"]
    rec = record(path)
    ok = [row for row in read_rows(work, "samples") if row["status"] == "ok"]
    assert rec["name"] == "test" and rec["version"] == "1.0.0" and rec["parent"] is None
    assert rec["counts"]["samples"] == len(ok) == len(read_rows(path, "samples"))
    assert rec["counts"]["per_split"] == {split: sum(row["split"] == split for row in ok) for split in ("test", "train")}
    assert rec["counts"]["per_license"] == {"CC0-1.0": len(ok)}
    assert sum(shard["samples"] for shard in rec["shards"]) == len(ok)
    assert {shard["name"] for shard in rec["shards"]} == {path.name for path in released["shards"].glob("*.tar")}
    assert '[[stages]]\nstage = "precompute"' in rec["pipeline"] and "git_commit" in rec["code_version"]
    sources = read_rows(path, "sources")
    assert {row["source_id"] for row in sources} == {row["video_id"] for row in ok}
    attribution = (path / "ATTRIBUTION.md").read_text()
    assert all(row["source_id"] in attribution for row in sources)
    card = (path / "README.md").read_text()
    assert "CC0 1.0 Universal" in card and "timelapse-d rebuild" in card and "@inproceedings" in card


def test_a_version_is_never_overwritten_and_bad_names_are_refused(released, capsys):
    before = (released["path"] / "release.json").read_bytes()
    args = ["release", "create", "--work", str(released["work"]), "--root", str(released["root"])]
    assert main([*args, "--name", "test", "--version", "1.0.0"]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert (released["path"] / "release.json").read_bytes() == before
    assert main([*args, "--name", "test", "--version", "1.0"]) == 2
    assert "X.Y.Z" in capsys.readouterr().err
    assert main([*args, "--name", "../x", "--version", "1.0.1"]) == 2


def test_verify_names_a_missing_or_altered_shard(released, tmp_path, capsys):
    assert main(["release", "verify", str(released["path"]), "--no-progress"]) == 0
    copy = tmp_path / "shards"
    shutil.copytree(released["shards"], copy)
    names = sorted(path.name for path in copy.glob("*.tar"))
    data = bytearray((copy / names[0]).read_bytes())
    data[len(data) // 2] ^= 1
    (copy / names[0]).write_bytes(bytes(data))
    (copy / names[1]).unlink()
    capsys.readouterr()
    assert main(["release", "verify", str(released["path"]), "--shards", str(copy), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"shard {names[0]}" in err and "altered" in err
    assert f"shard {names[1]} is missing" in err
    assert not any(f"shard {name}" in err for name in names[2:])


def test_export_writes_its_own_shards_with_only_the_chosen_samples(released):
    parent = read_rows(released["path"], "samples")
    category = sorted(row["category"] for row in parent)[0]
    assert main(["release", "export", "--from", "test@1.0.0", "--name", "test-subset", "--version", "0.1.0",
                 "--category", category, "--split", "train", "--root", str(released["root"]), "--no-progress"]) == 0
    child = released["root"] / "test-subset" / "0.1.0"
    rec = record(child)
    assert rec["parent"] == "test@1.0.0" and rec["filter"] == {"category": [category], "split": ["train"]}
    wanted = {row["sample_key"] for row in parent if row["category"] == category and row["split"] == "train"}
    assert wanted and {row["sample_key"] for row in read_rows(child, "samples")} == wanted
    assert all(shard["name"].startswith("test-subset-0.1.0-train-") for shard in rec["shards"])
    assert main(["release", "verify", str(child), "--no-progress"]) == 0
    original = shard_samples(released["work"])
    exported = {}
    for shard in rec["shards"]:
        for sample in read_samples(released["shards"] / shard["name"]):
            exported[sample["__key__"]] = sample
    assert set(exported) == wanted
    assert all(exported[key] == original[key][1].entries for key in wanted)


def test_remove_makes_a_patch_version_without_the_source_and_keeps_untouched_shards(released):
    parent_rec = record(released["path"])
    samples = read_rows(released["path"], "samples")
    victim = samples[0]["video_id"]
    assert main(["release", "remove", "--from", "test@1.0.0", "--source-id", victim, "--reason", "owner's request",
                 "--root", str(released["root"]), "--no-progress"]) == 0
    patched = released["root"] / "test" / "1.0.1"
    rec = record(patched)
    assert rec["parent"] == "test@1.0.0" and rec["removed"][0]["source_id"] == victim
    assert victim not in {row["source_id"] for row in read_rows(patched, "sources")}
    kept = {row["sample_key"] for row in samples if row["video_id"] != victim}
    assert {row["sample_key"] for row in read_rows(patched, "samples")} == kept
    in_shards = set()
    for shard in rec["shards"]:
        in_shards |= {sample["__key__"] for sample in read_samples(released["shards"] / shard["name"])}
    assert in_shards == kept
    touched = {row["shard"] for row in samples if row["video_id"] == victim}
    untouched = [shard for shard in parent_rec["shards"] if shard["name"] not in touched]
    assert all(shard in rec["shards"] for shard in untouched)
    assert "owner's request" in (patched / "README.md").read_text()
    assert main(["release", "verify", str(patched), "--no-progress"]) == 0
    assert main(["release", "remove", "--from", "test@1.0.0", "--source-id", victim,
                 "--root", str(released["root"]), "--no-progress"]) == 2  # 1.0.1 exists


def test_rebuild_from_the_manifests_reproduces_the_samples(released, tmp_path, capsys):
    assert main(["rebuild", str(released["path"]), "--work", str(tmp_path / "again"), "--workers", "2",
                 "--no-progress"]) == 0
    report = json.loads((tmp_path / "again" / "rebuild_report.json").read_text())
    assert report["identical"] and report["samples_rebuilt"] == report["samples_expected"] > 0
    assert report["flow_max_epe_px"] == 0.0 and not report["videos_changed"]
    # a published shard whose flow was altered no longer matches its rebuild
    published = tmp_path / "published"
    shutil.copytree(released["shards"], published)
    name = record(released["path"])["shards"][0]["name"]
    samples = list(read_samples(published / name))
    flow_name = sorted(entry for entry in samples[0] if entry.endswith(".flow"))[0]
    flow = codec.decode(samples[0][flow_name])
    samples[0][flow_name] = codec.encode(flow + 1.0)
    write_samples(published / name, samples)
    capsys.readouterr()
    assert main(["rebuild", str(released["path"]), "--work", str(tmp_path / "again"), "--shards", str(published),
                 "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert f"differs: {samples[0]['__key__']}" in out and "NOT identical" in out

    # one byte flipped inside a stored flow, and a shard gone: no traceback, those samples are named
    shutil.rmtree(published)
    shutil.copytree(released["shards"], published)
    names = [shard["name"] for shard in record(released["path"])["shards"]]
    index = index_tar(published / names[0])
    key = sorted(index)[0]
    offset, size = next(where for entry, where in sorted(index[key].items()) if entry.endswith(".flow"))
    data = bytearray((published / names[0]).read_bytes())
    data[offset + size // 2] ^= 0xFF
    (published / names[0]).write_bytes(bytes(data))
    (published / names[-1]).unlink()
    lost = sorted(index_tar(released["shards"] / names[-1]))
    assert main(["rebuild", str(released["path"]), "--work", str(tmp_path / "again"), "--shards", str(published),
                 "--no-progress"]) == 1
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "again" / "rebuild_report.json").read_text())
    assert report["samples_not_comparable"][key].startswith("its published sample cannot be decoded (")
    assert all(report["samples_not_comparable"][gone] == "its published shard is missing or unreadable" for gone in lost)
    assert list(report["unreadable_shards"]) == [names[-1]] and f"not comparable: {key}: " in out


def test_repair_makes_damaged_shards_again_byte_for_byte_and_keeps_a_mismatch_beside(released, tmp_path, capsys):
    published = tmp_path / "published"
    shutil.copytree(released["shards"], published)
    shards = record(released["path"])["shards"]
    flipped, gone, untouched = published / shards[0]["name"], published / shards[-1]["name"], published / shards[1]["name"]
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    gone.unlink()
    untouched_stamp = untouched.stat().st_mtime_ns
    work = tmp_path / "repair"
    assert main(["release", "repair", str(released["path"]), "--work", str(work), "--shards", str(published),
                 "--no-progress"]) == 0
    assert f"repaired: {flipped.name}" in capsys.readouterr().out
    assert main(["release", "verify", str(released["path"]), "--shards", str(published), "--no-progress"]) == 0
    assert untouched.stat().st_mtime_ns == untouched_stamp
    report = json.loads((work / "repair_report.json").read_text())
    assert sorted(report["repaired"]) == sorted([flipped.name, gone.name]) == sorted(report["damaged"])
    rebuilt = {row["sample_key"] for row in read_rows(work, "samples")}  # only the damaged shards' samples
    assert rebuilt == {row["sample_key"] for row in read_rows(released["path"], "samples")
                       if row["shard"] in (flipped.name, gone.name)}
    assert not [path for path in published.iterdir() if path.name.startswith(".tmp-")]

    # where the rebuilt bytes differ (a different software stack), the old file stays and the new one goes beside
    whole = flipped.read_bytes()
    samples = list(read_samples(flipped))
    samples[0]["json"] = samples[0]["json"] + b" "  # stands for another encoder's bytes
    write_samples(flipped, samples)
    damaged = flipped.read_bytes()
    capsys.readouterr()
    assert main(["release", "repair", str(released["path"]), "--work", str(tmp_path / "repair2"),
                 "--shards", str(published), "--no-progress"]) == 0  # this one the rebuild mends
    assert flipped.read_bytes() == whole
    rec = record(released["path"])
    rec["shards"][0]["sha256"] = "0" * 64  # what a different stack's rebuild would not match
    other = tmp_path / "other" / "test" / "1.0.0"
    shutil.copytree(released["path"], other)
    (other / "release.json").write_text(json.dumps(rec))
    flipped.write_bytes(damaged)
    assert main(["release", "repair", str(other), "--work", str(tmp_path / "repair3"), "--shards", str(published),
                 "--no-progress"]) == 1
    out = capsys.readouterr().out
    beside = published / f"{flipped.name[:-4]}.rebuilt.tar"
    assert f"NOT repaired: {flipped.name}" in out and str(beside) in out
    assert flipped.read_bytes() == damaged and beside.read_bytes() == whole
