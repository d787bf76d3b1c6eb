"""What a manifest commit, a plan and a status cost as tables grow: 10k, 100k, 1M rows.

    .venv/bin/python benchmarks/manifest_scale.py --rows 10000,100000,1000000
    .venv/bin/python benchmarks/manifest_scale.py --end-to-end 30000,1000000

Per table size, in a fresh process each (so peak memory is that size's alone), a ``sources`` table
of N rows is written as one base file, then timed (median of ``--repeats``):

- commit: ``append_rows`` of 1,000 new rows (what the runner does every few seconds), against
  the floor of the old way, rewriting the whole table (``write_rows`` of N + 1,000 rows, Arrow in);
- read: ``read_table`` with those parts pending;
- plan: the set difference of a stage's pending items (``pending_items`` on N + 1,000 inputs);
- compact: folding the parts into a new base (once per stage run).

``--end-to-end`` runs ``timelapse-d discover urls`` on lists of that many links (each link its own
query, one 1,000-link commit at a time), then the same command again (nothing left to do), then
``timelapse-d status``, each as its own process: seconds, seconds per 1,000 links, and peak RSS.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from timelapse_d import manifest_store
from timelapse_d.manifest import append_rows, compact, read_table, table_path, table_spec
from timelapse_d.manifest_store import Replaces


def sources_table(start: int, count: int) -> pa.Table:
    ids = [f"urls-{index:010d}" for index in range(start, start + count)]
    columns = {"source_id": ids, "status": ["ok"] * count, "error": [""] * count,
               "source_kind": ["urls"] * count, "url": [f"https://example.org/v/{i}.mp4" for i in ids],
               "query": [f"urls:https://example.org/v/{i}.mp4" for i in ids]}
    schema = table_spec("sources").schema
    return pa.table({field.name: pa.array(columns.get(field.name, [None] * count), field.type) for field in schema},
                    schema=schema)


def timed(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def one_size(rows: int, repeats: int) -> dict:
    """The timings for one table size (run in its own process)."""
    from timelapse_d.pipeline import pending_items
    from timelapse_d.stages.discover import DiscoverStage

    with tempfile.TemporaryDirectory() as work:
        base = table_path(work, "sources")
        base.parent.mkdir(parents=True)
        manifest_store.write(base, sources_table(0, rows))
        new = sources_table(rows, 1000).to_pylist()
        replaces = Replaces("query", tuple(row["query"] for row in new))

        def commit():
            append_rows(work, "sources", new, replaces)

        result = {"rows": rows, "commit_s": timed(commit, repeats)}
        whole = pa.concat_tables([sources_table(0, rows), sources_table(rows, 1000)])
        result["rewrite_s"] = timed(lambda: manifest_store.write(base.with_name("whole.parquet"), whole), repeats)
        result["read_s"] = timed(lambda: read_table(work, "sources"), repeats)
        stage = DiscoverStage.from_params({"source": "urls", "path": "unused.txt"})
        plan = [{"query": row["query"]} for row in whole.select(["query"]).to_pylist()]
        stage.plan = lambda _work: plan
        result["plan_s"] = timed(lambda: pending_items(stage, work), repeats)
        result["compact_s"] = timed(lambda: compact(work, "sources"), 1)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def end_to_end(links: int, directory: Path) -> list[dict]:
    """discover urls, its no-op rerun, and status, on ``links`` links: seconds and peak RSS each."""
    listing = directory / f"links-{links}.txt"
    listing.write_text("".join(f"https://example.org/v/{index:010d}.mp4\n" for index in range(links)))
    work = directory / f"work-{links}"
    cli = [sys.executable, "-m", "timelapse_d.cli"]
    commands = {"discover": [*cli, "discover", "urls", "--work", str(work), "--path", str(listing), "--no-progress"],
                "rerun": [*cli, "discover", "urls", "--work", str(work), "--path", str(listing), "--no-progress"],
                "status": [*cli, "status", "--work", str(work)]}
    results = []
    for name, command in commands.items():
        probe = [sys.executable, "-c", "import resource, subprocess, sys, time; t = time.perf_counter(); "
                 "code = subprocess.run(sys.argv[1:], capture_output=True).returncode; "
                 "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)",
                 *command]
        seconds, rss_kb, code = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.split()
        results.append({"links": links, "step": name, "seconds": float(seconds), "peak_rss_mb": int(rss_kb) / 1024,
                        "exit": int(code)})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10000,100000,1000000", help="table sizes, comma separated")
    parser.add_argument("--end-to-end", default="", help="link counts for discover urls, comma separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process: one size, JSON out
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.repeats)))
        return
    if args.rows:
        print(f"{'rows':>9} {'commit 1k s':>12} {'rewrite s':>10} {'read s':>8} {'plan s':>8} {'compact s':>10} "
              f"{'peak MB':>8}")
        for rows in (int(value) for value in args.rows.split(",")):
            out = subprocess.run([sys.executable, __file__, "--one", str(rows), "--repeats", str(args.repeats)],
                                 capture_output=True, text=True, check=True).stdout
            r = json.loads(out)
            print(f"{r['rows']:>9} {r['commit_s']:12.3f} {r['rewrite_s']:10.3f} {r['read_s']:8.3f} "
                  f"{r['plan_s']:8.3f} {r['compact_s']:10.3f} {r['peak_rss_mb']:8.0f}")
    if args.end_to_end:
        with tempfile.TemporaryDirectory() as directory:
            print(f"{'links':>9} {'step':>9} {'s':>8} {'s per 1k':>9} {'peak MB':>8} {'exit':>5}")
            for links in (int(value) for value in args.end_to_end.split(",")):
                for r in end_to_end(links, Path(directory)):
                    print(f"{r['links']:>9} {r['step']:>9} {r['seconds']:8.2f} {1000 * r['seconds'] / links:9.3f} "
                          f"{r['peak_rss_mb']:8.0f} {r['exit']:>5}")


if __name__ == "__main__":
    main()
