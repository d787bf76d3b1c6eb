"""The ``timelapse-d`` command line.

Exit codes: 0 everything ok; 1 some items failed (each is recorded in its manifest with the
reason); 2 bad usage or unusable input (a pipeline file, a work directory, a manifest).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import types
from pathlib import Path
import typing

from timelapse_d.config import field_docs, plain
from timelapse_d.executors import EXECUTORS
from timelapse_d.errors import UsageError
from timelapse_d.labelling.cli import add_clips_commands, add_label_commands
from timelapse_d.manifest import MANIFESTS_DIR
from timelapse_d.pipeline import (PIPELINE_COPY, Pipeline, PipelineError, load_work_pipeline, open_work,
                                  run_pipeline, run_stage, stage_status, table_status)
from timelapse_d.release.cli import add_release_commands
from timelapse_d.sources import SOURCES
from timelapse_d.stages import STAGES

EXIT_OK, EXIT_ITEMS_FAILED, EXIT_USAGE = 0, 1, 2
STATUS_COLUMNS = ("stage", "table", "ok", "failed", "dropped", "pending")


def _executor(args: argparse.Namespace):
    if args.executor == "ray":
        return EXECUTORS.get("ray")(workers=args.workers, address=args.ray_address)
    if args.ray_address:
        raise PipelineError("--ray-address needs --executor ray")
    return EXECUTORS.get(args.executor)(workers=args.workers)


def _report_line(report) -> str:
    counts = ", ".join(f"{status} {report.table_counts[status]}" for status in ("ok", "failed", "dropped"))
    return (f"{report.stage}: {report.table} {counts} ({sum(report.processed.values())} rows written "
            f"in {report.seconds:.1f} s)")


def cmd_run(args: argparse.Namespace) -> int:
    pipeline = Pipeline.load(args.pipeline)
    failed = False
    for report in run_pipeline(pipeline, args.work, _executor(args), until=args.until,
                               retry_failed=args.retry_failed, commit_every_seconds=args.commit_seconds,
                               progress=not args.no_progress):
        print(_report_line(report), file=sys.stderr)
        failed |= report.failed_in_table > 0
    cmd_status(args)
    return EXIT_ITEMS_FAILED if failed else EXIT_OK


def _flag_params(args: argparse.Namespace, config_cls: type) -> dict:
    return {field.name: getattr(args, field.name) for field in dataclasses.fields(config_cls) if hasattr(args, field.name)}


def _run_one_stage(args: argparse.Namespace, build) -> int:
    try:
        stage = build()
    except ValueError as error:
        raise UsageError(str(error)) from None
    with open_work(args.work) as work, _executor(args) as executor:
        report = run_stage(stage, str(work), executor, args.retry_failed, args.commit_seconds, not args.no_progress)
    print(_report_line(report), file=sys.stderr)
    return EXIT_ITEMS_FAILED if report.failed_in_table else EXIT_OK


def cmd_discover(args: argparse.Namespace) -> int:
    source_cls = SOURCES.get(args.source)
    stage_cls = STAGES.get("discover")
    return _run_one_stage(args, lambda: stage_cls(source_cls.from_params(_flag_params(args, source_cls.Config))))


def cmd_stage(args: argparse.Namespace) -> int:
    """Run one stage into a work directory: the work's pipeline parameters for it, then the flags."""
    stage_cls = STAGES.get(args.command)
    configured = {}
    if (Path(args.work) / PIPELINE_COPY).exists():
        configured = {stage.name: stage.params() for stage in load_work_pipeline(args.work).stages}
    params = {**configured.get(stage_cls.name, {}), **_flag_params(args, stage_cls.Config)}
    return _run_one_stage(args, lambda: stage_cls.from_params(params))


