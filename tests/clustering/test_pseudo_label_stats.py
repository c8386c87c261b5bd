"""Pseudo-label diagnostics on hand-checked labellings."""

from __future__ import annotations

import numpy as np
import pytest

from robustreid.clustering import cross_camera_share, pseudo_label_stats


def test_counts_and_sizes():
    stats = pseudo_label_stats(np.array([0, 0, 0, 1, 1, -1, 2, 2, 2, 2]))
    assert stats == {
        "num_samples": 10,
        "num_clusters": 3,
        "num_outliers": 1,
        "cluster_size_min": 2,
        "cluster_size_median": 3.0,
        "cluster_size_max": 4,
    }


def test_purity_counts_each_cluster_majority():
    labels = np.array([0, 0, 0, 1, 1, -1])
    true_ids = np.array([5, 5, 6, 7, 7, 7])
    assert pseudo_label_stats(labels, true_ids)["purity"] == pytest.approx(4 / 5)


def test_perfect_labelling_up_to_renumbering():
    true_ids = np.array([3, 3, 9, 9, 9, 4])
    stats = pseudo_label_stats(np.array([1, 1, 0, 0, 0, 2]), true_ids)
    assert stats["purity"] == 1.0 and stats["nmi"] == pytest.approx(1.0)


def test_outliers_count_as_singletons_in_nmi():
    true_ids = np.array([1, 1, 2, 2])
    assert pseudo_label_stats(np.array([0, 0, 1, 1]), true_ids)["nmi"] == pytest.approx(1.0)
    assert pseudo_label_stats(np.array([-1, -1, 0, 0]), true_ids)["nmi"] < 0.9


def test_no_clusters_and_mismatched_truth():
    stats = pseudo_label_stats(np.array([-1, -1]), np.array([0, 1]))
    assert stats["num_clusters"] == 0 and np.isnan(stats["purity"])
    with pytest.raises(ValueError, match="shape"):
        pseudo_label_stats(np.array([0, 1]), np.array([0, 1, 2]))


def test_cross_camera_share_counts_the_clusters_that_span_two_cameras():
    labels = np.array([0, 0, 1, 1, 2, -1, -1, 3, 3])
    cameras = np.array([1, 2, 1, 1, 3, 1, 2, 2, -1])
    # cluster 0 spans cameras 1 and 2; 1 and 2 hold one camera; the outliers do not count;
    # cluster 3's second member has no known camera
    assert cross_camera_share(labels, cameras) == pytest.approx(1 / 4)


@pytest.mark.parametrize(
    "labels, cameras",
    [
        (np.array([0, 0, 1]), None),
        (np.array([0, 0, 1]), np.array([4, 4, 4])),
        (np.array([0, 0, 1]), np.array([-1, -1, -1])),
        (np.array([-1, -1, -1]), np.array([0, 1, 0])),
    ],
    ids=["no-cameras", "one-camera", "unknown-cameras", "no-clusters"],
)
def test_cross_camera_share_is_none_where_it_cannot_be_told(labels, cameras):
    assert cross_camera_share(labels, cameras) is None
