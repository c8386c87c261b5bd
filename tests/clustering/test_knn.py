"""Exact kNN: both backends against a brute-force ranking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robustreid.clustering import knn


def brute_force_neighbour_sets(x: np.ndarray, k: int) -> list[set[int]]:
    order = np.argsort(-(x.astype(np.float64) @ x.T.astype(np.float64)), axis=1)[:, :k]
    return [set(row) for row in order.tolist()]


@pytest.mark.parametrize("backend", ["torch", "faiss"])
@pytest.mark.parametrize("block_size", [64, 4096])
def test_neighbours_are_the_exact_top_k(backend, block_size, make_blobs):
    # 313 rows: blocks of 64 leave a last block of 57
    x = make_blobs(n_ids=20, per_id=15, spread=1.0, n_noise=13)[0]
    similarities, indices = knn(x, 30, backend=backend, block_size=block_size)
    assert similarities.shape == indices.shape == (313, 30)
    assert [set(row) for row in indices.tolist()] == brute_force_neighbour_sets(x, 30)
    assert np.allclose(similarities, np.take_along_axis(x @ x.T, indices, axis=1), atol=1e-6)
    assert np.all(np.diff(similarities, axis=1) <= 0)
    assert np.array_equal(indices[:, 0], np.arange(313))  # no duplicates: each row finds itself first


def test_torch_backend_handles_blocks_smaller_than_k_and_tensor_input(make_blobs):
    x = make_blobs(n_ids=4, per_id=10, spread=0.5, seed=5)[0]
    _, indices = knn(torch.from_numpy(x), 12, backend="torch", block_size=7)
    assert [set(row) for row in indices.tolist()] == brute_force_neighbour_sets(x, 12)


def test_k_equal_to_n_returns_every_row(make_blobs):
    _, indices = knn(make_blobs(n_ids=2, per_id=3, spread=0.5)[0], 6, backend="torch")
    assert all(sorted(row) == list(range(6)) for row in indices.tolist())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 7}, "between 1 and the number of samples"),
        ({"k": 2, "backend": "annoy"}, "unknown knn backend"),
        ({"k": 2, "block_size": 0}, "block_size must be positive"),
    ],
)
def test_invalid_arguments_are_explained(kwargs, message, make_blobs):
    with pytest.raises(ValueError, match=message):
        knn(make_blobs(n_ids=2, per_id=3, spread=0.5)[0], **kwargs)
