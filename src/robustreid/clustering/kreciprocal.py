"""The k-reciprocal encoding of Zhong et al. (CVPR 2017) on sparse matrices, for every user of it.

Pseudo-labelling (:func:`robustreid.clustering.jaccard_distance_sparse`) and
re-ranking (:func:`robustreid.evaluation.re_ranking`) both build it: k-reciprocal
sets from a ranking, their expansion, a local query expansion of the per-set
weights, and the Jaccard distance of the weighted sets. Each per-sample set is
a row of a sparse matrix, so every step is one sparse operation over all samples:

* R(i, k) = forward kNN graph AND its transpose;
* the 2/3-overlap test reads ``R @ R_half`` on R's pattern (R_half is
  symmetric, so that product counts ``|R(i, k1) & R(j, k1/2)|``);
* the expansion is ``R + accepted @ R_half``;
* the local query expansion is a product with the kNN-averaging matrix;
* the Jaccard distance is only computed where two rows share support: all
  other pairs are at distance 1, which is why they are not stored.

What is particular to each user stays in its module: where the ranking comes
from, and how the weights are computed from distances. Where the two
references count or round differently, a parameter here chooses: how k1 is
counted (:class:`NeighbourhoodSizes`), the precision and order of the query
expansion's sums, and whether a distance rounded below 0 is clipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from robustreid.clustering._min_sums import shared_min_sums


@dataclass(frozen=True)
class NeighbourhoodSizes:
    """How many ranked neighbours (the sample itself included) each step reads.

    The two reference implementations count k1 differently, and their numbers
    are only reproduced with their own count, so ``k1_counts_self`` selects it:

    * ``True``, cluster contrast: kNN(i, k1) is k1 samples, i among them, and
      only those k1 are searched, so the query expansion is clamped to k1 too.
      (The reference slices ``[:k1 + 1]`` out of k1 searched columns for
      R(i, k1), but ``[:round(k1/2) + 1]`` really takes that many for the half
      sets: that asymmetry is kept.)
    * ``False``, Zhong et al.'s released re-ranking: kNN(i, k1) is i plus k1
      others (k1 + 1 columns) out of a full ranking, so the query expansion
      reads k2 columns whatever k1 is.

    The half-size sets R(j, round(k1/2)) take ``round(k1/2) + 1`` columns in
    both. Every size is clamped to the number of samples so that tiny sets work.
    """

    reciprocal: int
    half: int
    expansion: int

    @classmethod
    def for_samples(cls, n_samples: int, k1: int, k2: int, k1_counts_self: bool = True) -> NeighbourhoodSizes:
        if k1 < 1 or k2 < 1:
            raise ValueError(f"k1 and k2 must be positive, got k1={k1}, k2={k2}")
        reciprocal = min(k1 if k1_counts_self else k1 + 1, n_samples)
        expansion = min(k2, reciprocal if k1_counts_self else n_samples)
        # round() halves to even, as numpy.around in the references.
        return cls(reciprocal=reciprocal, half=min(round(k1 / 2) + 1, reciprocal), expansion=expansion)

    @property
    def searched(self) -> int:
        """Ranked columns every step together needs."""
        return max(self.reciprocal, self.expansion)


def neighbour_rows(columns: np.ndarray, value: float = 1, dtype: npt.DTypeLike = np.int32) -> sp.csr_matrix:
    """Square CSR matrix with ``value`` at ``(i, columns[i, t])`` for every t, in ``columns`` order."""
    n, width = columns.shape
    data = np.full(columns.size, value, dtype=dtype)
    return sp.csr_matrix((data, columns.ravel(), np.arange(0, n * width + 1, width)), shape=(n, n))


def reciprocal_sets(ranked: np.ndarray) -> sp.csr_matrix:
    """Ones at (i, j) when j ranks among i's neighbours and i among j's (symmetric)."""
    forward = neighbour_rows(ranked)
    return forward.multiply(forward.T).tocsr()


def expanded_sets(ranked: np.ndarray, sizes: NeighbourhoodSizes) -> sp.csr_matrix:
    """R*(i): R(i, k1) plus every R(j, k1/2), j in R(i, k1), that lies mostly (> 2/3) inside it.

    ``ranked`` holds each sample's neighbours, nearest first, in at least
    ``sizes.reciprocal`` columns. The result's pattern is the set (its values
    are counts), with sorted column indices.
    """
    reciprocal = reciprocal_sets(ranked[:, : sizes.reciprocal])
    reciprocal_half = reciprocal_sets(ranked[:, : sizes.half])
    overlaps = (reciprocal @ reciprocal_half).multiply(reciprocal).tocoo()
    half_sizes = np.diff(reciprocal_half.indptr)
    accepted = overlaps.data > 2 / 3 * half_sizes[overlaps.col]
    candidates = sp.csr_matrix(
        (
            np.ones(np.count_nonzero(accepted), dtype=np.int32),
            (overlaps.row[accepted], overlaps.col[accepted]),
        ),
        shape=reciprocal.shape,
    )
    expanded = (reciprocal + candidates @ reciprocal_half).tocsr()
    expanded.sort_indices()
    return expanded


def local_query_expansion(
    weights: sp.csr_matrix,
    ranked: np.ndarray,
    sizes: NeighbourhoodSizes,
    dtype: npt.DTypeLike = np.float32,
) -> sp.csr_matrix:
    """Each row replaced by the mean of its ``sizes.expansion`` nearest rows (itself normally first).

    The averaging matrix is built in ``dtype`` (the result has the wider of
    it and the weights' dtype) and sums in the order of ``ranked``'s columns:
    float sums depend on both, so a caller reproducing a reference picks them.
    """
    averaging = neighbour_rows(ranked[:, : sizes.expansion], 1 / sizes.expansion, dtype)
    return averaging @ weights


def sparse_jaccard_distance(
    weights: sp.csr_matrix, others: sp.spmatrix | None = None, clip_at_zero: bool = True
) -> sp.csr_matrix:
    """Jaccard distance ``1 - sum(min) / sum(max)`` between rows of ``weights`` and of ``others``.

    ``others`` defaults to ``weights`` itself (all pairs of its rows). Only pairs
    that share a column are stored, with explicit zeros kept; any other pair is
    at distance 1. Rows must be non-negative and sum to 1, which makes
    ``sum(max) = 2 - sum(min)`` (the form both references use); the min-sums
    accumulate in the weights' dtype, over each row in its stored column order.
    ``clip_at_zero`` as in :func:`jaccard_from_min_sums`.
    """
    min_sums = shared_min_sums(weights, others)
    # A new matrix on the same pattern: scipy arithmetic would drop the explicit zeros.
    distances = jaccard_from_min_sums(min_sums.data, clip_at_zero)
    return sp.csr_matrix((distances, min_sums.indices, min_sums.indptr), shape=min_sums.shape)


def jaccard_from_min_sums(min_sums: np.ndarray, clip_at_zero: bool = True) -> np.ndarray:
    """Jaccard distance ``1 - sum(min) / sum(max)`` from the min-sums alone.

    Every weight row sums to 1, so ``sum(max) = 2 - sum(min)``. Rounding can
    make a distance slightly negative (rows whose sums exceed 1 by an ulp,
    against themselves or an equal row): the cluster-contrast reference clips
    it to 0, Zhong et al.'s re-ranking keeps it; ``clip_at_zero`` chooses.
    """
    distances = 1 - min_sums / (2 - min_sums)
    return np.maximum(distances, 0) if clip_at_zero else distances
