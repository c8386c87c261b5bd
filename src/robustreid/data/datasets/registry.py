"""The data set registry: name -> loader ``(root, **options) -> ReidDataset``.

Kept apart from ``__init__`` so loader modules can register themselves without
importing the package that imports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from robustreid.data.base import ReidDataset
from robustreid.utils.registry import Registry


class DatasetLoader(Protocol):
    def __call__(self, root: Path | None, **options: Any) -> ReidDataset: ...


DATASETS: Registry[DatasetLoader] = Registry("dataset")
