"""Data set loaders, one module each, all reachable by name through :data:`DATASETS`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustreid.data.datasets.registry import DATASETS

if TYPE_CHECKING:
    from robustreid.data.base import ReidDataset


def load_dataset(name: str, root: str | Path | None = None, **kwargs: Any) -> ReidDataset:
    """Load a registered data set; ``kwargs`` are the loader's options (e.g. ``query=`` for ``folder``)."""
    return DATASETS.get(name)(Path(root).expanduser() if root is not None else None, **kwargs)


def dataset_names() -> list[str]:
    return DATASETS.names()


__all__ = ["DATASETS", "dataset_names", "load_dataset"]
