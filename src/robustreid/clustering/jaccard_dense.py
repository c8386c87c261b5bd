"""The k-reciprocal Jaccard distance (Zhong et al., CVPR 2017) on dense N x N matrices.

This is the test oracle for :mod:`robustreid.clustering.jaccard_sparse`: it
follows the definition step by step and favours clarity over speed and memory
(several N x N arrays), so keep it for N up to about 15,000.
"""

from __future__ import annotations

import numpy as np

from robustreid.clustering._features import FeatureArray, normalized_features
from robustreid.clustering.kreciprocal import NeighbourhoodSizes, jaccard_from_min_sums


def jaccard_distance_dense(features: FeatureArray, k1: int = 30, k2: int = 6) -> np.ndarray:
    """Return the N x N float32 k-reciprocal Jaccard distance of L2-normalised features.

    Steps: exact kNN ranking; k-reciprocal sets R(i, k1); their expansion by
    R(j, round(k1/2)) of members j that overlap R(i, k1) by more than 2/3;
    softmax weights of ``-(2 - 2 cos)`` over the expanded set; local query
    expansion (mean over the k2 nearest, self included); Jaccard distance.
    """
    x = normalized_features(features).cpu().numpy()
    sizes = NeighbourhoodSizes.for_samples(len(x), k1, k2)
    similarity = x @ x.T
    ranked = np.argsort(-similarity, axis=1)[:, : sizes.searched].copy()  # frees the full N x N order
    reciprocal = _reciprocal_sets(ranked)
    reciprocal_half = _reciprocal_sets(ranked[:, : sizes.half])
    weights = np.zeros_like(similarity)
    for i in range(len(x)):
        members = np.flatnonzero(_expanded_set(reciprocal, reciprocal_half, i))
        weights[i, members] = _softmax(-(2 - 2 * similarity[i, members]))
    if k2 > 1:
        weights = _query_expansion(weights, ranked[:, : sizes.expansion])
    return jaccard_from_min_sums(_shared_min_sums(weights))


def _reciprocal_sets(ranked: np.ndarray) -> np.ndarray:
    """``sets[i, j]`` is True when j ranks among i's neighbours and i among j's."""
    forward = np.zeros((len(ranked), len(ranked)), dtype=bool)
    np.put_along_axis(forward, ranked, True, axis=1)
    return forward & forward.T


def _expanded_set(reciprocal: np.ndarray, reciprocal_half: np.ndarray, i: int) -> np.ndarray:
    """R(i, k1) plus every R(j, k1/2), j in R(i, k1), that lies mostly (> 2/3) inside it."""
    expanded = reciprocal[i].copy()
    for j in np.flatnonzero(reciprocal[i]):
        candidate = reciprocal_half[j]
        if np.count_nonzero(candidate & reciprocal[i]) > 2 / 3 * np.count_nonzero(candidate):
            expanded |= candidate
    return expanded


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()


def _query_expansion(weights: np.ndarray, nearest: np.ndarray) -> np.ndarray:
    """Replace each row by the mean of its nearest rows' weights (itself normally first)."""
    expanded = np.empty_like(weights)
    for i, rows in enumerate(nearest):
        expanded[i] = weights[rows].mean(axis=0)
    return expanded


def _shared_min_sums(weights: np.ndarray) -> np.ndarray:
    """``sums[i, j] = sum_m min(w[i, m], w[j, m])``, visiting only rows that share a column."""
    holders = np.ascontiguousarray(weights.T) != 0  # holders[m]: the rows that weigh column m
    sums = np.zeros_like(weights)
    for i, row in enumerate(weights):
        support = np.flatnonzero(row)
        sharing = np.flatnonzero(holders[support].any(axis=0))
        sums[i, sharing] = np.minimum(row[support], weights[np.ix_(sharing, support)]).sum(axis=1)
    return sums
