"""Building config dataclasses from pipeline-file tables, with errors that name the bad key."""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")


def config_from_params(config_cls: type[T], params: dict[str, Any], where: str) -> T:
    """``config_cls(**params)``, but unknown keys and invalid values raise ValueError naming ``where``."""
    known = {field.name for field in dataclasses.fields(config_cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"{where}: unknown parameter(s) {unknown}; known: {sorted(known)}")
    hints = typing.get_type_hints(config_cls)
    converted = {}
    for name, value in params.items():
        # TOML has arrays, not tuples; tuple-typed fields take either.
        value = tuple(value) if isinstance(value, list) else value
        if not _fits(value, hints[name]):
            raise ValueError(f"{where}: parameter {name!r} must be {_describe(hints[name])}, got {value!r}")
        converted[name] = float(value) if hints[name] is float else value
    try:
        return config_cls(**converted)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None


class Configured:
    """A pluggable part (flow estimator, segmenter) built from a frozen config dataclass.

    Subclasses set ``name`` and ``config_class``; no config means the defaults.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type] = type(None)

    def __init__(self, config: Any = None):
        if config is None:
            config = self.config_class()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config


def _fits(value: Any, hint: Any) -> bool:
    """Whether a value from a pipeline file fits a field's annotation (int, float, str, bool,
    optional, tuple of one type); other annotations are left to the dataclass to check."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, option) for option in typing.get_args(hint))
    if origin is tuple:
        return isinstance(value, tuple) and all(_fits(item, typing.get_args(hint)[0]) for item in value)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint in (str, bool):
        return isinstance(value, hint)
    return True


def _describe(hint: Any) -> str:
    return str(hint).replace("typing.", "") if typing.get_origin(hint) else getattr(hint, "__name__", str(hint))


def field_docs(config_cls: type) -> dict[str, str]:
    """Each field's documentation: the comment after it in the class's source, with the comment-only
    lines that follow it (fields are documented that way throughout), or "" where there is none.

    >>> from timelapse_d.stages.split import SplitConfig
    >>> field_docs(SplitConfig)["threshold"]
    'ContentDetector: content change that makes a cut'
    """
    import inspect
    import io
    import tokenize

    docs = {field.name: [] for field in dataclasses.fields(config_cls)}
    try:
        source = inspect.getsource(config_cls)
    except (OSError, TypeError):  # defined where there is no source to read
        return {name: "" for name in docs}
    current, line_start = None, True
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and line_start:
            current = token.string if token.string in docs else None
        elif token.type == tokenize.COMMENT and current is not None:
            docs[current].append(token.string.lstrip("#").strip())
        line_start = token.type in (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT)
        if token.type == tokenize.NEWLINE:
            line_start = True
    return {name: " ".join(parts) for name, parts in docs.items()}


def plain(value: Any) -> str:
    """A default as a person reads it: 3.0, timelapse sky, empty, none, true.

    >>> [plain(v) for v in (3.0, ("timelapse", "sky"), "", None, True, "content")]
    ['3.0', 'timelapse sky', 'empty', 'none', 'true', 'content']
    """
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return " ".join(plain(item) for item in value) if value else "(none)"
    if value == "":
        return "empty"
    return str(value)
