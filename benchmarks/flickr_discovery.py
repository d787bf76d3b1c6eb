"""Queries per slice of a flickr discovery over a 10,000-result fake catalogue (local server).

    .venv/bin/python benchmarks/flickr_discovery.py
    .venv/bin/python benchmarks/flickr_discovery.py --videos 10000 --per-page 500,250,100 --burst 0.15

The catalogue (tests/flickr_server.py) holds ``--videos`` videos that all match the search, over
ten years, with upload density growing over time and a ``--burst`` share uploaded within three
days, plus photos that ``media=videos`` must leave out. The real flickrapi talks to the local
server on 127.0.0.1, so wall time is the client's and the emulator's, not Flickr's latency: at the
default politeness of 3,600 queries an hour, a real discovery takes about one second per query.

For each ``per_page``: every slice the search made (split ones reported more than 4,000 results),
then totals: queries made, the lower bound (results / per_page, pages alone), and what counting
each slice first with ``per_page=1`` would have cost instead of letting the first page count.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from flickr_server import FlickrTestServer, make_catalogue  # noqa: E402

from timelapse_d.licenses import DEFAULT_FLICKR_LICENSES  # noqa: E402
from timelapse_d.sources.flickr import FlickrConfig, FlickrSource, SliceJournal  # noqa: E402

KEY, SECRET = "k" * 32, "s" * 16  # dummies: the server is local


def run_once(server: FlickrTestServer, per_page: int, results: int, show_slices: bool) -> dict:
    source = FlickrSource(FlickrConfig(tags=("timelapse", "time-lapse"), min_upload_date="2012-01-01",
                                       max_upload_date="2022-12-31", per_page=per_page,
                                       max_queries_per_hour=10**9, rest_url=server.url))
    [item] = source.plan("")
    server.requests.clear()
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        rows = source.discover(item, work)
        seconds = time.perf_counter() - started
        slices = sorted(SliceJournal(work, item["query"]).slices(), key=lambda s: (s["min_upload"], -s["max_upload"]))
    assert len(rows) == results, f"found {len(rows)} of {results}"
    leaves = [s for s in slices if not s["split"]]
    splits = len(slices) - len(leaves)
    queries = sum(s["queries"] for s in slices)
    assert queries == len(server.requests)
    if show_slices:
        print(f"\nper_page={per_page}")
        print(f"  {'slice (UTC)':45} {'reported':>8} {'kind':>5} {'queries':>7}")
        for s in slices:
            span = f"{s['range_utc'][0][:19]} .. {s['range_utc'][1][:19]}"
            print(f"  {span:45} {s['total']:>8} {'split' if s['split'] else 'leaf':>5} {s['queries']:>7}")
    return {"per_page": per_page, "leaves": len(leaves), "splits": splits, "queries": queries,
            "per_leaf": queries / len(leaves), "bound": math.ceil(results / per_page),
            "count_first": splits + len(leaves) + sum(math.ceil(s["total"] / per_page) for s in leaves),
            "seconds": seconds, "rows": len(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10_000, help="results of the search")
    parser.add_argument("--photos", type=int, default=2_000, help="non-video items in the catalogue")
    parser.add_argument("--per-page", default="500,250,100", help="comma separated")
    parser.add_argument("--burst", type=float, default=0.15, help="share of uploads within three days")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="totals only, no per-slice table")
    args = parser.parse_args()
    os.environ["FLICKR_API_KEY"], os.environ["FLICKR_API_SECRET"] = KEY, SECRET
    catalogue = make_catalogue(args.videos, photos=args.photos, years=10, start="2012-01-01", seed=args.seed,
                               licenses=DEFAULT_FLICKR_LICENSES, burst=args.burst)
    print(f"catalogue: {args.videos} matching videos + {args.photos} photos over 2012-2021, burst {args.burst}")
    with FlickrTestServer(catalogue, KEY, SECRET) as server:
        results = [run_once(server, int(per_page), args.videos, not args.quiet) for per_page in args.per_page.split(",")]
    print(f"\n{'per_page':>8} {'leaves':>6} {'splits':>6} {'queries':>7} {'q/leaf':>6} {'bound':>5} "
          f"{'count-first':>11} {'wall s':>6} {'at 3600/h':>9}")
    for r in results:
        print(f"{r['per_page']:>8} {r['leaves']:>6} {r['splits']:>6} {r['queries']:>7} {r['per_leaf']:>6.2f} "
              f"{r['bound']:>5} {r['count_first']:>11} {r['seconds']:>6.2f} {r['queries']:>7} s")


if __name__ == "__main__":
    main()
