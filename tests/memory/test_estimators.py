import pytest
import torch
import torch.nn.functional as F

from robustreid.memory.cluster_memory import ClusterMemory
from robustreid.memory.estimators import (
    ClusterSets,
    margin_estimate,
    mean_estimate,
    medoid_estimate,
    mode_estimate,
    split_estimate,
    trimmed_estimate,
    within_cluster_rank,
)
from robustreid.memory.settings import ESTIMATORS, MemoryConfig, SAAConfig

DIM = 6


def merged_cluster():
    """Cluster 0: four tight members near axis 0 and two look-alikes near axis 1; cluster 1 near axis 2."""
    axes = torch.eye(DIM)
    rows = [axes[0] + 0.05 * axes[3 + i % 3] for i in range(4)]
    rows += [axes[0] + axes[1] + 0.05 * axes[3 + i] for i in range(2)]
    rows += [axes[2] + 0.05 * axes[3 + i] for i in range(3)]
    labels = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 1])
    return ClusterSets.build(F.normalize(torch.stack(rows), dim=1), labels)


def test_build_drops_and_counts_outliers():
    features = F.normalize(torch.randn(5, DIM), dim=1)
    sets = ClusterSets.build(features, torch.tensor([0, -1, 1, 1, -1]))
    assert sets.outliers == 2 and sets.labels.tolist() == [0, 1, 1] and sets.num_clusters == 2


def test_mean_is_the_normalised_cluster_mean():
    sets = merged_cluster()
    prototypes, distance = mean_estimate(sets)
    torch.testing.assert_close(prototypes[0], F.normalize(sets.features[:6].mean(0), dim=0))
    torch.testing.assert_close(distance, 1 - (sets.features * prototypes[sets.labels]).sum(1))


def test_robust_estimators_move_towards_the_majority_and_rank_the_look_alikes_last():
    sets = merged_cluster()
    majority = F.normalize(sets.features[:4].mean(0), dim=0)
    mean_error = 1 - mean_estimate(sets)[0][0] @ majority
    for estimate in (trimmed_estimate, mode_estimate, split_estimate, medoid_estimate, margin_estimate):
        prototypes, dispersion = estimate(sets)
        assert dispersion[4:6].min() > dispersion[:4].max(), estimate.__name__
        if estimate is not margin_estimate:  # the look-alikes are no closer to cluster 1: margin keeps them
            assert 1 - prototypes[0] @ majority < mean_error / 2, estimate.__name__


def test_trimmed_keeps_the_nearest_share():
    sets = merged_cluster()
    prototypes, _ = trimmed_estimate(sets, keep=4 / 6)  # exactly the four majority members stay
    torch.testing.assert_close(prototypes[0], F.normalize(sets.features[:4].mean(0), dim=0))


def test_mode_at_a_high_temperature_is_the_mean():
    sets = merged_cluster()
    torch.testing.assert_close(
        mode_estimate(sets, temperature=1e4)[0], mean_estimate(sets)[0], atol=1e-4, rtol=0
    )


def test_neighbour_share_counts_same_cluster_neighbours():
    sets = merged_cluster()
    share = sets.neighbour_share(k=2)
    assert share[6:].tolist() == [1.0, 1.0, 1.0]  # cluster 1's members are each other's nearest
    assert share[:4].tolist() == [1.0, 1.0, 1.0, 1.0]


def test_margin_is_positive_for_a_member_closer_to_another_cluster():
    axes = torch.eye(DIM)
    features = F.normalize(torch.stack([axes[0], axes[0], axes[1], axes[1], axes[1] + 0.1 * axes[0]]), dim=1)
    sets = ClusterSets.build(
        features, torch.tensor([0, 0, 1, 1, 0])
    )  # the last member belongs with cluster 1
    _, margin = margin_estimate(sets)
    assert margin[4] > 0 and (margin[:4] < 0).all()


def test_within_cluster_rank():
    ranks = within_cluster_rank(torch.tensor([0.3, 0.1, 0.2, 5.0, 4.0]), torch.tensor([0, 0, 0, 1, 1]))
    torch.testing.assert_close(ranks, torch.tensor([2 / 3, 0.0, 1 / 3, 1 / 2, 0.0]))


@pytest.mark.parametrize("name", ESTIMATORS.names())
def test_every_estimator_gives_unit_prototypes_and_one_dispersion_per_member(name):
    sets = merged_cluster()
    prototypes, dispersion = ESTIMATORS.get(name)(sets)
    assert prototypes.shape == (2, DIM) and dispersion.shape == (len(sets.labels),)
    torch.testing.assert_close(prototypes.norm(dim=1), torch.ones(2))


def test_an_estimator_aggregates_for_csa_and_ranks_for_hps_without_an_saa():
    sets = merged_cluster()
    memory = ClusterMemory(MemoryConfig(init="csa", update="hps", saa=SAAConfig(aggregator="trimmed")))
    memory.initialise(sets.features, sets.labels)
    prototypes, dispersion = trimmed_estimate(sets)
    torch.testing.assert_close(memory.prototypes, prototypes)
    torch.testing.assert_close(memory.state.ranking.dispersion, dispersion)
    assert memory.state.saa is None  # nothing trained
    batch = torch.tensor([0, 1, 4, 6, 7])
    chosen = memory.select_updaters(sets.features[batch], sets.labels[batch], batch)
    assert batch[chosen].tolist() == [4, int(6 + dispersion[6:].argmax())]  # the most dispersed per class
