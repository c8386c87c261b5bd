"""PseudoLabeler: auto settings from the data alone, and the collapse guard on planted degenerate cases."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from robustreid.clustering import ClusterConfig, GuardConfig, PseudoLabeler, collapse_problems
from robustreid.errors import ConfigError


def planted(identities: int, per_identity: int, spread: float = 0.25, dim: int = 64, seed: int = 0):
    """Identities as tight groups around random centres: (features, true ids)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((identities, dim))
    ids = np.repeat(np.arange(identities), per_identity)
    features = centres[ids] + spread * rng.standard_normal((len(ids), dim))
    return (features / np.linalg.norm(features, axis=1, keepdims=True)).astype(np.float32), ids


AUTO = ClusterConfig(eps="auto", min_samples="auto", k1="auto", k2="auto")


def test_auto_keeps_the_reference_settings_where_they_hold():
    features, ids = planted(identities=60, per_identity=16)
    labels, figures = PseudoLabeler(AUTO)(features)
    reference, _ = PseudoLabeler(ClusterConfig())(features)
    assert figures["cluster_auto"] == "reference" and figures["cluster_k1"] == 30
    assert np.array_equal(labels, reference)  # the same clustering as the hand-set values
    assert adjusted_rand_score(ids, labels) > 0.9


def test_auto_derives_settings_that_fit_four_images_per_person_when_the_reference_collapses(caplog):
    features, ids = planted(identities=150, per_identity=4)
    labeler = PseudoLabeler(AUTO)
    labeler.previous_labels = ids  # a planted previous epoch with one cluster per person
    with caplog.at_level(logging.INFO, logger="robustreid"):
        labels, figures = labeler(features)
    # k1=30, min_samples=4 merge the sets of 4 into 64 clusters (ARI 0.32): fewer than half of 150
    assert "clustering failed drop with the reference settings" in caplog.text
    assert figures["cluster_auto"] == "derived" and figures["collapse"] == []
    assert figures["identity_size"] == pytest.approx(4, abs=1)
    assert (figures["cluster_k1"], figures["cluster_min_samples"]) == (8, 2)
    assert adjusted_rand_score(ids, labels) > 0.9  # measured 0.99


@pytest.mark.parametrize(
    "labels, previous, check",
    [
        (np.r_[np.zeros(90, int), np.arange(1, 11)], None, "largest"),
        (np.repeat(np.arange(20), 5), 60, "drop"),
        (np.r_[-np.ones(95, int), np.arange(5)], None, "outliers"),
        (np.zeros(200, int), None, "few"),
    ],
    ids=["one-giant-cluster", "count-halved", "all-outliers", "tiny-count"],
)
def test_each_check_flags_its_planted_degenerate_clustering(labels, previous, check):
    problems = collapse_problems(labels, previous, GuardConfig())
    assert check in [p.check for p in problems]
    assert "cluster." in next(p.message for p in problems if p.check == check)  # names the setting to change


def test_a_healthy_clustering_passes_every_check():
    assert collapse_problems(np.repeat(np.arange(25), 4), 24, GuardConfig()) == []


def test_collapse_is_warned_with_fixed_settings_and_re_derived_with_auto(caplog):
    features, ids = planted(identities=150, per_identity=4, spread=0.35)
    with caplog.at_level(logging.WARNING, logger="robustreid"):
        merged, figures = PseudoLabeler(ClusterConfig(eps=0.95, min_samples=2, k1=30, k2=6))(features)
    assert "largest" in figures["collapse"] and "clusters are merging people" in caplog.text
    caplog.clear()
    labeler = PseudoLabeler(AUTO)
    labeler.previous_labels = np.arange(
        len(features)
    )  # a planted previous epoch: every image its own cluster
    with caplog.at_level(logging.INFO, logger="robustreid"):
        _, figures = labeler(features)
    assert "clustering failed drop with the derived settings; deriving the auto settings again" in caplog.text
    assert figures["cluster_k1"] < 8 and "drop" in figures["collapse"]  # smaller each time, then warned


def test_a_count_drop_is_read_against_the_last_clustering_with_the_same_settings():
    """One rejection of the reference must not lock auto into derived settings for the rest of the run."""
    features, _ = planted(identities=60, per_identity=16)
    labeler = PseudoLabeler(AUTO)
    labeler.previous_labels = np.arange(len(features)) % 200  # the last epoch kept 200 derived clusters
    labeler.cluster_counts = {"reference": 60, "derived": 200}
    labels, figures = labeler(features)
    assert figures["cluster_auto"] == "reference" and figures["collapse"] == []  # 60 against 60, not 200
    assert labeler.cluster_counts["reference"] == labels.max() + 1 == 60


def test_stability_compares_consecutive_epochs_and_survives_a_resume():
    features, _ = planted(identities=40, per_identity=4)
    labeler = PseudoLabeler(AUTO)
    first, _ = labeler(features)
    resumed = PseudoLabeler(AUTO)
    resumed.load_state_dict(labeler.state_dict())
    assert resumed.cluster_counts == labeler.cluster_counts
    assert resumed(features)[1]["stability"] == pytest.approx(1.0)


def test_only_numbers_or_auto_are_accepted():
    with pytest.raises(ConfigError, match="cluster.eps must be a number or 'auto'"):
        ClusterConfig(eps="large")
