"""benchmarks/_planted_labels.py: the controlled-noise bench's fixed labels have the mistakes it asks for."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from robustreid.clustering import pseudo_label_stats

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from _planted_labels import PlantedClusterer, PlantingError, merge_count, plant_mistakes  # noqa: E402


@pytest.fixture(scope="module")
def identities() -> tuple[np.ndarray, np.ndarray]:
    """60 identities of 6-10 images, each image its identity's random centre plus noise (16-D)."""
    rng = np.random.default_rng(0)
    sizes = rng.integers(6, 11, size=60)
    true_ids = np.repeat(np.arange(100, 160), sizes)  # ids need not start at 0
    centres = rng.normal(size=(60, 16))
    features = np.repeat(centres, sizes, axis=0) + 0.3 * rng.normal(size=(len(true_ids), 16))
    return true_ids, features


def compositions(labels: np.ndarray, true_ids: np.ndarray) -> list[list[int]]:
    """Per planted cluster, how many images of each identity it holds, largest first."""
    return [sorted(Counter(true_ids[labels == c]).values(), reverse=True) for c in np.unique(labels)]


@pytest.mark.parametrize("rate", [0.05, 0.1, 0.2])
def test_the_asked_share_of_images_is_moved_as_merges_and_intruders(identities, rate):
    true_ids, features = identities
    planted = plant_mistakes(true_ids, features, rate, merge_share=0.45, seed=1)
    assert planted.moved == round(rate * len(true_ids))
    assert pseudo_label_stats(planted.labels, true_ids)["purity"] == pytest.approx(
        1 - rate, abs=1 / len(true_ids)
    )
    clusters = compositions(planted.labels, true_ids)
    assert max(len(c) for c in clusters) <= 2  # pure, a merge of two identities, or one intruder
    assert sum(len(c) == 2 and c[1] > 1 for c in clusters) == planted.merges > 0
    assert sum(len(c) == 2 and c[1] == 1 for c in clusters) == planted.intruders > 0


def test_the_merge_count_gives_the_impure_clusters_share_nearest_the_asked_one():
    moved_by_merges = np.array([0, 8, 16, 24, 32])  # each merge moves 8 images
    # 30 moved: 3 merges and 6 intruders make 3 of 9 impure clusters merges; 4 merges would move 32
    assert merge_count(moved_by_merges, 30, merge_share=0.45, identities=100) == 3
    assert merge_count(moved_by_merges, 30, merge_share=0.0, identities=100) == 0
    # fewer identities leave too few unmerged clusters to receive the intruders: more merges, then none fit
    # (30 identities: 1 merge leaves 28 for 22 intruders; 20: 2 merges leave 16 for 14; 10: 3 leave 4 for 6)
    assert merge_count(moved_by_merges, 30, merge_share=0.0, identities=30) == 1
    assert merge_count(moved_by_merges, 30, merge_share=0.0, identities=20) == 2
    with pytest.raises(PlantingError, match="^10 training identities cannot hold 30 moved images"):
        merge_count(moved_by_merges, 30, merge_share=0.0, identities=10)


def test_rate_zero_gives_the_identities(identities):
    true_ids, features = identities
    planted = plant_mistakes(true_ids, features, 0.0, merge_share=0.45, seed=1)
    assert (planted.moved, planted.merges, planted.intruders) == (0, 0, 0)
    assert pseudo_label_stats(planted.labels, true_ids)["nmi"] == pytest.approx(1.0)
    assert len(np.unique(planted.labels)) == 60


def test_the_same_seed_plants_the_same_mistakes(identities):
    true_ids, features = identities
    first, again = (plant_mistakes(true_ids, features, 0.2, 0.45, seed=4) for _ in range(2))
    other = plant_mistakes(true_ids, features, 0.2, 0.45, seed=5)
    assert np.array_equal(first.labels, again.labels)
    assert not np.array_equal(first.labels, other.labels)


def test_an_intruder_joins_the_identity_it_looks_most_like(identities):
    true_ids, features = identities
    planted = plant_mistakes(true_ids, features, 1 / len(true_ids), merge_share=0.0, seed=2)
    assert (planted.merges, planted.intruders) == (0, 1)
    (intruder,) = [
        i
        for i in range(len(true_ids))
        if np.sum(planted.labels == planted.labels[i]) > 1
        and Counter(true_ids[planted.labels == planted.labels[i]]).most_common(1)[0][0] != true_ids[i]
    ]
    others = [pid for pid in np.unique(true_ids) if pid != true_ids[intruder]]
    centres = np.stack([features[true_ids == pid].mean(0) for pid in others])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    nearest = others[int(np.argmax(centres @ features[intruder]))]
    assert Counter(true_ids[planted.labels == planted.labels[intruder]]).most_common(1)[0][0] == nearest


def test_a_rate_the_identities_cannot_hold_is_one_clear_error(identities):
    true_ids, features = identities
    with pytest.raises(
        PlantingError, match=r"^60 training identities cannot hold \d+ moved images at a merge share of 0"
    ):
        plant_mistakes(true_ids, features, 0.5, merge_share=0.0, seed=1)


def test_the_clusterer_returns_the_labels_planted_on_its_first_call_and_keeps_them_in_its_state(identities):
    true_ids, features = identities
    clusterer = PlantedClusterer(true_ids, 0.1, 0.45, seed=3)
    labels, figures = clusterer(features)
    later, _ = clusterer(np.random.default_rng(9).normal(size=features.shape))  # a trained model's features
    assert np.array_equal(labels, later)
    assert figures["planted_moved_share"] == pytest.approx(round(0.1 * len(true_ids)) / len(true_ids))
    resumed = PlantedClusterer(true_ids, 0.1, 0.45, seed=3)
    resumed.load_state_dict(clusterer.state_dict())
    assert np.array_equal(resumed(features)[0], labels) and resumed(features)[1] == figures
    with pytest.raises(PlantingError, match="the trainer has 3 training images, the labels are for"):
        PlantedClusterer(true_ids, 0.1, 0.45, seed=3)(features[:3])
