"""InfoMap communities of the k-reciprocal Jaccard graph: ``cluster.method=infomap``.

DBSCAN links two samples whenever a chain of dense neighbourhoods joins them, so a few
look-alike pairs can merge two people. InfoMap (Rosvall and Bergstrom, the map equation)
instead groups the samples among which a random walk on the graph stays for long, and
cuts the thin bridges that such chains run over. Cluster Contrast offers it on a cosine
kNN graph (k = 15, pairs with similarity >= 0.5); here it runs on the graph DBSCAN reads,
the pairs within ``eps`` of the sparse Jaccard distance, each weighted by its similarity
``1 - distance``, so that ``cluster.eps`` (and its ``auto``), ``k1``, ``k2`` and the camera
penalty mean the same for both methods. ``min_samples`` is DBSCAN's alone: every community
of two or more samples is a cluster, and a sample left alone is an outlier (-1), as in
Cluster Contrast. The walk's random start is seeded, so the labels are reproducible.

The ``infomap`` package is GPL-licensed and imported only when this method is used.
"""

from __future__ import annotations

import importlib

import numpy as np
import scipy.sparse as sp

#: The smallest community that becomes a cluster; smaller ones are outliers.
MIN_COMMUNITY = 2
SEED = 1


def infomap_labels(distances: sp.csr_matrix, eps: float) -> np.ndarray:
    """InfoMap's two-level communities of the pairs closer than ``eps``; int64 labels, -1 for outliers.

    ``distances`` is the sparse Jaccard graph (missing pairs at distance 1), as
    :func:`~robustreid.clustering.jaccard_sparse.jaccard_distance_sparse` returns it.
    """
    infomap = importlib.import_module("infomap")
    links = _weighted_links(sp.triu(distances, k=1).tocoo(), eps)
    finder = infomap.Infomap(two_level=True, silent=True, seed=SEED, num_trials=1)
    communities = np.full(distances.shape[0], -1, dtype=np.int64)
    if len(links):
        finder.add_links(links)
        modules = finder.run().modules()
        communities[np.fromiter(modules.keys(), np.int64)] = np.fromiter(modules.values(), np.int64)
    return _numbered_clusters(communities)


def _weighted_links(pairs: sp.coo_matrix, eps: float) -> np.ndarray:
    """(source, target, 1 - distance) of the pairs i < j within ``eps``; duplicates (distance 0) weigh 1."""
    close = pairs.data <= eps
    return np.column_stack([pairs.row[close], pairs.col[close], 1 - pairs.data[close]]).astype(np.float64)


def _numbered_clusters(communities: np.ndarray) -> np.ndarray:
    """Communities of at least :data:`MIN_COMMUNITY` samples numbered 0..C-1 in order of first
    appearance; the rest (and samples without a link, -1) become -1."""
    known = communities >= 0
    _, first, inverse, counts = np.unique(
        communities[known], return_index=True, return_inverse=True, return_counts=True
    )
    kept = counts >= MIN_COMMUNITY
    order = np.argsort(first[kept], kind="stable")
    number = np.full(len(counts), -1, dtype=np.int64)
    number[np.flatnonzero(kept)[order]] = np.arange(len(order))
    labels = np.full(len(communities), -1, dtype=np.int64)
    labels[known] = number[inverse]
    return labels
