"""kNN: the exact backends against a brute-force ranking, the approximate one against the exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robustreid.clustering import knn
from robustreid.clustering import neighbours as neighbours_module
from robustreid.clustering.neighbours import APPROXIMATE_ABOVE, backend_for, neighbour_recall
from robustreid.errors import ConfigError


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


@pytest.mark.parametrize("dim", [64, 512], ids=["scanned-as-is", "scanned-in-128-principal-dims"])
def test_approximate_search_finds_99_percent_of_the_exact_neighbours(dim, planted_identities):
    x, _ = planted_identities(6000, dim=dim)
    exact = knn(x, 30, backend="torch")[1]
    similarities, indices = knn(x, 30, backend="ivf")
    assert similarities.shape == indices.shape == (6000, 30) and indices.dtype == np.int64
    assert neighbour_recall(indices, exact) >= 0.99  # measured 0.991 (64 dims), 0.994 (512)
    assert np.all(np.diff(similarities, axis=1) <= 0)
    assert np.array_equal(indices[:, 0], np.arange(6000))
    computed = np.einsum("nd,nkd->nk", x, x[indices])
    assert np.abs(similarities - computed).max() < 1e-5  # ranked by exact similarities


@pytest.mark.parametrize("backend", ["torch", "faiss", "ivf"])
def test_a_subset_of_rows_finds_what_the_whole_search_finds_for_them(backend, make_blobs):
    x = make_blobs(n_ids=20, per_id=15, spread=1.0, n_noise=13)[0]
    rows = np.arange(5, 313, 7)
    similarities, indices = knn(x, 10, backend=backend)
    part_similarities, part_indices = knn(x, 10, backend=backend, rows=rows)
    assert np.array_equal(part_indices, indices[rows])
    np.testing.assert_allclose(part_similarities, similarities[rows], atol=1e-6)
    assert knn(x, 10, backend=backend, rows=slice(300, 300))[1].shape == (0, 10)  # a rank without rows


def test_rows_whose_probed_lists_hold_fewer_than_k_samples_are_searched_exactly(monkeypatch, make_blobs):
    monkeypatch.setattr(neighbours_module, "_calibrated_probes", lambda *args: 1)
    x = make_blobs(n_ids=20, per_id=20, spread=1.0)[0]  # 50 lists of about 8 samples each
    _, indices = knn(x, 200, backend="ivf")
    assert [set(row) for row in indices.tolist()] == brute_force_neighbour_sets(x, 200)


def test_cluster_knn_chooses_the_approximate_search_above_the_threshold_on_a_cpu(monkeypatch):
    monkeypatch.setattr(neighbours_module, "_faiss_has_gpu", lambda: False)
    assert backend_for("exact", 10 * APPROXIMATE_ABOVE) == "auto"
    assert backend_for("approximate", 100) == "ivf"
    assert backend_for("auto", APPROXIMATE_ABOVE) == "auto"
    assert backend_for("auto", APPROXIMATE_ABOVE + 1) == "ivf"
    monkeypatch.setattr(neighbours_module, "_faiss_has_gpu", lambda: True)
    assert backend_for("auto", 10 * APPROXIMATE_ABOVE) == "auto"  # the exact search on the GPU
    with pytest.raises(ConfigError, match="unknown cluster.knn 'fast'; choose exact, approximate, auto"):
        backend_for("fast", 100)
