"""The ``label`` and ``clips`` verbs of the command line (registered by ``timelapse_d.cli``).

Exit codes: 0 ok; 1 items failed, or Label Studio unreachable / answering with an error (the
message names its URL; nothing is written then); 2 bad usage.
"""
from __future__ import annotations

import argparse
import sys

from timelapse_d.errors import UsageError

EXIT_OK, EXIT_FAILED = 0, 1


def _fail(error: Exception) -> int:
    print(f"timelapse-d: error: {error}", file=sys.stderr)
    return EXIT_FAILED


def _labelling_errors(handler):
    """Label Studio's errors (unreachable included) are exit 1 with the message naming the URL."""
    def wrapped(args: argparse.Namespace) -> int:
        from timelapse_d.labelling.client import LabelStudioError

        try:
            return handler(args)
        except LabelStudioError as error:
            return _fail(error)
    return wrapped


def cmd_serve(args: argparse.Namespace) -> int:
    from timelapse_d.labelling import server

    if args.stop:
        stopped = server.stop_server(args.work)
        print("Label Studio stopped" if stopped else f"no Label Studio server recorded under {args.work}",
              file=sys.stderr)
        return EXIT_OK
    info = server.start_server(args.work, port=args.port, timeout=args.timeout)
    state = "already running" if info["already_running"] else "started"
    print(info["url"])
    print(f"Label Studio {server.LABEL_STUDIO_VERSION} {state} at {info['url']} (pid {info['pid']}); "
          f"log in as {server.ADMIN_EMAIL} with the password that "
          f"`timelapse-d label serve --work {args.work} --show-password` prints (kept with the API token in "
          f"{server.credentials_path(args.work)}, mode 0600); the port stays the same across restarts; "
          f"stop it with `timelapse-d label serve --work {args.work} --stop`", file=sys.stderr)
    if args.show_password:
        print(f"password: {server.read_credentials(args.work)['password']}", file=sys.stderr)
    return EXIT_OK


def _client(args: argparse.Namespace):
    from timelapse_d.labelling.server import client_for

    return client_for(args.work, args.url, timeout=args.timeout)


def cmd_push(args: argparse.Namespace) -> int:
    from timelapse_d.labelling.push import push
    from timelapse_d.pipeline import open_work

    if args.batch_size < 1 or args.annotators_per_clip < 1:
        raise UsageError("--batch-size and --annotators-per-clip must be >= 1")
    client = _client(args)
    with open_work(args.work) as work:
        report = push(work, client, args.project, args.batch_size, args.annotators_per_clip)
    print(f"label push: project {report.project_id} at {client.url}: {report.imported} task(s) imported, "
          f"{report.existing} already there, {len(report.failed)} clip(s) failed", file=sys.stderr)
    if not report.videos_served:
        print(f"  warning: Label Studio at {client.url} does not serve {args.work}/clips/ (not the server of "
              "this work directory?): annotators will not see the videos", file=sys.stderr)
    for failure in report.failed:
        print(f"  {failure['clip_id']}: {failure['error']}", file=sys.stderr)
    return EXIT_FAILED if report.failed else EXIT_OK


