"""Data sets (where images are and who is who) and their loaders.

``load_dataset(name, root, **options)`` returns a :class:`ReidDataset`;
``dataset_names()`` lists what ``name`` may be; ``every_nth_identity(dataset, n)``
keeps every n-th identity (``data.identity_stride``). The names are imported when
first used, so that checking a config's ``data.name`` loads none of the loaders.
"""

from robustreid.utils.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "robustreid.data.base": ["ImageItem", "ReidDataset"],
        "robustreid.data.datasets": ["DATASETS", "dataset_names", "load_dataset"],
        "robustreid.data.identity_subset": ["every_nth_identity"],
    },
)
