"""Training: configs and ablations, exact resume (in process and after SIGKILL), DDP on gloo, overfitting."""
import dataclasses
import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fgla_model import checkpoint
from fgla_model.cli import main
from fgla_model.data import DataConfig, PairStream, train_shards
from fgla_model.train import CSV_COLUMNS, read_loss_rows, weights_sha256
from fgla_model.train_config import load_config, parse_config
from fgla_model.warp import normalised_to_pixels
from timelapse_d.cli import main as timelapse_main
from fgla_tiny import tiny_config

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = ROOT / "pipelines"
ABLATIONS = {  # file -> the one (table, key, value) it changes in fgla_paper.toml
    "fgla_ablation_wo_lm.toml": ("model", "encoder", "plain"),
    "fgla_ablation_wo_flip.toml": ("data", "flip_prob", 0.0),
    "fgla_ablation_flow_only.toml": ("loss", ("use_frame", "use_tv"), False),
    "fgla_ablation_frame_only.toml": ("loss", ("use_flow", "use_tv"), False),
    "fgla_ablation_wo_tv.toml": ("loss", "use_tv", False),
}
@pytest.fixture(scope="module")
def release(precomputed_run, tmp_path_factory):
    """The precomputed run's release n@1.0.0 (a few train clips in 2 shards, 96x96)."""
    base = tmp_path_factory.mktemp("train_release")
    shutil.copytree(precomputed_run, base / "work", symlinks=True)
    assert timelapse_main(["release", "create", "--work", str(base / "work"), "--name", "n", "--version", "1.0.0",
                           "--root", str(base / "root")]) == 0
    return base / "root" / "n" / "1.0.0"


def train(release, config, out, *extra):
    return main(["train", "--release", str(release), "--config", str(config), "--out", str(out), "--device", "cpu",
                 "--no-progress", *extra])


def final_weights(run):
    return checkpoint.load(run / "checkpoint.pt").model.state_dict()


def test_the_paper_config_is_the_papers_and_each_ablation_changes_one_switch():
    paper = load_config(PIPELINES / "fgla_paper.toml")
    assert (paper.model.image_size, paper.model.encoder_size, paper.model.c, paper.model.encoder) == (256, 128, 32.0, "fine-grained")
    assert (paper.loss.alpha, paper.loss.beta, paper.loss.sigma) == (0.5, 5.0, 0.1)
    assert (paper.optim.lr, paper.optim.epochs, paper.data.flip_prob) == (1e-4, 500, 0.5)
    assert load_config(PIPELINES / "fgla_cpu_demo.toml").model.image_size == 128
    assert sorted(p.name for p in PIPELINES.glob("fgla_ablation_*.toml")) == sorted(ABLATIONS)
    for name, (table, keys, value) in ABLATIONS.items():
        ablation = load_config(PIPELINES / name)
        keys = keys if isinstance(keys, tuple) else (keys,)
        expected = dataclasses.replace(getattr(paper, table), **{key: value for key in keys})
        assert getattr(ablation, table) == expected, name
        assert all(getattr(ablation, other) == getattr(paper, other) for other in ("model", "loss", "data", "optim")
                   if other != table), name


