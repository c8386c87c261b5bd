"""A package's public names, imported from their modules when first read (PEP 562).

Importing any module of a package runs the package's ``__init__`` first. Light modules
(a config's settings, a registry of names) live in packages whose other modules need
torch, seconds to import; an ``__init__`` that imported its exports would load torch
for whoever only reads a config or builds the command line's parser. An ``__init__``
that declares its exports here imports nothing until a name is used, and
``from robustreid.models import build_model`` reads as before.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` of ``package``, which exports ``exports``: module -> its names."""
    home = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home[name]), name)

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *home})

    return sorted(home), __getattr__, __dir__
