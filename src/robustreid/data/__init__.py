"""Data sets (where images are and who is who) and their loaders.

``load_dataset(name, root, **options)`` returns a :class:`ReidDataset`;
``dataset_names()`` lists what ``name`` may be; ``every_nth_identity(dataset, n)``
keeps every n-th identity (``data.identity_stride``).
"""

from robustreid.data.base import ImageItem, ReidDataset
from robustreid.data.datasets import DATASETS, dataset_names, load_dataset
from robustreid.data.identity_subset import every_nth_identity

__all__ = ["DATASETS", "ImageItem", "ReidDataset", "dataset_names", "every_nth_identity", "load_dataset"]
