"""PseudoLabeler: auto settings from the data alone, and the collapse guard on planted degenerate cases."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from robustreid.clustering import ClusterConfig, GuardConfig, PseudoLabeler, collapse_problems
from robustreid.clustering.camera_bias import auto_penalty
from robustreid.clustering.neighbours import knn
from robustreid.clustering.pseudo_labels import jaccard_distance
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


def test_auto_derives_at_the_first_clustering_when_the_reference_merges_people_the_guard_passes(caplog):
    features, ids = planted(identities=150, per_identity=3)
    cameras = ids % 2  # each person seen by one of two cameras
    labeler = PseudoLabeler(AUTO)
    with caplog.at_level(logging.INFO, logger="robustreid"):
        labels, figures = labeler(features, cameras)
    # no check of the guard fails (38 clusters), but their median holds 7 images against 3 in each of 2 cameras
    assert "clustering failed oversized with the reference settings" in caplog.text
    assert figures["cluster_auto"] == "derived" and figures["collapse"] == []
    assert adjusted_rand_score(ids, labels) > 0.9  # measured 1.0
    later = PseudoLabeler(AUTO)
    later.previous_labels = PseudoLabeler(ClusterConfig())(features)[0]  # an epoch on the same clusters
    assert later(features, cameras)[1]["cluster_auto"] == "reference"  # decided at the first clustering only
    # without camera ids the bound is one camera's share of a person: it decides nothing
    assert PseudoLabeler(AUTO)(features)[1]["cluster_auto"] == "reference"


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


def chained(people: int, per_person: int, step: float = 0.3, spread: float = 0.1, seed: int = 0):
    """People whose centres lie along a random walk: k1=30 chains them all into one cluster,
    small neighbourhoods keep them apart. (features, true ids)"""
    rng = np.random.default_rng(seed)
    centres = np.cumsum(step * rng.standard_normal((people, 64)), axis=0)
    ids = np.repeat(np.arange(people), per_person)
    features = centres[ids] + spread * rng.standard_normal((len(ids), 64))
    return (features / np.linalg.norm(features, axis=1, keepdims=True)).astype(np.float32), ids


def settings_of(figures: dict) -> tuple:
    return tuple(figures[f"cluster_{key}"] for key in ("k1", "k2", "min_samples", "eps"))


@pytest.fixture
def tried_k1(monkeypatch) -> list[int]:
    """The k1 of every clustering the labeler makes, in order."""
    tried = []

    def recording(features, k1, *args, **kwargs):
        tried.append(k1)
        return jaccard_distance(features, k1, *args, **kwargs)

    monkeypatch.setattr("robustreid.clustering.labeler.jaccard_distance", recording)
    return tried


def test_auto_keeps_the_derived_settings_once_the_reference_failed(tried_k1, caplog):
    sound, _ = planted(identities=100, per_identity=6)  # the reference finds the 100 people
    chain, _ = chained(people=100, per_person=6)  # the reference merges them into one cluster
    labeler = PseudoLabeler(AUTO)
    assert labeler(sound)[1]["cluster_auto"] == "reference"
    with caplog.at_level(logging.INFO, logger="robustreid"):
        derived_labels, derived = labeler(chain)
    assert derived["cluster_auto"] == "derived" and derived["collapse"] == []
    assert settings_of(derived) == (12, 2, 2, pytest.approx(0.265, abs=0.001))  # measured
    assert (
        "the reference settings failed the guard (largest, drop, few); keeping derived settings k1 12"
        in caplog.text
    )
    # the reference would pass the guard on these features again, as it did in the first call
    reference_labels, _ = PseudoLabeler(ClusterConfig())(sound)
    assert collapse_problems(reference_labels, len(np.unique(derived_labels)), GuardConfig()) == []
    tried_k1.clear()
    labels, kept = labeler(sound)
    assert kept["cluster_auto"] == "kept" and settings_of(kept) == settings_of(derived)
    assert tried_k1 == [12]  # one clustering, with the kept settings: the reference is not tried
    assert len(np.unique(labels)) == 100


def test_the_kept_camera_penalty_is_not_searched_again(monkeypatch):
    sound, _ = planted(identities=100, per_identity=6)
    chain, _ = chained(people=100, per_person=6)
    cameras = np.random.default_rng(0).integers(0, 2, size=len(sound))
    labeler = PseudoLabeler(replace(AUTO, camera_penalty="auto"))
    derived = labeler(chain, cameras)[1]
    assert derived["cluster_auto"] == "derived" and "cluster_camera_penalty" in derived
    searched = []

    def recording(*args):
        searched.append(args)
        return auto_penalty(*args)

    monkeypatch.setattr("robustreid.clustering.camera_bias.auto_penalty", recording)
    kept = labeler(sound, cameras)[1]
    assert kept["cluster_auto"] == "kept" and searched == []
    assert kept["cluster_camera_penalty"] == derived["cluster_camera_penalty"]


def test_where_the_reference_always_passes_auto_labels_as_the_reference(tried_k1):
    auto, reference = PseudoLabeler(AUTO), PseudoLabeler(ClusterConfig())
    for epoch, spread in enumerate((0.3, 0.25, 0.2)):  # features that tighten as training goes on
        features, _ = planted(identities=60, per_identity=16, spread=spread, seed=epoch)
        labels, figures = auto(features)
        assert figures["cluster_auto"] == "reference" and figures["collapse"] == []
        np.testing.assert_array_equal(labels, reference(features)[0])
    assert auto.kept is None and set(tried_k1) == {30}


def test_the_kept_settings_survive_a_resume_and_old_checkpoints_still_load(tmp_path):
    sound, _ = planted(identities=100, per_identity=6)
    chain, _ = chained(people=100, per_person=6)
    labeler = PseudoLabeler(AUTO)
    derived = labeler(chain)[1]
    torch.save(labeler.state_dict(), tmp_path / "checkpoint.pth")
    resumed = PseudoLabeler(AUTO)
    resumed.load_state_dict(torch.load(tmp_path / "checkpoint.pth", weights_only=True))
    kept = resumed(sound)[1]
    assert kept["cluster_auto"] == "kept" and settings_of(kept) == settings_of(derived)
    before_the_key = {"previous_labels": torch.zeros(len(sound), dtype=torch.int64), "cluster_counts": {}}
    old = PseudoLabeler(AUTO)
    old.load_state_dict(before_the_key)
    assert old.kept is None and old(sound)[1]["cluster_auto"] == "reference"


def test_kept_settings_that_fail_the_guard_are_derived_again_and_kept(caplog):
    config = replace(AUTO, guard=GuardConfig(max_outlier_share=0.3))
    tight_chain, _ = chained(people=100, per_person=6, spread=0.05)  # derives a small eps
    looser, ids = planted(identities=100, per_identity=6, spread=0.6)  # half outliers at that eps
    labeler = PseudoLabeler(config)
    first = labeler(tight_chain)[1]
    with caplog.at_level(logging.INFO, logger="robustreid"):
        labels, again = labeler(looser)
    assert "clustering failed outliers with the kept settings" in caplog.text
    assert again["cluster_auto"] == "derived" and again["collapse"] == []
    assert again["cluster_eps"] > first["cluster_eps"] + 0.2  # measured 0.127, then 0.500
    assert adjusted_rand_score(ids, labels) > 0.9
    kept = labeler(looser)[1]
    assert kept["cluster_auto"] == "kept" and settings_of(kept) == settings_of(again)


def test_stability_compares_consecutive_epochs_and_survives_a_resume():
    features, _ = planted(identities=40, per_identity=4)
    labeler = PseudoLabeler(AUTO)
    first, _ = labeler(features)
    resumed = PseudoLabeler(AUTO)
    resumed.load_state_dict(labeler.state_dict())
    assert resumed(features)[1]["stability"] == pytest.approx(1.0)


def test_only_numbers_or_auto_are_accepted():
    with pytest.raises(ConfigError, match="cluster.eps must be a number or 'auto'"):
        ClusterConfig(eps="large")


def test_approximate_neighbours_give_the_labels_of_exact_ones(planted_identities):
    features, ids = planted_identities(6000)
    exact, _ = PseudoLabeler(ClusterConfig(knn="exact"))(features)
    approximate, _ = PseudoLabeler(ClusterConfig(knn="approximate"))(features)
    assert adjusted_rand_score(exact, approximate) >= 0.99  # measured 0.9997
    assert adjusted_rand_score(ids, exact) > 0.9


def test_every_search_of_the_labeler_is_its_own_with_the_configured_backend(monkeypatch):
    """The reference's, the derived and the camera-debiased clusterings all search through the labeler
    (which torchrun's ranks share); the Jaccard step never searches by itself."""
    chain, _ = chained(people=100, per_person=6)  # the reference fails: settings are derived
    cameras = np.random.default_rng(0).integers(0, 2, size=len(chain))
    backends = []

    def recording(features, k, backend):
        backends.append(backend)
        return knn(features, k, backend)

    def refused(*args, **kwargs):
        raise AssertionError("the Jaccard step searched by itself")

    monkeypatch.setattr("robustreid.clustering.jaccard_sparse.knn", refused)
    labeler = PseudoLabeler(replace(AUTO, camera_penalty="auto", knn="approximate"), search=recording)
    assert labeler(chain, cameras)[1]["cluster_auto"] == "derived"
    assert labeler(chain, cameras)[1]["cluster_auto"] == "kept"
    assert len(backends) >= 3 and set(backends) == {"ivf"}


def test_auto_keeps_the_reference_when_its_clusters_are_person_sized_despite_one_merge(caplog):
    people, _ = planted(identities=40, per_identity=16)  # the reference finds each of them
    chain, _ = chained(people=60, per_person=6)  # ...and merges most of these into one cluster
    features = np.concatenate([people, chain])
    labeler = PseudoLabeler(AUTO)
    with caplog.at_level(logging.INFO, logger="robustreid"):
        labels, figures = labeler(features)
    assert figures["collapse"] == ["largest"]  # the merged region: 28 % of the images
    assert figures["cluster_auto"] == "reference" and labeler.kept is None
    assert "deriving" not in caplog.text
    np.testing.assert_array_equal(labels, PseudoLabeler(ClusterConfig())(features)[0])
    # the typical cluster is one person: 16 images, within the identity-size estimate
    assert np.median(np.unique(labels[labels >= 0], return_counts=True)[1]) <= figures["identity_size"]
