"""The k-reciprocal Jaccard distance as a sparse graph: O(N*k) memory, no N x N array.

Same definition as :func:`robustreid.clustering.jaccard_distance_dense`, but
every per-sample set is a row of a sparse matrix
(:mod:`robustreid.clustering.kreciprocal`), so each step is one sparse
operation over all samples. What is particular to pseudo-labelling is here:
the ranking comes from a kNN search of the features, and the weights are a
softmax of ``-(2 - 2 cos)`` read from that search where possible.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from robustreid.clustering._features import FeatureArray, normalized_features
from robustreid.clustering.kreciprocal import (
    NeighbourhoodSizes,
    expanded_sets,
    local_query_expansion,
    sparse_jaccard_distance,
)
from robustreid.clustering.neighbours import KnnBackend, knn

_DOT_CHUNK = 4096  # pairs per gather of two (chunk, d) feature blocks


def jaccard_distance_sparse(
    features: FeatureArray,
    k1: int = 30,
    k2: int = 6,
    knn_backend: KnnBackend = "auto",
    neighbours: tuple[np.ndarray, np.ndarray] | None = None,
) -> sp.csr_matrix:
    """Return the k-reciprocal Jaccard distances of all pairs that share support.

    A float32 N x N CSR matrix; a pair that is not stored is at distance 1.
    Stored entries include explicit zeros (duplicates, and each sample to
    itself), which a consumer must keep: they are the closest pairs.

    ``neighbours`` reuses a ``knn(features, k)`` result with ``k >= min(k1, N)``
    (e.g. from an index built elsewhere) instead of searching again.
    """
    x = normalized_features(features)
    sizes = NeighbourhoodSizes.for_samples(x.shape[0], k1, k2)
    if neighbours is None:
        neighbours = knn(x, sizes.searched, knn_backend)
    similarities, ranked = _first_columns(neighbours, x.shape[0], sizes.searched)
    weights = _softmax_weights(expanded_sets(ranked, sizes), x, similarities, ranked)
    if k2 > 1:
        weights = local_query_expansion(weights, ranked, sizes)
    return sparse_jaccard_distance(weights.sorted_indices())  # the reference sums minima in column order


def _first_columns(
    neighbours: tuple[np.ndarray, np.ndarray], n: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    similarities, indices = neighbours
    if indices.shape[0] != n or indices.shape[1] < k or similarities.shape != indices.shape:
        raise ValueError(
            f"neighbours must hold at least {k} columns for each of the {n} samples, "
            f"got similarities {similarities.shape} and indices {indices.shape}"
        )
    return similarities[:, :k], indices[:, :k]


def _softmax_weights(
    expanded: sp.csr_matrix, x: torch.Tensor, similarities: np.ndarray, ranked: np.ndarray
) -> sp.csr_matrix:
    """Row-wise softmax of ``-(2 - 2 cos)`` over each expanded set.

    The logits lie in [-4, 0], so the exponentials cannot overflow and the
    usual max-subtraction is not needed.
    """
    rows = np.repeat(np.arange(expanded.shape[0]), np.diff(expanded.indptr))
    cos = _pair_similarities(rows, expanded.indices, x, similarities, ranked)
    weights = np.exp(-(2 - 2 * cos))
    totals = np.bincount(rows, weights=weights, minlength=expanded.shape[0])
    weights = (weights / totals[rows]).astype(np.float32)
    return sp.csr_matrix((weights, expanded.indices, expanded.indptr), shape=expanded.shape)


def _pair_similarities(
    rows: np.ndarray, cols: np.ndarray, x: torch.Tensor, similarities: np.ndarray, ranked: np.ndarray
) -> np.ndarray:
    """Cosine of each (row, col) pair: looked up in the kNN result, computed for the rest.

    About 90% of the expanded pairs are kNN pairs already, and computing a pair
    means gathering two feature rows (16 KB at d = 2048).
    """
    n = len(ranked)
    known_keys = (np.arange(n)[:, None] * n + ranked).ravel()
    order = np.argsort(known_keys)
    known_keys, known_values = known_keys[order], similarities.ravel()[order]
    keys = rows.astype(np.int64) * n + cols
    position = np.minimum(np.searchsorted(known_keys, keys), len(known_keys) - 1)
    found = known_keys[position] == keys
    cos = np.empty(len(keys), dtype=np.float32)
    cos[found] = known_values[position[found]]
    cos[~found] = _row_dots(x.cpu().numpy(), rows[~found], cols[~found])
    return cos


def _row_dots(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``x[rows[t]] . x[cols[t]]`` for every t, gathered in bounded chunks."""
    dots = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), _DOT_CHUNK):
        chunk = slice(start, start + _DOT_CHUNK)
        dots[chunk] = np.einsum("pd,pd->p", x[rows[chunk]], x[cols[chunk]])
    return dots
