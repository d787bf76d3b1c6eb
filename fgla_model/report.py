"""``report.html``: one page with what the demo made: dataset statistics with plots, the training
loss curves, the animated test clips (``fgla_model.showcase``: real beside generated, flow, static
ground, per-semantic control) and the metrics table. Images are files next to the page (relative
links, shown at twice their size); plots are inline SVG, so no plotting library is needed.
"""
from __future__ import annotations

import html
import json
import math
import os
from collections import Counter
from pathlib import Path

from timelapse_d.atomic import write_bytes_atomic
from timelapse_d.manifest import TABLES, read_rows

from .evaluate import COLUMNS, HEADERS


def bar_chart_svg(counts: dict[str, float], title: str, width: int = 420, bar: int = 18) -> str:
    """A horizontal bar chart of label -> value as an inline SVG."""
    top = max(counts.values(), default=0) or 1
    height = 28 + bar * len(counts) + 6
    rows = []
    for i, (label, value) in enumerate(counts.items()):
        y = 24 + i * bar
        length = (width - 170) * value / top
        rows.append(f'<text x="100" y="{y + 13}" text-anchor="end" font-size="12">{html.escape(str(label))}</text>'
                    f'<rect x="106" y="{y + 2}" width="{length:.1f}" height="{bar - 5}" fill="#4a7fb0"/>'
                    f'<text x="{110 + length:.1f}" y="{y + 13}" font-size="12">{value:g}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
            f'<text x="4" y="15" font-size="13" font-weight="bold">{html.escape(title)}</text>{"".join(rows)}</svg>')


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _link(path: Path, page: Path) -> str:
    return html.escape(os.path.relpath(path, page.parent))


def _img(path: Path, page: Path, alt: str, zoom: int = 2) -> str:
    from PIL import Image

    with Image.open(path) as image:
        width = image.width * zoom
    return f"<img src='{_link(path, page)}' alt='{html.escape(alt)}' width='{width}'>"


def clip_card(clip: dict, page: Path) -> str:
    """One showcased test clip (``showcase.showcase_clip``'s figures) as HTML."""
    drift, control = clip["drift"], clip["control"]
    psnr = "-" if clip["masked_psnr"] is None else f"{clip['masked_psnr']:.2f} dB"

    def static(value: float, digits: int = 3) -> str:
        return "no static ground" if math.isnan(value) else f"{value:.{digits}f}"
    figures = _table(["", ""], [
        ["static ground: largest step (px)", static(drift["per_step_max"])],
        [f"static ground: moved after {clip['frames']} frames (px)", static(drift["accumulated"])],
        ["static ground: mean |last - first| (8-bit levels)", static(clip["static_levels"], 2)],
        [f"masked PSNR over the clip's {clip['real_frames'] - 1} real frames", psnr]])
    parts = [f"<h3>{html.escape(clip['key'])}</h3>",
             "<p>Real clip | generated with the clip's own motion as reference | generated motion "
             "(a grey bar: the real clip has ended).</p>" + _img(clip["gif"], page, "real and generated"),
             "<p>First frame | stored flow of its first pair | first generated step (content motion, one scale).</p>"
             + _img(clip["flow_png"], page, "flow"),
             "<p>First generated frame | last | |last - first| x 10 on the static ground (others grey).</p>"
             + _img(clip["static_png"], page, "static ground") + figures]
    if control:
        direction = "down" if control["partner"] == "waterfall" else "left"
        parts.append(f"<p>Per-semantic control: sky from a reference moving right, {html.escape(control['partner'])} "
                     f"from one moving {direction}, nothing else. Direction cosine: sky {control['sky_cos']:+.2f}, "
                     f"{html.escape(control['partner'])} {control['partner_cos']:+.2f}; pixels without a latent "
                     f"moved {control['others_px']:.3f} px.</p>" + _img(control["gif"], page, "control"))
    return "<div class='clip'>" + "".join(parts) + "</div>"


def write_report(page: Path, work: Path, release: Path, run: Path, clips: list[dict], evaluation: dict) -> Path:
    record = json.loads((release / "release.json").read_text())
    counts = record["counts"]
    tables = [[name, *(sum(row["status"] == s for row in read_rows(work, name)) for s in ("ok", "failed", "dropped"))]
              for name in TABLES]
    lengths = Counter(len(row["frame_indices"]) for row in read_rows(release, "samples"))
    drops = Counter(row["error"].split(" (")[0] for row in read_rows(work, "samples") if row["status"] == "dropped")
    run_record = json.loads((run / "run.json").read_text()) if (run / "run.json").exists() else {}
    metric_rows = [[name, *("missing" if row[c] is None else f"{row[c]:.4g}" for c in COLUMNS)]
                   for name, row in evaluation["rows"].items()]
    sections = [
        f"<h1>Time-lapse-D + FGLA demo</h1><p>Work directory <code>{html.escape(str(work))}</code>; release "
        f"<b>{html.escape(record['name'])}@{html.escape(record['version'])}</b> "
        f"(<a href='{_link(release / 'README.md', page)}'>dataset card</a>).</p>",
        "<h2>Pipeline</h2>" + _table(["manifest table", "ok", "failed", "dropped"], tables),
        "<h2>Dataset</h2>" + _table(["", "count"], [["samples (clips)", counts["samples"]],
                                                     ["kept frames", counts["frames"]],
                                                     ["frame pairs", counts["frame_pairs"]],
                                                     ["source videos", counts["videos"]],
                                                     ["shards", len(record["shards"])]]),
        "<div class='plots'>" + bar_chart_svg(counts["per_split"], "samples per split")
        + bar_chart_svg(counts["per_category"], "samples per category")
        + bar_chart_svg(counts["per_license"], "samples per license")
        + bar_chart_svg({f"{n} frames": v for n, v in sorted(lengths.items())}, "kept frames per clip")
        + bar_chart_svg(dict(drops.most_common()), "clips left out, by reason") + "</div>",
        "<h2>Training</h2>"
        + (f"<p>{run_record.get('finished', {}).get('step', '?')} steps; config "
           f"<code>{_link(run / 'config.toml', page)}</code>.</p>" if run_record else "")
        + f"<img src='{_link(run / 'losses.png', page)}' alt='loss curves'>",
        f"<h2>Test clips animated</h2><p>Each test clip's first frame animated for {evaluation['frames']} frames, "
        "step t driven by the "
        "latents of the clip's own pair t (Algorithm 1, the clip as its reference video).</p>"
        + "".join(clip_card(clip, page) for clip in clips),
        "<h2>Metrics</h2><p>" + html.escape(f"{evaluation['split']} split, {evaluation['frames']} frames, "
                                              f"{evaluation['samples']} runs per clip with latents from the "
                                              f"training codebook") + "</p>"
        + _table(["model", *(HEADERS[c] for c in COLUMNS)], metric_rows)
        + "".join(f"<p>{html.escape(c)}: missing, {html.escape(r)}</p>" for c, r in evaluation["missing"].items()),
    ]
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}table{border-collapse:collapse;"
             "margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{margin:4px;"
             "image-rendering:pixelated}.plots svg{margin:6px;vertical-align:top}"
             ".clip{border-top:1px solid #ccc;margin-top:1em}")
    write_bytes_atomic(page, f"<!doctype html><html><head><meta charset='utf-8'><title>Time-lapse-D + FGLA demo</title>"
                    f"<style>{style}</style></head><body>{''.join(sections)}</body></html>\n".encode())
    return page
