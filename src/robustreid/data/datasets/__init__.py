"""Data set loaders, one module each, all reachable by name through :data:`DATASETS`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustreid.data.base import ReidDataset
from robustreid.data.datasets import dukemtmcreid, folder, market1501, msmt17, personx, synthetic  # noqa: F401
from robustreid.data.datasets.registry import DATASETS


def load_dataset(name: str, root: str | Path | None = None, **kwargs: Any) -> ReidDataset:
    """Load a registered data set; ``kwargs`` are the loader's options (e.g. ``query=`` for ``folder``)."""
    return DATASETS.get(name)(Path(root).expanduser() if root is not None else None, **kwargs)


def dataset_names() -> list[str]:
    return DATASETS.names()


__all__ = ["DATASETS", "dataset_names", "load_dataset"]
