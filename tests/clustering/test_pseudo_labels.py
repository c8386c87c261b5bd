"""Pseudo-labels: the fast path gives the oracle's labels and reproduces the reference."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.metrics import adjusted_rand_score

from robustreid.clustering import cluster_pseudo_labels
from robustreid.clustering.pseudo_labels import _neighbour_graph

REPO = Path(__file__).resolve().parents[2]
REFERENCE_CANDIDATES = [root / "shared" / "reference" / "pseudo_labels" for root in (REPO, REPO.parent)]
REFERENCE = next((p for p in REFERENCE_CANDIDATES if p.is_dir()), REFERENCE_CANDIDATES[-1])
FIXTURE_LABELS = REFERENCE / "labels_N3000_seed0.npy"


def test_sparse_labels_equal_the_dense_oracle(feature_set):
    _, x = feature_set
    sparse = cluster_pseudo_labels(x, method="sparse")
    dense = cluster_pseudo_labels(x, method="dense")
    assert sparse.dtype == np.int64
    assert adjusted_rand_score(dense, sparse) >= 0.999
    assert np.array_equal(np.unique(sparse[sparse >= 0]), np.arange(sparse.max() + 1))


@pytest.mark.parametrize("n", [1, 2])
def test_one_or_two_samples_do_not_crash(n, make_blobs):
    x = make_blobs(n_ids=1, per_id=n, spread=0.5)[0]
    assert cluster_pseudo_labels(x).tolist() == [-1] * n  # fewer than min_samples
    assert cluster_pseudo_labels(x, min_samples=1).tolist() == [0] * n  # every sample neighbours every other


def test_well_separated_identities_are_recovered(make_blobs):
    x, ids = make_blobs(n_ids=8, per_id=10, spread=0.4, seed=11)
    labels = cluster_pseudo_labels(x, k1=10, k2=3)
    assert adjusted_rand_score(ids, labels) == 1.0


def test_scaled_rows_and_tensors_give_the_same_labels(make_blobs):
    x = make_blobs(n_ids=12, per_id=10, spread=0.9, n_noise=10, seed=12)[0]
    scale = np.random.default_rng(0).uniform(0.5, 3.0, size=(len(x), 1)).astype(np.float32)
    labels = cluster_pseudo_labels(x)
    assert np.array_equal(cluster_pseudo_labels(torch.from_numpy(x * scale)), labels)


def test_dbscan_graph_keeps_explicit_zeros_and_drops_pairs_beyond_eps():
    distances = sp.csr_matrix(
        (np.array([0.0, 0.0, 0.3, 0.7, 0.0, 0.0], np.float32), ([0, 0, 1, 1, 1, 2], [0, 1, 2, 0, 1, 2])),
        shape=(3, 3),
    )
    graph = _neighbour_graph(distances, eps=0.6)
    assert graph.nnz == 5  # four stored zeros and the pair at 0.3; the pair at 0.7 is gone
    assert graph.toarray()[1].tolist() == [0.0, 0.0, pytest.approx(0.3)]
    assert [graph.data[graph.indptr[1] : graph.indptr[2]].tolist()] == [[0.0, pytest.approx(0.3)]]


def test_sparse_method_refuses_eps_at_or_above_one(make_blobs):
    with pytest.raises(ValueError, match=r"eps=1.0 must be in \(0, 1\) with method=sparse"):
        cluster_pseudo_labels(make_blobs(n_ids=3, per_id=5, spread=0.5)[0], eps=1.0)
    with pytest.raises(ValueError, match="unknown cluster.method 'hnsw'; choose sparse, dense, infomap"):
        cluster_pseudo_labels(make_blobs(n_ids=3, per_id=5, spread=0.5)[0], method="hnsw")


def load_make_feats():
    spec = importlib.util.spec_from_file_location("make_features", REFERENCE / "make_features.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_feats


@pytest.mark.skipif(not FIXTURE_LABELS.exists(), reason=f"reference fixture {FIXTURE_LABELS} not present")
@pytest.mark.parametrize("method", ["sparse", "dense"])
def test_reproduces_the_reference_labels(method):
    features, _ = load_make_feats()(3000, 174, seed=0)
    expected = np.load(FIXTURE_LABELS)
    labels = cluster_pseudo_labels(features, eps=0.6, min_samples=4, k1=30, k2=6, method=method)
    assert adjusted_rand_score(expected, labels) >= 0.999
    assert (labels.max() + 1, np.count_nonzero(labels < 0)) == (163, 150)