def test_config_errors_name_the_key_and_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nimage_sise = 64\n[optim]\nsteps = 1\n")
    assert train("unused", bad, tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "'image_sise'" in err and "[model]" in err
    for text, words in (("[modle]\n", ("'modle'",)), ("[optim]\nsteps = 1\nepochs = 2\n", ("exactly one of steps",)),
                        ("[optim]\nsteps = 2\nlog_every = 3\n", ("checkpoint_every", "multiple")),
                        ("[data]\nflip_prob = 2.0\n[optim]\nsteps = 1\n", ("flip_prob", "2.0")),
                        ("[optim]\nsteps = 1\nlr_schedule = \"step\"\n", ("lr_schedule", "'step'")),
                        ("[optim]\nsteps = 1\nkeep_every = 3\n", ("keep_every", "multiple of checkpoint_every")),
                        ("[optim]\nsteps = 1\ncheckpoint_every = 0\n", ("checkpoint_every", "positive int"))):
        with pytest.raises(ValueError) as error:
            parse_config(text, "x.toml")
        assert "x.toml" in str(error.value) and all(word in str(error.value) for word in words)


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_every_ablation_trains(release, tmp_path, name):
    table, keys, value = ABLATIONS[name]
    keys = keys if isinstance(keys, tuple) else (keys,)
    lines = "\n".join(f"{key} = {json.dumps(value)}" for key in keys)
    config = tiny_config(tmp_path / "c.toml", steps=2, log_every=1, checkpoint_every=2, **{table: lines})
    assert train(release, config, tmp_path / "run") == 0
    loaded = checkpoint.load(tmp_path / "run" / "checkpoint.pt")
    assert loaded.config.encoder == ("plain" if name.endswith("wo_lm.toml") else "fine-grained")
    if table != "model":
        assert all(loaded.extra["train_config"][table][key] == value for key in keys)
    rows = read_loss_rows(tmp_path / "run")
    assert [row["step"] for row in rows] == [1, 2] and all(row["total"] > 0 for row in rows)


def test_a_stopped_run_resumes_to_the_same_weights_and_records_its_release(release, tmp_path, capsys):
    config = tiny_config(tmp_path / "c.toml", steps=8, log_every=2, checkpoint_every=4)
    assert train(release, config, tmp_path / "whole") == 0
    assert train(release, config, tmp_path / "parts", "--steps", "4") == 0
    assert train(release, config, tmp_path / "whole") == 2  # never over an existing run
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--release", str(release), "--out", str(tmp_path / "parts"), "--resume", "--device", "cpu",
                 "--no-progress"]) == 0
    whole, parts = final_weights(tmp_path / "whole"), final_weights(tmp_path / "parts")
    assert all(torch.allclose(whole[name], parts[name], rtol=1e-5, atol=1e-7) for name in whole)
    finished = (tmp_path / "parts" / "checkpoint.pt").read_bytes()
    assert main(["train", "--release", str(release), "--out", str(tmp_path / "parts"), "--resume", "--device", "cpu",
                 "--no-progress"]) == 0  # a finished run resumed again: nothing to do
    assert (tmp_path / "parts" / "checkpoint.pt").read_bytes() == finished
    rows = read_loss_rows(tmp_path / "parts")
    assert [row["step"] for row in rows] == [2, 4, 6, 8]
    assert [row["total"] for row in rows] == pytest.approx([row["total"] for row in read_loss_rows(tmp_path / "whole")],
                                                            rel=1e-5)
    record = json.loads((tmp_path / "parts" / "run.json").read_text())
    assert record["release"]["name"] == "n" and record["release"]["version"] == "1.0.0"
    train_samples = json.loads((release / "release.json").read_text())["counts"]["per_split"]["train"]
    assert record["release"]["train_samples"] == train_samples and record["resumed"][0]["from_step"] == 4
    assert record["finished"]["step"] == 8 and record["total_steps"] == 8
    assert (tmp_path / "parts" / "config.toml").read_text() == config.read_text()
    assert (tmp_path / "parts" / "losses.png").read_bytes().startswith(b"\x89PNG")
    extra = checkpoint.load(tmp_path / "parts" / "checkpoint.pt").extra
    assert extra["step"] == 8 and extra["data"]["batches"] == 8 and set(extra["rng"]) >= {"python", "numpy", "torch"}
    assert extra["provenance"]["flow"]["estimator"] == "dis" and extra["provenance"]["every"] == 2
    other = tiny_config(tmp_path / "other.toml", steps=9)
    assert train(release, other, tmp_path / "parts", "--resume") == 2
    assert "differs from the run's own" in capsys.readouterr().err


def test_a_cosine_schedule_resumes_exactly_and_kept_checkpoints_stay(release, tmp_path):
    config = tiny_config(tmp_path / "c.toml", steps=8, log_every=2, checkpoint_every=4,
                         optim='lr_schedule = "cosine"\nkeep_every = 4')
    assert train(release, config, tmp_path / "whole") == 0
    whole = tmp_path / "whole"
    assert sorted(p.name for p in whole.glob("checkpoint_*.pt")) == ["checkpoint_4.pt", "checkpoint_8.pt"]
    assert (whole / "checkpoint_8.pt").read_bytes() == (whole / "checkpoint.pt").read_bytes()
    lrs = [group["lr"] for group in checkpoint.load(whole / "checkpoint.pt").extra["optimizer"]["param_groups"]]
    assert lrs == [pytest.approx(3e-3 * (1 + math.cos(math.pi * 7 / 8)) / 2)]  # the rate of the last step
    # a run stopped after its step-4 checkpoint, resumed: the same weights as the uninterrupted run
    parts = tmp_path / "parts"
    parts.mkdir()
    for name in ("config.toml", "run.json", "losses.csv"):
        shutil.copyfile(whole / name, parts / name)
    shutil.copyfile(whole / "checkpoint_4.pt", parts / "checkpoint.pt")
    assert main(["train", "--release", str(release), "--out", str(parts), "--resume", "--device", "cpu",
                 "--no-progress"]) == 0
    resumed, uninterrupted = final_weights(parts), final_weights(whole)
    assert all(torch.allclose(uninterrupted[name], resumed[name], rtol=1e-5, atol=1e-7) for name in resumed)


