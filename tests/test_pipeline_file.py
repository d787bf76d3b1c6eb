import re
from pathlib import Path

import pytest

from timelapse_d.cli import main
from timelapse_d.pipeline import Pipeline, PipelineError
from timelapse_d.sources import SOURCES
from timelapse_d.stages import STAGES


def parse(text):
    return Pipeline.parse(text, "test.toml")


def test_demo_pipeline_loads():
    pipeline = Pipeline.load("pipelines/demo.toml")
    assert pipeline.name == "demo"
    assert pipeline.stage_names()[:2] == ["discover", "download"]
    assert pipeline.stages[0].params()["source"] == "synthetic"


@pytest.mark.parametrize("text, message", [
    ("name = 'x'", "needs at least one"),
    ("stages = [", "not valid TOML"),
    ("colour = 1\n[[stages]]\nstage = 'download'", r"unknown top-level key\(s\) \['colour'\]"),
    ("[[stages]]\nstage = 'upload'", "stage #1: unknown stage 'upload'; known: auto-label, discover, download, import-labels, precompute, split"),
    ("[[stages]]\nstage = 'download'\nretrys = 2", r"stage 'download': unknown parameter\(s\) \['retrys'\]"),
    ("[[stages]]\nstage = 'download'\nretries = -1", "retries must be >= 0, got -1"),
    ("[[stages]]\nstage = 'download'\nretries = '3'", "parameter 'retries' must be int, got '3'"),
    ("[[stages]]\nstage = 'download'\nrate_limit = 1.5", r"parameter 'rate_limit' must be int \| None"),
    ("[[stages]]\nstage = 'discover'", "parameter 'source' is required"),
    ("[[stages]]\nstage = 'discover'\nsource = 'myspace'", "unknown source 'myspace'"),
    ("[[stages]]\nstage = 'discover'\nsource = 'synthetic'\nvideos = 0", "videos must be a positive integer"),
    ("[[stages]]\nstage = 'discover'\nsource = 'synthetic'\nwidth = 101", "width"),
    ("[[stages]]\nstage = 'download'\n[[stages]]\nstage = 'download'", "appears twice"),
])
def test_bad_pipeline_files_fail_with_a_clear_message(text, message):
    with pytest.raises(PipelineError, match=message):
        parse(text)


def test_until_names_a_stage():
    pipeline = Pipeline.load("pipelines/demo.toml")
    assert [stage.name for stage in pipeline.until("discover")] == ["discover"]
    with pytest.raises(PipelineError, match="--until .publish."):
        pipeline.until("publish")


DATA_PIPELINES = sorted(path for path in Path("pipelines").glob("*.toml") if not path.name.startswith("fgla_"))


@pytest.mark.parametrize("path", DATA_PIPELINES, ids=lambda path: path.name)
def test_every_shipped_pipeline_file_loads(path):  # fgla_*.toml are training configs (tests/fgla)
    assert Pipeline.load(path).stage_names()[0] == "discover"


def _help(capsys, *command: str) -> str:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines; compare words


def test_every_generated_flag_explains_itself_and_shows_its_default_plainly(capsys):
    commands = [("discover", name) for name in SOURCES.names()]
    commands += [(name,) for name in STAGES.names() if name != "discover"]
    for command in commands:
        text = _help(capsys, *command)
        for flag in re.findall(r"(--[a-z-]+) [A-Z_]+(?: \[[A-Z_]+ \.\.\.\])? (.*?)\((?:default: [^)]*|required)\)", text):
            name, doc = flag
            assert doc.strip() and doc.strip() != name[2:].replace("-", " "), (command, name)
    flickr = _help(capsys, "discover", "flickr")
    assert "--tags TAGS [TAGS ...] Flickr tags, matched per tag_mode (default: timelapse)" in flickr
    assert "--text TEXT free text matched against title, description and tags (default: empty)" in flickr
    assert "--path PATH the list: .txt, .csv or .parquet (required)" in _help(capsys, "discover", "urls")
    assert "--threshold THRESHOLD ContentDetector: content change that makes a cut (default: 27.0)" in _help(capsys, "split")
