"""Pieces of the k-reciprocal Jaccard distance shared by the dense and sparse paths."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NeighbourhoodSizes:
    """How many ranked neighbours (the sample itself included) each step reads.

    The cluster-contrast reference searches ``k1`` neighbours, self included,
    and slices ``[:k1 + 1]`` for R(i, k1), which yields only those ``k1``
    columns; for the half-size sets R(j, round(k1/2)) the slice
    ``[:round(k1/2) + 1]`` does take ``round(k1/2) + 1`` columns. Its labels are
    only reproduced with that asymmetry, so it is kept here in one place.
    Every size is clamped to the number of samples so that tiny sets work.
    """

    searched: int
    half: int
    expansion: int

    @classmethod
    def for_samples(cls, n_samples: int, k1: int, k2: int) -> NeighbourhoodSizes:
        if k1 < 1 or k2 < 1:
            raise ValueError(f"k1 and k2 must be positive, got k1={k1}, k2={k2}")
        searched = min(k1, n_samples)
        # round() halves to even, as numpy.around in the reference.
        return cls(searched=searched, half=min(round(k1 / 2) + 1, searched), expansion=min(k2, searched))


def jaccard_from_min_sums(min_sums: np.ndarray) -> np.ndarray:
    """Jaccard distance ``1 - sum(min) / sum(max)`` from the min-sums alone.

    Every weight row sums to 1, so ``sum(max) = 2 - sum(min)``: this is the
    form the reference uses. Rounding can make a distance slightly negative
    (a row against itself); the reference clips it to 0, and so do we.
    """
    return np.maximum(1 - min_sums / (2 - min_sums), 0)
