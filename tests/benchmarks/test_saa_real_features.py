"""benchmarks/saa_real_features.py: the camera-centred candidate, and what HPS's skip avoids and gives up."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from robustreid.config.variants import NOISE_QUANTILE
from robustreid.memory.estimators import ClusterSets, trimmed_estimate

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from saa_real_features import Scored, camera_centred_estimate, co_membership, group_share  # noqa: E402


def camera_bound_cluster():
    """Cluster 0: person A three times under camera 0 and once under camera 1, and person B under camera 0.

    Each camera adds a strong direction of its own (axes 0 and 1), so B looks closer to
    cluster 0's mean than A does under the other camera. Clusters 1 and 2 (persons C and
    D, two images under each camera) give the cameras their means.
    """
    axes = torch.eye(8)
    cam = {0: 2 * axes[0], 1: 2 * axes[1]}
    person = {"A": axes[2], "B": axes[3], "C": axes[4], "D": axes[5]}
    shots = [("A", 0)] * 3 + [("A", 1), ("B", 0)] + [("C", 0), ("C", 1)] * 2 + [("D", 0), ("D", 1)] * 2
    features = F.normalize(torch.stack([person[p] + cam[c] for p, c in shots]), dim=1)
    labels = torch.tensor([0] * 5 + [1] * 4 + [2] * 4)
    return ClusterSets.build(features, labels, torch.tensor([c for _, c in shots]))


def test_camera_centred_ranks_the_intruder_under_the_same_camera_highest():
    sets = camera_bound_cluster()
    assert int(trimmed_estimate(sets)[1][:5].argmax()) == 3  # camera-blind: A under the other camera
    prototypes, dispersion = camera_centred_estimate(sets)
    assert int(dispersion[:5].argmax()) == 4  # B
    torch.testing.assert_close(prototypes[0], F.normalize(sets.features[:4].mean(0), dim=0))


def test_camera_centred_without_cameras_is_the_trimmed_estimate():
    sets = ClusterSets.build(F.normalize(torch.randn(9, 8), dim=1), torch.tensor([0, 0, 0, 0, 1, 1, 1, 2, 2]))
    for got, want in zip(camera_centred_estimate(sets), trimmed_estimate(sets), strict=True):
        torch.testing.assert_close(got, want)


def test_group_share_is_each_members_camera_share_of_its_cluster():
    shares = group_share(np.array([0, 0, 0, 1, 1]), np.array([0, 0, 1, 2, 2]))
    np.testing.assert_allclose(shares, [2 / 3, 2 / 3, 1 / 3, 1, 1])


def test_skipped_counts_what_hps_avoids_and_gives_up_above_the_noise_quantile():
    misplaced = np.array([False, False, False, True, False, True])
    shares = np.array([0.5, 0.5, 0.25, 0.5, 0.75, 0.5])
    scored = Scored(None, misplaced, None, None, None, None, shares, None)  # only what skipped() reads
    figures = scored.skipped(np.array([0.1, 0.2, 0.9, 0.8, 0.3, 0.7]))  # median 0.5: skips 0.9, 0.8, 0.7
    assert NOISE_QUANTILE == 0.5
    assert figures == {
        "skipped_misplaced": 1.0,
        "skipped_right": 0.25,
        "camera_share_skipped_right": 0.25,
        "camera_share_kept_right": round((0.5 + 0.5 + 0.75) / 3, 4),
    }


def test_co_membership_is_the_share_of_a_members_cluster_that_the_other_clustering_keeps_with_it():
    labels = np.array([0, 0, 0, 0, 1, 1, -1])
    other = np.array([5, 5, 5, -1, 2, 3, 2])  # member 3 an outlier there; cluster 1 split
    np.testing.assert_allclose(co_membership(labels, other), [3 / 4, 3 / 4, 3 / 4, 0, 1 / 2, 1 / 2])


def test_auc_far_scores_only_the_far_members():
    misplaced = np.array([True, False, True, False, False])
    far = np.array([True, True, False, False, False])
    sets = ClusterSets.build(F.normalize(torch.randn(5, 3), dim=1), torch.tensor([0, 0, 0, 0, 1]))
    shares = np.ones(5)
    scored = Scored(sets, misplaced, torch.zeros(2, 3), np.array([True, False]), None, None, shares, far)
    # the far misplaced member is ranked above the far right one; the near ones the other way
    figures = scored.score(torch.ones(2, 3), torch.tensor([0.9, 0.1, 0.0, 1.0, 0.5]))
    assert figures["auc_far"] == 1.0
    assert figures["auc_within"] == 0.25
    assert figures["auc_all"] == round(2 / 6, 4)