def test_a_run_killed_with_sigkill_resumes_exactly(release, tmp_path):
    config = tiny_config(tmp_path / "c.toml", steps=100_000, log_every=5, checkpoint_every=5)
    args = [sys.executable, "-m", "fgla_model.cli", "train", "--release", str(release), "--config", str(config),
            "--out", str(tmp_path / "killed"), "--device", "cpu", "--no-progress"]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (tmp_path / "killed" / "checkpoint.pt").exists():
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    step = checkpoint.load(tmp_path / "killed" / "checkpoint.pt").extra["step"]
    total = str(step + 10)
    assert main(["train", "--release", str(release), "--out", str(tmp_path / "killed"), "--resume", "--steps", total,
                 "--device", "cpu", "--no-progress"]) == 0
    assert train(release, config, tmp_path / "whole", "--steps", total) == 0
    killed, whole = final_weights(tmp_path / "killed"), final_weights(tmp_path / "whole")
    assert all(torch.allclose(whole[name], killed[name], rtol=1e-5, atol=1e-7) for name in whole)
    steps = [row["step"] for row in read_loss_rows(tmp_path / "killed")]
    assert steps == list(range(5, step + 11, 5))  # rows past the checkpoint were dropped, none repeated
    assert not list((tmp_path / "killed").glob(".tmp-*"))


def test_ddp_on_gloo_keeps_ranks_identical_and_only_rank_0_writes(release, tmp_path):
    config = tiny_config(tmp_path / "c.toml", steps=4, log_every=2, checkpoint_every=2)
    torchrun = Path(sys.executable).parent / "torchrun"
    result = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "fgla_model.cli", "train",
                             "--release", str(release), "--config", str(config), "--out", str(tmp_path / "ddp"),
                             "--device", "cpu", "--no-progress"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "ddp"
    record = json.loads((run / "run.json").read_text())
    digests = record["finished"]["weights_sha256_per_rank"]
    assert record["world_size"] == 2 and len(digests) == 2 and digests[0] == digests[1]
    assert digests[0] == weights_sha256(checkpoint.load(run / "checkpoint.pt").model)
    assert sorted(path.name for path in run.iterdir()) == ["checkpoint.pt", "config.toml", "losses.csv", "losses.png",
                                                          "run.json"]
    assert (run / "losses.csv").read_text().splitlines()[0] == ",".join(CSV_COLUMNS)
    assert [row["step"] for row in read_loss_rows(run)] == [2, 4]  # one row per log step: rank 0 alone


def test_a_few_hundred_steps_overfit_the_tiny_release(release, tmp_path):
    config = tiny_config(tmp_path / "c.toml", steps=600, log_every=50, checkpoint_every=600)
    assert train(release, config, tmp_path / "run") == 0
    model = checkpoint.load(tmp_path / "run" / "checkpoint.pt").model.eval()
    stream = PairStream(train_shards(release), DataConfig(flip_prob=0.0, shuffle_buffer=0, workers=0), 32, 16,
                        seed=99, batch_size=1)
    error = zero = 0.0
    with torch.no_grad():
        for example in itertools.islice(iter(stream), 40):  # several epochs of the train clips, pairs drawn anew
            out = model(example["frame"][None], example["groups"][None], example["encoder_flow"][None],
                        example["encoder_masks"][None])
            error += (normalised_to_pixels(out.flow)[0] - example["flow"]).norm(dim=0).mean().item()
            zero += example["flow"].norm(dim=0).mean().item()
    print(f"overfit: EPE {error / 40:.3f} px against {zero / 40:.3f} for no motion (32x32 grid), ratio {error / zero:.2f}")
    assert error / zero < 0.5  # measured 0.41 (EPE in pixels of the 32x32 grid vs no motion; 8 train clips)
    rows = read_loss_rows(tmp_path / "run")
    assert rows[-1]["total"] < 0.5 * rows[0]["total"]
