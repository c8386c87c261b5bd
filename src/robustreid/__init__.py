"""robustreid: unsupervised person re-identification by robust cluster contrast."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from robustreid.inference.extractor import FeatureExtractor

#: Names importable from the top level, loaded on first use so that ``import robustreid`` stays light.
_LAZY = {"FeatureExtractor": "robustreid.inference.extractor"}

__all__ = ["FeatureExtractor", "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'robustreid' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
