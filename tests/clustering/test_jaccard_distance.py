"""The sparse Jaccard graph against the dense oracle."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from robustreid.clustering import jaccard_distance_dense, jaccard_distance_sparse, knn
from robustreid.clustering.kreciprocal import sparse_jaccard_distance


def densified(graph) -> np.ndarray:
    """The sparse graph as a dense matrix, with 1 for the pairs it does not store."""
    coo = graph.tocoo()
    dense = np.ones(graph.shape, dtype=np.float32)
    dense[coo.row, coo.col] = coo.data
    return dense


def test_sparse_distances_equal_the_dense_oracle(feature_set):
    _, x = feature_set
    dense = jaccard_distance_dense(x, k1=30, k2=6)
    sparse = jaccard_distance_sparse(x, k1=30, k2=6)
    assert sparse.shape == dense.shape == (len(x), len(x))
    assert np.abs(densified(sparse) - dense).max() <= 1e-5
    assert sparse.nnz == np.count_nonzero(dense < 1)  # exactly the pairs that share support are stored
    assert np.count_nonzero(dense < 0.6) > 0  # the sets do have close pairs


def test_copies_are_stored_at_zero_distance(duplicated_features):
    x = duplicated_features
    graph = jaccard_distance_sparse(x).tocoo()
    _, row_group = np.unique(x, axis=0, return_inverse=True)
    is_copy = (row_group[graph.row] == row_group[graph.col]) & (graph.row != graph.col)
    assert np.count_nonzero(is_copy) == len(x)  # every row's copy is stored ...
    assert graph.data[is_copy].max() <= 1e-6  # ... at distance 0 up to float32 rounding
    assert np.count_nonzero((graph.data == 0) & (graph.row != graph.col)) > 0  # explicit zeros are kept


def test_distance_is_zero_to_itself_and_symmetric(make_blobs):
    x = make_blobs(n_ids=10, per_id=12, spread=0.9, n_noise=10, seed=7)[0]
    dense = jaccard_distance_sparse(x).toarray()  # stored entries only; the rest read as 0 here
    assert np.allclose(np.diag(dense), 0, atol=1e-6)
    assert np.allclose(dense, dense.T, atol=1e-6)


def test_query_expansion_can_be_switched_off(make_blobs):
    x = make_blobs(n_ids=10, per_id=12, spread=0.9, seed=8)[0]
    dense = jaccard_distance_dense(x, k1=20, k2=1)
    assert np.abs(densified(jaccard_distance_sparse(x, k1=20, k2=1)) - dense).max() <= 1e-5
    assert not np.allclose(dense, jaccard_distance_dense(x, k1=20, k2=6), atol=1e-3)


def test_a_precomputed_knn_is_reused(make_blobs):
    x = make_blobs(n_ids=10, per_id=12, spread=0.9, seed=9)[0]
    reused = jaccard_distance_sparse(x, k1=30, neighbours=knn(x, 40))  # extra columns are ignored
    assert (reused != jaccard_distance_sparse(x, k1=30)).nnz == 0
    with pytest.raises(ValueError, match="at least 30 columns"):
        jaccard_distance_sparse(x, k1=30, neighbours=knn(x, 10))


@pytest.mark.parametrize("bad", [np.zeros(5, np.float32), np.full((4, 3), np.nan, np.float32)])
def test_malformed_features_are_rejected(bad):
    with pytest.raises(ValueError, match="2-D|NaN"):
        jaccard_distance_sparse(bad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_against_other_rows_are_a_block_of_all_pairs(dtype):
    rng = np.random.default_rng(5)
    weights = sp.random(40, 60, density=0.15, format="csr", random_state=rng, dtype=dtype)
    weights = sp.diags(1 / np.asarray(weights.sum(axis=1)).ravel()) @ weights  # rows sum to 1
    all_pairs = sparse_jaccard_distance(weights)
    block = sparse_jaccard_distance(weights[:15], weights[15:])
    assert block.shape == (15, 25) and block.dtype == dtype
    assert (block != all_pairs[:15, 15:]).nnz == 0
    assert block.nnz == (weights[:15] @ weights[15:].T).nnz  # exactly the pairs that share a column
