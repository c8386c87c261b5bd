"""The kNN search of the pseudo-labelling, split over the ranks: each searches its share of the rows.

The exact search costs N^2 d, which is what made 1M images take hours on rank 0 alone
(docs/scaling.md). Here every rank holds the gathered features, searches the neighbours
of its contiguous share of the rows among all of them, and the lists are all-gathered in
rank order, so every rank holds the whole (N, k) result, row for row what one process
finds (up to the order of equal similarities). An approximate (``ivf``) search builds
its lists on every rank, from the same seeded sample; only the scans of the lists are divided.
"""

from __future__ import annotations

import numpy as np
import torch

from robustreid.clustering._features import FeatureArray
from robustreid.clustering.neighbours import KnnBackend, Neighbours, knn
from robustreid.distributed.collectives import gather_rows
from robustreid.distributed.world import current_world, share


def sharded_knn(features: FeatureArray, k: int, backend: KnnBackend = "auto") -> Neighbours:
    """:func:`~robustreid.clustering.neighbours.knn` of ``features`` with the rows shared by the ranks.

    A collective: every rank must call it with the same features. On one process it is ``knn`` itself.
    """
    world = current_world()
    if not world.distributed:
        return knn(features, k, backend)
    rows = share(len(features), world.rank, world.size)
    similarities, indices = knn(features, k, backend, rows=rows)
    return _gathered(similarities), _gathered(indices)


def _gathered(part: np.ndarray) -> np.ndarray:
    return gather_rows(torch.from_numpy(part)).numpy()