def cmd_pull(args: argparse.Namespace) -> int:
    from timelapse_d.labelling.pull import pulled_rows, write_agreement
    from timelapse_d.manifest import write_rows
    from timelapse_d.pipeline import open_work

    client = _client(args)
    with open_work(args.work) as work:
        rows, stats = pulled_rows(work, client, args.project)  # everything read before anything is written
        write_rows(work, "labels", rows)
        write_agreement(work, stats)
    human = [row for row in rows if row["label_source"] == "human"]
    review = sum(bool(row["needs_review"]) for row in rows if row["annotator"] == "consensus")
    failed = [row for row in human if row["status"] == "failed"]
    print(f"label pull: {len(human)} annotation(s) of {stats['clips_annotated']} clip(s) from {client.url}; "
          f"{review} consensus row(s) need review; {len(failed)} annotation(s) failed", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_auto(args: argparse.Namespace) -> int:
    """The ``auto-label`` stage, run on its own (also ``timelapse-d auto-label``)."""
    from timelapse_d.executors.local import LocalExecutor
    from timelapse_d.pipeline import open_work, run_stage
    from timelapse_d.stages.auto_label import AutoLabelConfig, AutoLabelStage

    with open_work(args.work) as work, LocalExecutor() as executor:
        report = run_stage(AutoLabelStage(AutoLabelConfig()), str(work), executor, progress=False)
    print(f"label auto: {report.table_counts['ok']} clip(s) labelled from their scores "
          f"({sum(report.processed.values())} new)", file=sys.stderr)
    return EXIT_FAILED if report.failed_in_table else EXIT_OK


def cmd_clips_export(args: argparse.Namespace) -> int:
    from timelapse_d.clip_export import export_clips
    from timelapse_d.pipeline import open_work

    with open_work(args.work) as work:
        try:
            results = export_clips(work, args.clip, overwrite=args.overwrite)
        except ValueError as error:
            raise UsageError(str(error)) from None
    counts = {status: sum(r["status"] == status for r in results) for status in ("ok", "skipped", "failed")}
    print(f"clips export: {counts['ok']} written, {counts['skipped']} already there, {counts['failed']} failed "
          f"(into {args.work}/clips/)", file=sys.stderr)
    for result in results:
        if result["status"] == "failed":
            print(f"  {result['clip_id']}: {result['error']}", file=sys.stderr)
    return EXIT_FAILED if counts["failed"] else EXIT_OK


def _server_options(parser: argparse.ArgumentParser) -> None:
    from timelapse_d.labelling.project import DEFAULT_TITLE

    parser.add_argument("--work", required=True, help="work directory")
    parser.add_argument("--url", help="Label Studio's URL (default: the server `label serve` started for WORK)")
    parser.add_argument("--project", default=DEFAULT_TITLE, help=f"project title (default {DEFAULT_TITLE!r})")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")


def add_label_commands(commands) -> None:
    """Register ``label serve|push|pull|auto`` on the top-level subparsers."""
    label = commands.add_parser("label", help="label clips: Label Studio server, push, pull, auto",
                                description="Label clips with a local Label Studio server (docs/labelling.md).")
    verbs = label.add_subparsers(dest="label_command", required=True)

    serve = verbs.add_parser("serve", help="start (or --stop) a local Label Studio server for WORK",
                             description="Start Label Studio on 127.0.0.1 with its data under WORK/label-studio/ "
                                         "(installs it into its own virtual environment on first use).")
    serve.add_argument("--work", required=True, help="work directory")
    serve.add_argument("--stop", action="store_true", help="stop the server started for WORK")
    serve.add_argument("--port", type=int, help="port on 127.0.0.1, remembered for the next start (default: the one used before, else a free one)")
    serve.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for it to answer (default 180)")
    serve.add_argument("--show-password", action="store_true", help="also print the admin password")
    serve.set_defaults(handler=_labelling_errors(cmd_serve))

    push = verbs.add_parser("push", help="one task per clip without one, pre-annotated from the scores")
    _server_options(push)
    push.add_argument("--batch-size", type=int, default=50, help="tasks per import request (default 50)")
    push.add_argument("--annotators-per-clip", type=int, default=1,
                      help="annotations wanted per task, for a new project (default 1)")
    push.set_defaults(handler=_labelling_errors(cmd_push))

    pull = verbs.add_parser("pull", help="annotations into the labels table, consensus and agreement")
    _server_options(pull)
    pull.set_defaults(handler=_labelling_errors(cmd_pull))

    auto = verbs.add_parser("auto", help="accept the automatic verdicts as labels (label_source auto)")
    auto.add_argument("--work", required=True, help="work directory")
    auto.set_defaults(handler=cmd_auto)


def add_clips_commands(commands) -> None:
    """Register ``clips export`` on the top-level subparsers."""
    clips = commands.add_parser("clips", help="clip files: export browser-playable mp4s")
    verbs = clips.add_subparsers(dest="clips_command", required=True)
    export = verbs.add_parser("export", help="one H.264 mp4 per clip into WORK/clips/",
                              description="Cut each ok clip's frame range into WORK/clips/<clip_id>.mp4 "
                                          "(H.264, yuv420p); existing files are kept.")
    export.add_argument("--work", required=True, help="work directory")
    export.add_argument("--clip", action="append", metavar="CLIP_ID", help="only this clip (repeatable)")
    export.add_argument("--overwrite", action="store_true", help="write files that already exist again")
    export.set_defaults(handler=cmd_clips_export)
