"""Data sets (where images are and who is who) and their loaders.

``load_dataset(name, root, **options)`` returns a :class:`ReidDataset`;
``dataset_names()`` lists what ``name`` may be.
"""

from robustreid.data.base import ImageItem, ReidDataset
from robustreid.data.datasets import DATASETS, dataset_names, load_dataset

__all__ = ["DATASETS", "ImageItem", "ReidDataset", "dataset_names", "load_dataset"]
