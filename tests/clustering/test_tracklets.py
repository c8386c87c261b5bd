"""Tracklets: alike images of one camera and recording a few frames apart are clustered as one."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from robustreid.clustering import ClusterConfig, PseudoLabeler
from robustreid.clustering.tracklets import tracklet_means, tracklets
from robustreid.errors import ConfigError

A, B = [1.0, 0.0], [0.0, 1.0]
#                  0 and 1 walk past | 2: far in time | 3: other recording | 4: other camera | 5: unlike
FEATURES = np.array([A, A, A, A, A, B], dtype=np.float32)
CAMERAS = np.array([0, 0, 0, 0, 1, 0])
STAMPS = np.array([[1, 100], [1, 250], [1, 5000], [2, 120], [1, 110], [1, 150]])


def test_a_tracklet_needs_one_camera_and_recording_few_frames_apart_and_alike_features():
    ids = tracklets(FEATURES, CAMERAS, STAMPS, gap=200, similarity=0.5)
    assert ids[0] == ids[1]
    assert len(set(ids.tolist())) == 5  # 0-1 one tracklet; 2, 3, 4 and 5 each alone
    assert len(set(tracklets(FEATURES, CAMERAS, STAMPS, gap=100, similarity=0.5).tolist())) == 6


def test_each_feature_is_blended_with_its_tracklets_mean():
    features = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    stamps = np.array([[1, 0], [1, 10], [1, 9000]])
    blended, count = tracklet_means(features, np.zeros(3, dtype=np.int64), stamps, weight=0.5)
    mean = (features[0] + features[1]) / np.linalg.norm(features[0] + features[1])
    expected = 0.5 * features[0] + 0.5 * mean
    np.testing.assert_allclose(blended[0], expected / np.linalg.norm(expected), rtol=1e-6)
    np.testing.assert_allclose(blended[2], features[2])  # alone in its tracklet: unchanged
    assert count == 2
    assert blended.dtype == np.float32


def walking_people(spread: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """40 people, each walking past 2 cameras in 5 frames 10 apart (one recording), with noisy
    frames: (features, cameras, stamps, ids)."""
    rng = np.random.default_rng(seed)
    people, cameras, frames, dim = 40, 2, 5, 64
    centres = rng.standard_normal((people, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    ids = np.repeat(np.arange(people), cameras * frames)
    camera = np.tile(np.repeat(np.arange(cameras), frames), people)
    frame = np.tile(np.arange(frames) * 10, people * cameras) + ids * 1000
    features = centres[ids] + spread * rng.standard_normal((len(ids), dim)) / np.sqrt(dim)
    features = (features / np.linalg.norm(features, axis=1, keepdims=True)).astype(np.float32)
    return features, camera, np.column_stack([np.ones_like(frame), frame]), ids


def test_the_labeler_clusters_noisy_frames_better_by_their_tracklets():
    features, cameras, stamps, ids = walking_people(spread=1.2)
    plain, _ = PseudoLabeler(ClusterConfig(k1=10, k2=3))(features, cameras)
    joined, figures = PseudoLabeler(ClusterConfig(k1=10, k2=3, tracklet_weight=1.0), stamps=stamps)(
        features, cameras
    )
    assert adjusted_rand_score(ids, joined) > adjusted_rand_score(ids, plain) + 0.02  # 0.992 against 0.959
    assert 80 < figures["tracklets"] < len(ids)  # 80 walks past a camera; some noisy frames stay alone


def test_the_labeler_needs_the_stamps_the_setting_reads_and_ignores_them_without_it():
    with pytest.raises(ConfigError, match="cluster.tracklet_weight needs each training image's time stamp"):
        PseudoLabeler(ClusterConfig(tracklet_weight=0.5))
    features, cameras, stamps, _ = walking_people(spread=1.2)
    _, figures = PseudoLabeler(ClusterConfig(k1=10, k2=3), stamps=stamps)(features, cameras)
    assert "tracklets" not in figures
