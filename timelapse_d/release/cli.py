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


def _report_transfer(where: str, problems: list[str], verb: str) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{where}: NOT {verb}: {len(problems)} file(s) could not be copied; run it again to retry them",
              file=sys.stderr)
        return EXIT_FAILED
    print(where)
    return EXIT_OK


def cmd_publish(args: argparse.Namespace) -> int:
    from .transfer import publish_release

    where, problems = publish_release(args.path, args.to, args.shards, args.workers, not args.no_progress)
    return _report_transfer(where, problems, "published")


def cmd_pull(args: argparse.Namespace) -> int:
    from .transfer import pull_release

    where, problems = pull_release(args.url, args.to, args.workers, not args.no_progress)
    return _report_transfer(where, problems, "pulled")


def cmd_repair(args: argparse.Namespace) -> int:
    from timelapse_d.executors import EXECUTORS

    from .repair import report_lines, repair_release

    report = repair_release(args.path, args.work, EXECUTORS.get("local")(workers=args.workers), args.shards,
                            not args.no_progress)
    for line in report_lines(report):
        print(line)
    return EXIT_OK if len(report["repaired"]) == len(report["damaged"]) else EXIT_FAILED


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
    """Register ``release create|export|remove|publish|pull|verify|repair`` and ``rebuild`` on the
    top-level subparsers."""
    release = commands.add_parser("release", help="versioned releases: create, export, remove, publish, pull, "
                                                  "verify, repair")
    verbs = release.add_subparsers(dest="release_command", required=True)
    _add_making(verbs)
    _add_travelling(verbs)
    _add_checking(verbs)
    _add_rebuild(commands)


def _add_making(verbs) -> None:
    """create, export, remove: the verbs that make a new version."""
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



def _add_travelling(verbs) -> None:
    """publish, pull: a release copied to or from another place."""
    publish = verbs.add_parser("publish", help="copy a release, shards included, to a directory or URL",
                               description="Write DEST/NAME/VERSION/: release.json, card, attribution, pipeline, "
                                           "manifests and shards/, each file checked against release.json and "
                                           "renamed into place; release.json last. A published version is never "
                                           "overwritten; rerun after a failure, it copies only what is missing.")
    publish.add_argument("path", help="release directory, e.g. manifests/demo/1.0.0")
    publish.add_argument("--to", required=True, metavar="DEST",
                         help="a directory or fsspec URL (file://, s3://, ... with its backend installed)")
    publish.add_argument("--shards", metavar="DIR", help="where the shards are (default: shards_location)")
    publish.add_argument("--workers", type=int, default=4, help="files copied at once (default 4)")
    publish.add_argument("--no-progress", action="store_true", help="no progress bars")
    publish.set_defaults(handler=cmd_publish)

    pull = verbs.add_parser("pull", help="mirror a published release from a URL, every file checked",
                            description="Fetch release.json, card, manifests and shards into DIR/NAME/VERSION/; "
                                        "each shard checked against release.json's sha256, a bad copy retried and "
                                        "never kept. Rerun, it fetches only what is missing or wrong. Exit 1 "
                                        "naming what could not be fetched.")
    pull.add_argument("url", help="the published release: http(s)://HOST/.../NAME/VERSION or an fsspec URL")
    pull.add_argument("--to", required=True, metavar="DIR", help="releases directory, e.g. manifests")
    pull.add_argument("--workers", type=int, default=4, help="files fetched at once (default 4)")
    pull.add_argument("--no-progress", action="store_true", help="no progress bars")
    pull.set_defaults(handler=cmd_pull)



def _add_checking(verbs) -> None:
    """verify, repair: is a release whole, and mend it."""
    verify = verbs.add_parser("verify", help="re-hash every shard and manifest of a release (exit 1 if any differs)")
    verify.add_argument("path", help="release directory (e.g. manifests/demo/1.0.0) or a published release's URL")
    verify.add_argument("--shards", metavar="DIR", help="where the shards are (default: shards_location)")
    verify.add_argument("--no-progress", action="store_true", help="no progress bars")
    verify.set_defaults(handler=cmd_verify)

    repair = verbs.add_parser("repair", help="make a release's missing or altered shards again, byte for byte",
                              description="Rebuild only the samples of the shards verify reports missing or "
                                          "altered, pack them again and swap each in atomically when its sha256 "
                                          "matches release.json; otherwise keep the old file and write the rebuilt "
                                          "one beside it (<shard>.rebuilt.tar). Exit 1 unless every damaged shard "
                                          "was repaired.")
    repair.add_argument("path", help="release directory")
    repair.add_argument("--work", required=True, help="a new work directory for the rebuilt samples")
    repair.add_argument("--shards", metavar="DIR", help="where the shards are (default: shards_location)")
    repair.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    repair.add_argument("--no-progress", action="store_true", help="no progress bars")
    repair.set_defaults(handler=cmd_repair)



def _add_rebuild(commands) -> None:
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
