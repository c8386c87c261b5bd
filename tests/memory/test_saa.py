import pytest
import torch
import torch.nn.functional as F

from robustreid.memory.saa import (
    SelfAttentionAggregator,
    aggregate_clusters,
    pack_clusters,
    random_rank_within_cluster,
    train_saa,
)
from robustreid.memory.settings import DISPERSION, SAA_OBJECTIVES

DIM = 16


def small_saa(**kwargs) -> SelfAttentionAggregator:
    torch.manual_seed(0)
    return SelfAttentionAggregator(DIM, width=kwargs.pop("width", 32), heads=kwargs.pop("heads", 4), **kwargs)


def trained_away_from_mean(saa: SelfAttentionAggregator) -> SelfAttentionAggregator:
    """Non-zero pooling parameters, so that weights are not uniform (as after training)."""
    with torch.no_grad():
        saa.pool_query.normal_()
        saa.agreement_gain.fill_(0.5)
    return saa


def tight_clusters(num_clusters: int = 6, size: int = 10, spread: float = 0.15, seed: int = 0):
    """Unit features around random centres; returns features, labels, centres."""
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(num_clusters, DIM, generator=g), dim=1)
    labels = torch.arange(num_clusters).repeat_interleave(size)
    noise = spread * torch.randn(len(labels), DIM, generator=g) / DIM**0.5
    return F.normalize(centres[labels] + noise, dim=1), labels, centres


def test_untrained_saa_is_exactly_the_mean():
    members = F.normalize(torch.randn(2, 5, DIM), dim=2)
    padding = torch.tensor([[False] * 5, [False, False, False, True, True]])
    prototypes, weights = small_saa()(members, padding)
    torch.testing.assert_close(weights, torch.tensor([[0.2] * 5, [1 / 3] * 3 + [0.0] * 2]))
    expected = F.normalize(torch.stack([members[0].mean(0), members[1, :3].mean(0)]), dim=1)
    torch.testing.assert_close(prototypes, expected)


def test_member_order_does_not_matter():
    saa = trained_away_from_mean(small_saa(layers=2)).eval()
    members = F.normalize(torch.randn(2, 6, DIM), dim=2)
    padding = torch.zeros(2, 6, dtype=torch.bool)
    padding[1, 4:] = True
    prototypes, weights = saa(members, padding)
    assert weights[0].std() > 0.01  # a real test: the weights are not uniform
    order = torch.tensor([[5, 2, 0, 4, 1, 3], [4, 1, 3, 5, 0, 2]])  # padding moves too
    shuffled = torch.gather(members, 1, order[..., None].expand_as(members))
    prototypes_shuffled, weights_shuffled = saa(shuffled, torch.gather(padding, 1, order))
    torch.testing.assert_close(prototypes_shuffled, prototypes)
    torch.testing.assert_close(weights_shuffled, torch.gather(weights, 1, order))


def test_pack_cuts_large_clusters_into_even_chunks_using_every_member_once():
    labels = torch.tensor([0] * 10 + [2] * 3)  # cluster 1 is empty
    features = torch.randn(len(labels), DIM)
    packed = pack_clusters(features, labels, num_clusters=3, max_set_size=4)
    assert packed.cluster.tolist() == [0, 0, 0, 2]
    assert sorted((~packed.padding).sum(1).tolist()) == [3, 3, 3, 4]
    assert sorted(packed.positions[~packed.padding].tolist()) == list(range(13))
    real = ~packed.padding
    torch.testing.assert_close(packed.members[real], features[packed.positions[real]])


def test_aggregate_combines_chunks_into_cluster_weights():
    features, labels, _ = tight_clusters(num_clusters=2, size=10)
    prototypes, weights = aggregate_clusters(
        trained_away_from_mean(small_saa()), features, labels, 2, max_set_size=4
    )
    sums = torch.zeros(2).index_add(0, labels, weights)
    torch.testing.assert_close(sums, torch.ones(2))
    expected = F.normalize(torch.zeros(2, DIM).index_add(0, labels, weights[:, None] * features), dim=1)
    torch.testing.assert_close(prototypes, expected)
    # untrained: every member of a 10-member cluster weighs 1/10, even across chunks
    _, uniform = aggregate_clusters(small_saa(), features, labels, 2, max_set_size=4)
    torch.testing.assert_close(uniform, torch.full((20,), 0.1))


def test_random_rank_is_a_permutation_within_each_cluster():
    torch.manual_seed(0)
    labels = torch.tensor([1, 0, 1, 1, 0, 2])
    rank = random_rank_within_cluster(labels, 3)
    for c, n in [(0, 2), (1, 3), (2, 1)]:
        assert sorted(rank[labels == c].tolist()) == list(range(n))


@pytest.mark.parametrize("objective", ["split_half", "planted"])
def test_gradients_reach_every_parameter(objective):
    features, labels, _ = tight_clusters()
    saa = small_saa(layers=2)
    options = {"max_set_size": 8, "temperature": 0.05, "planted_fraction": 1.0, "planted_loss_weight": 1.0}
    train_saa(saa, torch.optim.Adam(saa.parameters(), lr=1e-2), features, labels, 6, 1, objective, **options)
    saa.zero_grad()
    SAA_OBJECTIVES.get(objective)(saa, features, labels, 6, **options).backward()
    for name, parameter in saa.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_trained_saa_discounts_a_planted_outlier():
    features, labels, centres = tight_clusters(num_clusters=8, size=12)
    outlier = F.normalize(centres[0] + centres[1], dim=0)  # a look-alike between clusters 0 and 1
    features = torch.cat([features, outlier[None]])
    labels = torch.cat([labels, torch.tensor([1])])
    torch.manual_seed(0)
    saa = small_saa()
    train_saa(
        saa,
        torch.optim.Adam(saa.parameters(), lr=3e-3),
        features,
        labels,
        8,
        60,
        "planted",
        max_set_size=16,
        temperature=0.05,
        planted_fraction=0.5,
        planted_loss_weight=1.0,
    )
    with torch.no_grad():
        prototypes, weights = aggregate_clusters(saa, features, labels, 8, max_set_size=16)
    members = labels == 1
    clean_centre = F.normalize(features[members][:-1].mean(0), dim=0)
    mean = F.normalize(features[members].mean(0), dim=0)
    assert 1 - prototypes[1] @ clean_centre < 0.5 * (1 - mean @ clean_centre)
    assert weights[members].argmin() == members.sum() - 1  # the outlier weighs least


def test_dispersion_by_weight_and_by_distance():
    features = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]), dim=1)
    labels = torch.tensor([0, 0, 1])
    prototypes = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    weights = torch.tensor([0.75, 0.25, 1.0])
    by_weight = DISPERSION.get("weight")(features, labels, prototypes, weights)
    torch.testing.assert_close(by_weight, torch.tensor([-0.5, 0.5, 0.0]))
    by_distance = DISPERSION.get("distance")(features, labels, prototypes, weights)
    torch.testing.assert_close(by_distance, torch.tensor([0.0, 1.0, 0.0]))
