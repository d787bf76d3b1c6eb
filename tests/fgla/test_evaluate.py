"""fgla evaluate: the paper's protocol on a tiny release, metric networks with random weights."""
import json
import shutil

import pytest
import torch

from fgla_model import checkpoint
from fgla_model.cli import main as fgla
from fgla_model.evaluate import MetricWeights, evaluate, table_markdown
from fgla_model.metrics import LPIPS, FIDInceptionV3
from fgla_model.model import FGLA, FGLAConfig
from timelapse_d.cli import main as timelapse_d

from tests.fgla_metrics import randomly_initialised

TINY = dict(image_size=96, encoder_size=48, encoder_base_channels=4, encoder_depth=2,
            generator_base_channels=4, generator_depth=2)


@pytest.fixture(scope="module")
def setting(precomputed_run, tmp_path_factory):
    base = tmp_path_factory.mktemp("evaluate")
    work = base / "work"
    shutil.copytree(precomputed_run, work, symlinks=True)
    assert timelapse_d(["release", "create", "--work", str(work), "--name", "tiny", "--version", "1.0.0",
                        "--root", str(base / "releases")]) == 0
    paths = []
    for seed, c in ((0, 32.0), (1, 4.0)):
        torch.manual_seed(seed)
        config = FGLAConfig(**{**TINY, "c": c})
        paths.append(base / f"model{seed}" / "checkpoint.pt")
        paths[-1].parent.mkdir()
        checkpoint.save(paths[-1], FGLA(config), config)
    lpips = randomly_initialised(LPIPS())
    with torch.no_grad():  # real LPIPS linear weights are non-negative, so distances are too
        for parameter in lpips.heads.parameters():
            parameter.abs_()
    torch.save(lpips.backbone.state_dict(), base / "alexnet.pth")
    torch.save(lpips.heads.state_dict(), base / "alex.pth")
    torch.save(randomly_initialised(FIDInceptionV3()).state_dict(), base / "inception.pth")
    weights = MetricWeights(str(base / "alexnet.pth"), str(base / "alex.pth"), str(base / "inception.pth"),
                            str(base / "absent-i3d.pt"))
    return {"release": base / "releases" / "tiny" / "1.0.0", "checkpoints": paths, "weights": weights, "base": base}


def test_checkpoints_side_by_side_with_missing_scores_named(setting):
    report = evaluate(setting["checkpoints"], setting["release"], frames=6, samples=2, weights=setting["weights"],
                      device="cpu", progress=False)
    rows = report["rows"]
    assert list(rows) == ["model0", "model1"]
    for row in rows.values():
        assert row["clips"] >= 1 and row["runs"] == 2 * row["clips"]
        assert 10 < row["masked_psnr"] < 100 and 0 < row["masked_ssim"] <= 1
        assert row["lpips"] >= 0 and row["fid"] is not None and row["fid"] >= 0
        assert row["fvd"] is None
    assert "absent-i3d.pt" in report["missing"]["fvd"]
    table = table_markdown(report)
    assert "| model0 |" in table and "missing" in table and "FVD" in table
    # the model moving 8x faster (c = 4) drifts further from the clip's frames than the same-size one
    assert rows["model1"]["masked_psnr"] != rows["model0"]["masked_psnr"]


def test_the_same_seed_gives_the_same_scores_and_no_weights_means_missing_not_zero(setting):
    first = evaluate(setting["checkpoints"][:1], setting["release"], frames=3, samples=1, device="cpu",
                     progress=False)
    second = evaluate(setting["checkpoints"][:1], setting["release"], frames=3, samples=1, device="cpu",
                      progress=False)
    assert first["rows"] == second["rows"]
    row = first["rows"]["model0"]
    assert row["lpips"] is None and row["fid"] is None and row["fvd"] is None
    assert set(first["missing"]) == {"lpips", "fid", "fvd"}


def test_the_command_writes_markdown_and_json(setting):
    out = setting["base"] / "table"
    assert fgla(["evaluate", "--checkpoint", str(setting["checkpoints"][0]), "--release", str(setting["release"]),
                 "--frames", "3", "--samples", "1", "--out", str(out), "--device", "cpu", "--no-progress"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["rows"]["model0"]["masked_psnr"] > 0
    assert "| model0 |" in out.with_suffix(".md").read_text()


def test_the_report_page_shows_each_showcased_clip_and_names_missing_scores(setting, precomputed_run, tmp_path):
    import math

    import cv2
    import numpy as np

    from fgla_model.report import bar_chart_svg, write_report
    from fgla_model.showcase import showcase_clip
    from timelapse_d.resize import fit_groups
    from timelapse_d.segmentation import GROUPS
    from timelapse_d.shards import ClipSample, read_samples

    assert bar_chart_svg({"cloud": 3, "water": 1}, "per category").count("<rect") == 2
    run = tmp_path / "run"
    run.mkdir()
    cv2.imwrite(str(run / "losses.png"), np.zeros((4, 4, 3), np.uint8))
    model = checkpoint.load(setting["checkpoints"][0]).model.eval()
    shard = sorted((precomputed_run / "shards").glob("*.tar"))[0]
    clip = ClipSample(next(read_samples(shard)))
    shown = showcase_clip(model, clip, tmp_path, 0, frames=6)
    assert shown["real_frames"] == min(7, len(clip))
    S = model.config.image_size
    has_static_ground = (fit_groups(clip.groups(0), (S, S)) == GROUPS.index("others")).any()
    assert math.isnan(shown["drift"]["accumulated"]) != has_static_ground  # NaN exactly when there is none
    gif = cv2.VideoCapture(str(shown["gif"]))
    gif_frames = [frame for ok, frame in iter(gif.read, (False, None))]
    assert len(gif_frames) == 7 and gif_frames[0].shape[:2] == (S, 3 * S)  # real | generated | flow, input + 6
    for key in ("flow_png", "static_png"):
        assert cv2.imread(str(shown[key])).shape[:2] == (S, 3 * S)
    evaluation = evaluate(setting["checkpoints"][:1], setting["release"], frames=3, samples=1, device="cpu",
                          progress=False)
    page = write_report(tmp_path / "report.html", precomputed_run, setting["release"], run, [shown], evaluation)
    text = page.read_text()
    for heading in ("Pipeline", "Dataset", "Training", "Test clips animated", "Metrics"):
        assert f"<h2>{heading}</h2>" in text
    assert "src='run/losses.png'" in text and "src='clip_0.gif'" in text and "src='clip_0_static.png'" in text
    assert f"<h3>{clip.key}</h3>" in text and "static ground: largest step" in text
    assert "fid: missing, no weights given" in text and "<svg" in text
