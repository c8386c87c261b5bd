"""The data set registry: name -> loader ``(root, **options) -> ReidDataset``.

Torch-free and declared (:mod:`robustreid.utils.registry`), so that a config's
``data.name`` is checked without importing the loaders; a loader module is
imported when its data set is first loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from robustreid.utils.registry import Registry

if TYPE_CHECKING:
    from robustreid.data.base import ReidDataset


class DatasetLoader(Protocol):
    def __call__(self, root: Path | None, **options: Any) -> ReidDataset: ...


#: ``data.name``.
DATASETS: Registry[DatasetLoader] = Registry(
    "dataset",
    {
        "dukemtmcreid": "robustreid.data.datasets.dukemtmcreid:load_dukemtmcreid",
        "folder": "robustreid.data.datasets.folder:load_folder",
        "market1501": "robustreid.data.datasets.market1501:load_market1501",
        "msmt17": "robustreid.data.datasets.msmt17:load_msmt17",
        "personx": "robustreid.data.datasets.personx:load_personx",
        "synthetic": "robustreid.data.datasets.synthetic:load_synthetic",
    },
)
