"""Every n-th identity of a data set: a smaller problem of the same kind, for runs that must converge.

``data.identity_stride: n`` keeps every n-th identity, in sorted id order, of the
training set and of the test set alike. A quarter of Market-1501 then trains to
convergence on a CPU, where clusters are mostly right, while its identities, cameras
and images per identity stay those of the full set. The choice is deterministic (no
seed), so every run of a config sees the same identities. ``data.identity_offset: k``
starts at the (k+1)-th identity instead: offsets 0 to n-1 split the set into n
disjoint folds, so a method tuned on one fold can be checked on another it never saw.

The test identities are the query's. The gallery keeps their images and every n-th
of its other images (distractors, people never queried), so it keeps the full set's
share of distractors and ranking stays as hard as it is on the full set.
"""

from __future__ import annotations

from collections.abc import Iterable

from robustreid.data.base import ImageItem, ReidDataset
from robustreid.errors import DataError


def every_nth_identity(dataset: ReidDataset, stride: int, offset: int = 0) -> ReidDataset:
    """``dataset`` reduced to every ``stride``-th training and test identity from the ``offset``-th (1: the whole set)."""
    if stride == 1:
        return dataset
    if any(item.pid < 0 for item in dataset.train):
        raise DataError(
            f"data.identity_stride={stride} needs every training image's identity, which {dataset.name} "
            "does not give; use data.identity_stride=1"
        )
    test_ids = _every_nth(_identities(dataset.query), stride, offset)
    return ReidDataset(
        f"{dataset.name} (identity stride {stride}" + (f", offset {offset})" if offset else ")"),
        train=_of_identities(dataset.train, _every_nth(_identities(dataset.train), stride, offset)),
        query=_of_identities(dataset.query, test_ids),
        gallery=_gallery_of(dataset.gallery, test_ids, _identities(dataset.query), stride, offset),
    )


def _every_nth(identities: Iterable[int], stride: int, offset: int) -> set[int]:
    """The (1 + offset)-th, (1 + offset + stride)-th, ... of ``identities`` in sorted order."""
    return set(sorted(identities)[offset::stride])


def _identities(items: list[ImageItem]) -> set[int]:
    return {item.pid for item in items}


def _of_identities(items: list[ImageItem], identities: set[int]) -> list[ImageItem]:
    return [item for item in items if item.pid in identities]


def _gallery_of(
    gallery: list[ImageItem], test_ids: set[int], queried: set[int], stride: int, offset: int
) -> list[ImageItem]:
    """The kept test identities' images, and every ``stride``-th image of no queried identity from the ``offset``-th."""
    others = sorted(item.path for item in gallery if item.pid not in queried)
    kept_others = set(others[offset::stride])
    return [item for item in gallery if item.pid in test_ids or item.path in kept_others]
