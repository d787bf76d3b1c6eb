"""Name -> class registries whose entries are imported only when used (heavy dependencies stay lazy).

    >>> executors = Registry("executor", {"local": "timelapse_d.executors.local:LocalExecutor"})
    >>> executors.get("local").__name__
    'LocalExecutor'
"""
from __future__ import annotations

import importlib


class Registry:
    def __init__(self, kind: str, entries: dict[str, str]):
        self.kind = kind
        self._entries = dict(entries)  # name -> "module:Class"

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str) -> type:
        try:
            module_name, class_name = self._entries[name].split(":")
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}") from None
        return getattr(importlib.import_module(module_name), class_name)
