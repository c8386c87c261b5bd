"""Exact inner products of each query with its own candidates (a numba kernel).

The approximate search ranks about 150 candidates per query by their full-dimension similarity.
A matrix product against the union of a block of queries' candidates computes many products that
no query needs, and gathering each query's candidate rows into one tensor first copies N x 150 x d
floats; this kernel reads each candidate row in place, once per query that asked for it.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(parallel=True, fastmath=True, cache=True)
def candidate_products(x: np.ndarray, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``out[i, j] = x[queries[i]] . x[candidates[i, j]]``; -inf where the candidate is -1 (none)."""
    out = np.empty(candidates.shape, dtype=np.float32)
    for i in numba.prange(candidates.shape[0]):
        query = x[queries[i]]
        for j in range(candidates.shape[1]):
            c = candidates[i, j]
            if c < 0:
                out[i, j] = -np.inf
                continue
            row = x[c]
            total = np.float32(0.0)
            for t in range(x.shape[1]):
                total += query[t] * row[t]
            out[i, j] = total
    return out
