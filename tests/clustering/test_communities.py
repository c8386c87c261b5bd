"""cluster.method=infomap: InfoMap's communities of the sparse Jaccard graph."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

from robustreid.clustering import ClusterConfig, PseudoLabeler, cluster_pseudo_labels
from robustreid.clustering.communities import infomap_labels
from robustreid.config import load_config
from robustreid.errors import ConfigError


def test_infomap_recovers_well_separated_identities(make_blobs):
    x, ids = make_blobs(n_ids=30, per_id=12, spread=0.5, seed=4)
    labels = cluster_pseudo_labels(x, method="infomap")
    assert labels.dtype == np.int64
    assert adjusted_rand_score(ids, labels) >= 0.95  # measured 1.0


def test_the_labeler_clusters_by_infomap_with_auto_settings_too(planted_identities):
    features, ids = planted_identities(3000)
    for config in (ClusterConfig(method="infomap"), ClusterConfig(method="infomap", eps="auto", k1="auto")):
        labels, _ = PseudoLabeler(config)(features)
        assert adjusted_rand_score(ids, labels) >= 0.95


def test_lone_samples_are_outliers_and_clusters_are_numbered_in_order_of_appearance():
    # samples 1, 2, 4 close together, 0 and 5 duplicates (a stored 0), 3 linked to nobody within eps
    pairs = {(1, 2): 0.1, (1, 4): 0.2, (2, 4): 0.1, (0, 5): 0.0, (3, 4): 0.9}
    rows, cols = np.array(list(pairs)).T
    both_ways = (np.r_[rows, cols], np.r_[cols, rows])
    distances = sp.csr_matrix((2 * list(pairs.values()), both_ways), shape=(6, 6), dtype=np.float32)
    assert infomap_labels(distances, eps=0.6).tolist() == [0, 1, 1, -1, 1, 0]


def test_infomap_needs_an_eps_below_one():
    with pytest.raises(ConfigError, match=r"with cluster.method=infomap, whose Jaccard graph omits"):
        load_config(None, ["cluster.method=infomap", "cluster.eps=1.0"])
    assert load_config(None, ["cluster.method=infomap"]).cluster.method == "infomap"


def test_without_the_infomap_package_the_config_fails_naming_the_extra(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "infomap" else real_find_spec(name, *a)
    )
    with pytest.raises(ConfigError, match=r"pip install 'robustreid\[infomap\]'"):
        ClusterConfig(method="infomap")
