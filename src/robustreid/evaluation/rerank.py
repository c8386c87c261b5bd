"""k-reciprocal re-ranking (Zhong et al., CVPR 2017).

"Re-ranking Person Re-identification with k-reciprocal Encoding".

The numbers follow the authors' released code, which every re-ID library
copies (torchreid, cluster-contrast), so re-ranked results compare with the
literature: distances are squared and each row is scaled by its largest
entry, neighbour sets include the item itself, and the expansion and local
query expansion steps are the paper's. Squaring then row-scaling makes
``1 - cos`` and the squared Euclidean distance of unit features (``2 - 2 cos``)
give identical results.

The k-reciprocal sets, their expansion, the local query expansion and the
min-sum Jaccard distance are those of pseudo-labelling
(:mod:`robustreid.clustering.kreciprocal`), with the authors' conventions
where the references differ: k1 does not count the item itself
(``k1_counts_self=False``) and a Jaccard distance rounded below 0 is kept.
Only the ranking (of the dense distances) and the weights (``exp(-d)`` of
them) are particular to re-ranking. What cannot be avoided is the dense
(N_q + N_g)^2 distance matrix the method is defined on: time and memory are
O((N_q + N_g)^2), ~1.5 GB float32 for Market-1501 (19,281 images) and ~37 GB
for MSMT17.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch

from robustreid.clustering.kreciprocal import (
    NeighbourhoodSizes,
    expanded_sets,
    local_query_expansion,
    sparse_jaccard_distance,
)

JACCARD_QUERY_CHUNK = 256
"""Queries per Jaccard block in :func:`re_ranking`; bounds the query x gallery min-sums held at once."""


def _row_scaled_squared_distances(
    q_g_dist: np.ndarray, q_q_dist: np.ndarray, g_g_dist: np.ndarray
) -> np.ndarray:
    """The joint (N_q + N_g)^2 matrix, squared and divided by each row's maximum, as in the authors' code."""
    joint = np.block([[q_q_dist, q_g_dist], [q_g_dist.T, g_g_dist]]).astype(np.float32, copy=False)
    np.square(joint, out=joint)
    joint /= joint.max(axis=1, keepdims=True)
    return joint


def _exp_weights(expanded: sp.csr_matrix, dist: np.ndarray) -> sp.csr_matrix:
    """Weights exp(-d) over each R*(i), rows summing to 1."""
    rows = np.repeat(np.arange(expanded.shape[0]), np.diff(expanded.indptr))
    weights = sp.csr_matrix(
        (np.exp(-dist[rows, expanded.indices]), expanded.indices, expanded.indptr), shape=expanded.shape
    )
    return sp.diags(1.0 / np.asarray(weights.sum(axis=1)).ravel()) @ weights


def _encode(dist: np.ndarray, sizes: NeighbourhoodSizes) -> sp.csr_matrix:
    """V: the weights over R*(i), averaged over the nearest items (local query expansion).

    Float sums depend on their order and precision, so these are fixed to
    those this module's re-ranked numbers have always had: V is float64 (a
    float64 averaging of the float32 weights), the expansion sums its
    neighbours in index order, and the Jaccard min-sums take each row of V in
    the order the expansion leaves it.
    """
    nearest = torch.topk(
        torch.from_numpy(dist), sizes.searched, dim=1, largest=False, sorted=True
    ).indices.numpy()
    weights = _exp_weights(expanded_sets(nearest, sizes), dist)
    in_index_order = np.sort(nearest[:, : sizes.expansion], axis=1)
    return local_query_expansion(weights, in_index_order, sizes, np.float64)


def _dense_jaccard(query_encoding: sp.csr_matrix, gallery_columns: sp.csc_matrix) -> np.ndarray:
    """Float32 Jaccard distances of every query/gallery pair: 1 for the pairs that share no item."""
    jaccard = sparse_jaccard_distance(query_encoding, gallery_columns, clip_at_zero=False)
    dense = np.ones(jaccard.shape, dtype=np.float32)
    rows = np.repeat(np.arange(jaccard.shape[0]), np.diff(jaccard.indptr))
    dense[rows, jaccard.indices] = jaccard.data
    return dense


def re_ranked_rows(
    q_g_dist: np.ndarray,
    q_q_dist: np.ndarray,
    g_g_dist: np.ndarray,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
) -> Callable[[slice], np.ndarray]:
    """Prepare re-ranking once; return a function from a slice of queries to their re-ranked rows.

    The expensive part (the joint distances, the k-reciprocal encoding of every
    item) is done here; each call only computes the Jaccard distances of its
    queries, so an evaluation that ranks queries a chunk at a time never holds
    the re-ranked N_q x N_g matrix. Arguments as :func:`re_ranking`.
    """
    num_query, num_gallery = q_g_dist.shape
    if q_q_dist.shape != (num_query, num_query) or g_g_dist.shape != (num_gallery, num_gallery):
        raise ValueError(
            f"expected q_q {(num_query, num_query)} and g_g {(num_gallery, num_gallery)} distances "
            f"for q_g {q_g_dist.shape}, got {q_q_dist.shape} and {g_g_dist.shape}"
        )
    sizes = NeighbourhoodSizes.for_samples(num_query + num_gallery, k1, k2, k1_counts_self=False)
    dist = _row_scaled_squared_distances(q_g_dist, q_q_dist, g_g_dist)
    encoding = _encode(dist, sizes)
    query_encoding, gallery_columns = encoding[:num_query], encoding[num_query:].tocsc()
    original = dist[:num_query, num_query:].copy()  # lets the joint matrix go once this returns

    def distance_rows(rows: slice) -> np.ndarray:
        jaccard = _dense_jaccard(query_encoding[rows], gallery_columns)
        return (1 - lambda_value) * jaccard + lambda_value * original[rows]

    return distance_rows


def re_ranking(
    q_g_dist: np.ndarray,
    q_q_dist: np.ndarray,
    g_g_dist: np.ndarray,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
) -> np.ndarray:
    """Re-ranked (N_q, N_g) distances: (1 - lambda) * Jaccard(k-reciprocal encodings) + lambda * original.

    Inputs are query-gallery, query-query and gallery-gallery distances of
    one metric (smaller = closer; q_q and g_g symmetric). ``k1`` sizes the
    k-reciprocal sets, ``k2`` the local query expansion, ``lambda_value``
    weighs the original distance. Ties among the k-th nearest neighbours are
    broken arbitrarily. O((N_q + N_g)^2) time and memory; see module notes.
    """
    distance_rows = re_ranked_rows(q_g_dist, q_q_dist, g_g_dist, k1, k2, lambda_value)
    num_query, num_gallery = q_g_dist.shape
    distances = np.empty((num_query, num_gallery), dtype=np.float32)
    for start in range(0, num_query, JACCARD_QUERY_CHUNK):
        rows = slice(start, start + JACCARD_QUERY_CHUNK)
        distances[rows] = distance_rows(rows)
    return distances
