"""Building config dataclasses from pipeline-file tables, with errors that name the bad key."""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def config_from_params(config_cls: type[T], params: dict[str, Any], where: str) -> T:
    """``config_cls(**params)``, but unknown keys and invalid values raise ValueError naming ``where``."""
    known = {field.name for field in dataclasses.fields(config_cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"{where}: unknown parameter(s) {unknown}; known: {sorted(known)}")
    converted = {}
    for field in dataclasses.fields(config_cls):
        if field.name in params:
            value = params[field.name]
            # TOML has arrays, not tuples; tuple-typed fields take either.
            converted[field.name] = tuple(value) if isinstance(value, list) else value
    try:
        return config_cls(**converted)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None


def config_to_dict(config: object) -> dict[str, Any]:
    return dataclasses.asdict(config)
