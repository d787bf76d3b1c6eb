"""The ``release`` verbs and ``rebuild`` of the ``timelapse-d`` command line."""
from __future__ import annotations

import argparse
import sys

from .store import DEFAULT_ROOT

EXIT_OK, EXIT_FAILED = 0, 1


def cmd_create(args: argparse.Namespace) -> int:
    from timelapse_d.pipeline import open_work

    from .create import create_release

    with open_work(args.work) as work:
        path = create_release(work, args.name, args.version, args.shards, args.root)
    print(path)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from .derive import export_release

    print(export_release(args.from_ref, args.name, args.version, args.category, args.license, args.min_height,
                         args.split, args.shards, args.root, args.shard_bytes, not args.no_progress))
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    from .derive import remove_source

    print(remove_source(args.from_ref, args.source_id, args.reason, args.shards, args.root, args.shard_bytes,
                        not args.no_progress))
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from .verify import verify_release

    problems = verify_release(args.path, args.shards, not args.no_progress)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{args.path}: {'NOT whole: ' + str(len(problems)) + ' problem(s)' if problems else 'every shard and manifest verified'}")
    return EXIT_FAILED if problems else EXIT_OK


def cmd_rebuild(args: argparse.Namespace) -> int:
    from timelapse_d.executors import EXECUTORS

    from .rebuild import rebuild, report_lines

    report = rebuild(args.path, args.work, EXECUTORS.get("local")(workers=args.workers), args.shards,
                     args.flow_tolerance, not args.no_progress)
    for line in report_lines(report):
        print(line)
    return EXIT_OK if report["identical"] else EXIT_FAILED


def _common(parser: argparse.ArgumentParser, shards_help: str) -> None:
    parser.add_argument("--shards", metavar="DIR", help=shards_help)
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help="where releases live (default: manifests)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_release_commands(commands) -> None:
    """Register ``release create|export|verify|remove`` and ``rebuild`` on the top-level subparsers."""
    release = commands.add_parser("release", help="versioned releases: create, export, verify, remove")
    verbs = release.add_subparsers(dest="release_command", required=True)

    create = verbs.add_parser("create", help="a release of a work directory's samples",
                              description="Write manifests/NAME/VERSION/: manifests, release.json, dataset card, "
                                          "attribution. An existing version is never overwritten.")
    create.add_argument("--work", required=True, help="the work directory whose samples it releases")
    create.add_argument("--name", required=True, help="the dataset's name, e.g. timelapse-d")
    create.add_argument("--version", required=True, help="X.Y.Z")
    _common(create, "publish the shards into this directory (default: leave them in WORK/shards)")
    create.set_defaults(handler=cmd_create)

    export = verbs.add_parser("export", help="a curated child release with its own shards",
                              description="The samples of NAME@VERSION passing every filter given, in new shards.")
    export.add_argument("--from", dest="from_ref", required=True, metavar="NAME@VERSION", help="the parent release")
    export.add_argument("--name", required=True, help="the child release's name")
    export.add_argument("--version", required=True, help="its version, X.Y.Z")
    export.add_argument("--category", action="append", help="keep this category (repeatable)")
    export.add_argument("--license", action="append", help="keep this license id (repeatable)")
    export.add_argument("--min-height", type=int, help="keep sources at least this many pixels high")
    export.add_argument("--split", action="append", choices=("train", "test"), help="keep this split")
    export.add_argument("--shard-bytes", type=int, default=1_000_000_000,
                        help="a new shard is closed once it holds about this much (default 1000000000)")
    _common(export, "where the parent's shards are and the new ones go (default: the parent's shards_location)")
    export.set_defaults(handler=cmd_export)

    remove = verbs.add_parser("remove", help="takedown: the next patch version without one source",
                              description="A new patch version without the source's samples; the card notes it.")
    remove.add_argument("--from", dest="from_ref", required=True, metavar="NAME@VERSION", help="the release to amend")
    remove.add_argument("--source-id", required=True, help="the source whose samples go")
    remove.add_argument("--reason", default="", help="why, for the dataset card (default: none given)")
    remove.add_argument("--shard-bytes", type=int, default=1_000_000_000,
                        help="a rewritten shard is closed once it holds about this much (default 1000000000)")
    _common(remove, "where the parent's shards are and rewritten ones go (default: its shards_location)")
    remove.set_defaults(handler=cmd_remove)

    verify = verbs.add_parser("verify", help="re-hash every shard and manifest of a release (exit 1 if any differs)")
    verify.add_argument("path", help="release directory, e.g. manifests/demo/1.0.0")
    verify.add_argument("--shards", metavar="DIR", help="where the shards are (default: shards_location)")
    verify.add_argument("--no-progress", action="store_true", help="no progress bars")
    verify.set_defaults(handler=cmd_verify)

    rebuild = commands.add_parser("rebuild", help="re-run a release's pipeline from its manifests and compare",
                                  description="Download, cut the recorded frame ranges, precompute, and compare "
                                              "with the published shards (exit 1 if anything differs).")
    rebuild.add_argument("path", help="release directory")
    rebuild.add_argument("--work", required=True, help="a new work directory")
    rebuild.add_argument("--shards", metavar="DIR", help="where the published shards are (default: shards_location)")
    rebuild.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    rebuild.add_argument("--flow-tolerance", type=float, default=0.05, metavar="PX",
                         help="largest mean flow difference per frame pair, pixels (default 0.05)")
    rebuild.add_argument("--no-progress", action="store_true", help="no progress bars")
    rebuild.set_defaults(handler=cmd_rebuild)
