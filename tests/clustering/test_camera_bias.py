"""Camera-debiased clustering: planted camera bias that camera-blind clustering follows, and the fix."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from robustreid.clustering import ClusterConfig, PseudoLabeler
from robustreid.clustering.camera_bias import (
    auto_penalty,
    centre_per_camera,
    cross_camera_base_rate,
    penalised_neighbours,
)
from robustreid.clustering.neighbours import knn
from robustreid.config import load_config
from robustreid.errors import ConfigError

FIXED = {"eps": 0.5, "k1": 6, "k2": 2, "min_samples": 2}


def biased_crops(scene_weight: float, per_camera_scenes: int = 1, identities: int = 60, seed: int = 0):
    """4 crops per person, 2 in each of 2 cameras; each crop also carries one of its camera's scenes.

    With one scene per camera the bias is a shared offset; with several, a crop is close to
    the crops of the same scene, which no camera mean removes. Returns (features, ids, cameras).
    """
    rng = np.random.default_rng(seed)
    dim = 64
    ids = np.repeat(np.arange(identities), 4)
    cameras = np.tile([0, 0, 1, 1], identities)
    scenes = rng.integers(0, per_camera_scenes, size=len(ids))
    people = rng.standard_normal((identities, dim))
    backgrounds = rng.standard_normal((2, per_camera_scenes, dim))
    noise = 0.5 * rng.standard_normal((len(ids), dim))
    return people[ids] + scene_weight * backgrounds[cameras, scenes] + noise, ids, cameras


def test_base_rate_is_the_chance_that_another_image_is_from_another_camera():
    assert cross_camera_base_rate(np.array([0, 0, 1, 1])) == pytest.approx(2 / 3)
    assert cross_camera_base_rate(np.array([0, 0, 0, 1])) == pytest.approx(0.5)
    assert cross_camera_base_rate(np.array([3, 3, 3])) == 0.0


def test_centring_removes_each_cameras_mean():
    features, _, cameras = biased_crops(scene_weight=1.5)
    centred = centre_per_camera(features, cameras)
    assert np.allclose(np.linalg.norm(centred, axis=1), 1, atol=1e-5)
    unnormalised = [features[cameras == c] - features[cameras == c].mean(0) for c in (0, 1)]
    expected = unnormalised[0] / np.linalg.norm(unnormalised[0], axis=1)[:, None]
    np.testing.assert_allclose(centred[cameras == 0], expected, atol=1e-5)


def test_a_camera_offset_splits_every_person_by_camera_unless_debiased():
    features, ids, cameras = biased_crops(scene_weight=1.5)
    blind, blind_figures = PseudoLabeler(ClusterConfig(**FIXED))(features, cameras)
    assert blind_figures["cross_camera_share"] == 0.0  # every person split in two
    assert adjusted_rand_score(ids, blind) < 0.6  # measured 0.49
    labels, figures = PseudoLabeler(ClusterConfig(**FIXED, camera_penalty="auto"))(features, cameras)
    assert adjusted_rand_score(ids, labels) > 0.95  # measured 1.0
    assert figures["cluster_camera_penalty"] == 0.0  # centring alone removed the offset


def test_scenes_that_centring_leaves_need_the_penalty():
    features, ids, cameras = biased_crops(scene_weight=0.9, per_camera_scenes=8)
    blind, blind_figures = PseudoLabeler(ClusterConfig(**FIXED))(features, cameras)
    labels, figures = PseudoLabeler(ClusterConfig(**FIXED, camera_penalty="auto"))(features, cameras)
    assert figures["cluster_camera_penalty"] > 0  # measured 0.1
    assert adjusted_rand_score(ids, labels) > adjusted_rand_score(ids, blind) + 0.2  # measured 0.47 vs 0.11
    assert figures["cross_camera_share"] > 0.8 > blind_figures["cross_camera_share"]


def test_the_penalty_reorders_same_camera_pairs_and_spares_the_sample_itself():
    similarities = np.array([[1.0, 0.9, 0.85], [1.0, 0.9, 0.5], [1.0, 0.85, 0.5]], dtype=np.float32)
    indices = np.array([[0, 1, 2], [1, 0, 2], [2, 0, 1]])
    cameras = np.array([0, 0, 1])
    scores, order = penalised_neighbours((similarities, indices), cameras, 3, penalty=0.1)
    assert order[0].tolist() == [0, 2, 1]  # 0.85 across cameras now beats 0.9 - 0.1 within
    assert scores[0].tolist() == pytest.approx([1.0, 0.85, 0.8])
    assert order[2].tolist() == [2, 0, 1]  # sample 2 has no same-camera neighbour: unchanged


def test_auto_gives_no_penalty_where_neighbours_already_mix_cameras():
    rng = np.random.default_rng(1)
    features = rng.standard_normal((200, 16)).astype(np.float32)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    cameras = rng.integers(0, 2, size=200)
    assert auto_penalty(knn(features, 20), cameras) == 0.0


def test_one_camera_clusters_camera_blind(caplog):
    features, _, _ = biased_crops(scene_weight=0.0)
    one_camera = np.zeros(len(features), dtype=np.int64)
    blind, _ = PseudoLabeler(ClusterConfig(**FIXED))(features)
    with caplog.at_level(logging.INFO, logger="robustreid"):
        labels, figures = PseudoLabeler(ClusterConfig(**FIXED, camera_penalty="auto"))(features, one_camera)
    np.testing.assert_array_equal(labels, blind)
    assert "cluster_camera_penalty" not in figures and "cross_camera_share" not in figures
    assert "one camera" in caplog.text


@pytest.mark.parametrize(
    "override, message",
    [
        ("cluster.camera_penalty=-0.1", ">= 0"),
        ("cluster.camera_penalty=often", "a number or 'auto'"),
    ],
)
def test_a_bad_camera_penalty_is_a_config_error(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


@pytest.mark.parametrize("value, expected", [("0", 0.0), ("0.1", 0.1), ("auto", "auto")])
def test_camera_penalty_takes_ints_floats_and_auto(value, expected):
    assert load_config(None, [f"cluster.camera_penalty={value}"]).cluster.camera_penalty == expected


def test_the_dense_oracle_refuses_a_camera_penalty():
    with pytest.raises(ConfigError, match="needs cluster.method=sparse"):
        load_config(None, ["cluster.camera_penalty=auto", "cluster.method=dense"])