def _add_config_flags(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """One flag per field of a config dataclass (--min-upload-date for min_upload_date), typed by its annotation
    and explained by the field's comment (``config.field_docs``)."""
    hints, docs = typing.get_type_hints(config_cls), field_docs(config_cls)
    for field in dataclasses.fields(config_cls):
        hint = hints[field.name]
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(options) == 1:
            hint = options[0]
        kwargs: dict = {"dest": field.name}
        if typing.get_origin(hint) is tuple:
            kwargs.update(nargs="+", type=typing.get_args(hint)[0])
        elif hint is bool:
            kwargs.update(action=argparse.BooleanOptionalAction)
        elif hint in (int, float, str):
            kwargs.update(type=hint)
        else:
            continue  # nested configs are set in pipeline files
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        default = None if required else (field.default if field.default is not dataclasses.MISSING
                                         else field.default_factory())
        doc = docs[field.name] or field.name.replace("_", " ")
        kwargs.update(required=required, default=argparse.SUPPRESS,
                      help=f"{doc} (required)" if required else f"{doc} (default: {plain(default)})")
        parser.add_argument("--" + field.name.replace("_", "-"), **kwargs)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work", required=True, help="work directory (manifests, media, stats)")
    parser.add_argument("--executor", choices=EXECUTORS.names(), default="local",
                        help="a local process pool, or Ray (default: local)")
    parser.add_argument("--workers", type=int, default=1, help="parallel workers (processes or Ray CPUs)")
    parser.add_argument("--ray-address", help="address of an existing Ray cluster (default: start Ray locally)")
    parser.add_argument("--retry-failed", action="store_true", help="process again the items recorded as failed")
    parser.add_argument("--commit-seconds", type=float, default=2.0, metavar="S",
                        help="write finished items to the manifests at least this often (default 2)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def format_table(rows: list[dict], columns: tuple[str, ...]) -> str:
    widths = {column: max(len(column), *(len(str(row[column])) for row in rows)) for column in columns}
    lines = ["  ".join(column.ljust(widths[column]) for column in columns)]
    lines += ["  ".join(str(row[column]).rjust(widths[column]) if isinstance(row[column], int)
                        else str(row[column]).ljust(widths[column]) for column in columns) for row in rows]
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    if (Path(args.work) / PIPELINE_COPY).exists():
        table = stage_status(load_work_pipeline(args.work), args.work)
    elif (Path(args.work) / MANIFESTS_DIR).is_dir():
        table = table_status(args.work)  # made by single-stage commands: counts, nothing to plan with
    else:
        raise UsageError(f"{args.work} is not a work directory: no manifests (run a pipeline or a stage into it)")
    if getattr(args, "json", False):
        print(json.dumps(table, indent=2))
    else:
        print(format_table([{**row, "pending": "?" if row["pending"] is None else row["pending"]} for row in table],
                           STATUS_COLUMNS))
    return EXIT_ITEMS_FAILED if any(row["failed"] for row in table) else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="timelapse-d", description="Build, curate and publish Time-lapse-D.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details (INFO), not only warnings")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a pipeline file into a work directory, resumably",
                              description="Run the stages of PIPELINE in order. A rerun does only the missing work.")
    run.add_argument("pipeline", help="pipeline definition (TOML), e.g. pipelines/demo.toml")
    _add_run_options(run)
    run.add_argument("--until", metavar="STAGE", help="stop after this stage")
    run.set_defaults(handler=cmd_run)

    discover = commands.add_parser("discover", help="run one source's discovery into a work directory",
                                   description="Discover videos with one source; flags are the source's parameters.")
    by_source = discover.add_subparsers(dest="source", required=True)
    for name in SOURCES.names():
        source_parser = by_source.add_parser(name, help=f"the {name!r} source")
        _add_run_options(source_parser)
        _add_config_flags(source_parser, SOURCES.get(name).Config)
        source_parser.set_defaults(handler=cmd_discover)

    for name in STAGES.names():
        if name == "discover":
            continue
        stage_cls = STAGES.get(name)
        summary = sys.modules[stage_cls.__module__].__doc__.strip().splitlines()[0]
        stage_parser = commands.add_parser(name, help=f"run the {name!r} stage into a work directory",
                                           description=f"{summary} Without flags, the parameters are "
                                                       "those the work's pipeline gives the stage.")
        _add_run_options(stage_parser)
        _add_config_flags(stage_parser, stage_cls.Config)
        stage_parser.set_defaults(handler=cmd_stage)

    status = commands.add_parser("status", help="ok / failed / dropped / pending per stage")
    status.add_argument("--work", required=True, help="the work directory")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(handler=cmd_status)
    add_label_commands(commands)
    add_clips_commands(commands)
    add_release_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if getattr(args, "workers", 1) < 1:
        print(f"timelapse-d: error: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return args.handler(args)
    except UsageError as error:
        print(f"timelapse-d: error: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
