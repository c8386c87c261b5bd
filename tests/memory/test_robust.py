import math

import pytest
import torch
import torch.nn.functional as F

from robustreid.config import load_config
from robustreid.errors import ConfigError
from robustreid.memory.cluster_memory import ClusterMemory
from robustreid.memory.settings import MEMORY_UPDATE, MemoryConfig, SAAConfig

DIM = 8
FAST = {"width": 16, "heads": 2, "steps": 3, "max_set_size": 8}


def unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


def three_clusters():
    """Nine samples in clusters 0, 1, 2 plus one outlier (-1); sample 2 is cluster 0's hard positive."""
    axes = torch.eye(DIM)
    features = F.normalize(
        torch.stack(
            [
                axes[0] + 0.1 * axes[3],
                axes[0] + 0.1 * axes[4],
                axes[0] + 0.9 * axes[5],  # cluster 0
                axes[1] + 0.1 * axes[3],
                axes[1] + 0.2 * axes[4],
                axes[1] + 0.1 * axes[5],  # cluster 1
                axes[6],  # outlier
                axes[2] + 0.1 * axes[3],
                axes[2] + 0.1 * axes[4],
                axes[2] + 0.1 * axes[5],  # cluster 2
            ]
        ),
        dim=1,
    )
    labels = torch.tensor([0, 0, 0, 1, 1, 1, -1, 2, 2, 2])
    return features, labels


def memory_with(init="csa", update="hps", **options):
    torch.manual_seed(0)
    return ClusterMemory(
        MemoryConfig(momentum=0.5, init=init, update=update, saa=SAAConfig(**{**FAST, **options}))
    )


@pytest.mark.parametrize("source", ["epoch", "batch"])
def test_hps_updates_each_class_with_its_most_dispersed_member(source):
    features, labels = three_clusters()
    memory = memory_with(dispersion="distance", dispersion_source=source, steps=0)
    memory.initialise(features, labels)
    batch = torch.tensor([5, 0, 4, 1, 2, 3])
    chosen = memory.select_updaters(features[batch], labels[batch], batch)
    assert batch[chosen].tolist() == [2, 4]  # one per class: the members with the larger offsets


def test_hps_skips_members_flagged_as_noise():
    features, labels = three_clusters()
    # 8 of the 9 members are at or below the 8/9 quantile: only the most dispersed one, sample 2, is flagged
    memory = memory_with(dispersion="distance", steps=0, noise_quantile=8 / 9)
    memory.initialise(features, labels)
    assert memory.state.ranking.likely_noise.nonzero().squeeze(1).tolist() == [2]
    chosen = memory.select_updaters(features[:3], labels[:3], torch.arange(3))
    assert len(chosen) == 1 and chosen.item() != 2  # the next hardest member, not the flagged one
    assert features[chosen.item()] @ features[2] < 0.9
    none_left = memory.select_updaters(features[[2]], labels[[2]], torch.tensor([2]))
    assert none_left.numel() == 0  # a class with only flagged members is not updated


def test_csa_then_hps_end_to_end():
    features, labels = three_clusters()
    memory = memory_with(objective="planted", planted_fraction=1.0)
    memory.initialise(features, labels)
    state = memory.state.saa
    assert memory.prototypes.shape == (3, DIM)
    torch.testing.assert_close(memory.prototypes.norm(dim=1), torch.ones(3))
    assert len(state.losses) == 3 and all(math.isfinite(x) for x in state.losses)
    dispersion = memory.state.ranking.dispersion
    assert torch.isnan(dispersion[6]) and not torch.isnan(dispersion[labels >= 0]).any()
    before = memory.prototypes.clone()
    batch = torch.tensor([7, 8, 9])
    memory.update(features[batch], labels[batch], indices=batch)
    assert torch.equal(memory.prototypes[:2], before[:2])  # classes outside the batch do not move
    moved = memory.prototypes[2] @ before[2]
    assert 0.9 < moved < 1 - 1e-4
    module = state.module
    memory.initialise(features, labels)  # the next epoch warm-starts the same SAA
    assert memory.state.saa.module is module


def test_mean_plus_saa_keeps_mean_prototypes_but_trains_the_saa():
    features, labels = three_clusters()
    memory = memory_with(init="mean+saa")
    memory.initialise(features, labels)
    mean = ClusterMemory(MemoryConfig(init="mean"))
    mean.initialise(features, labels)
    torch.testing.assert_close(memory.prototypes, mean.prototypes)
    assert len(memory.state.saa.losses) == 3


def test_hps_without_a_trained_saa_says_which_init_to_use():
    memory = ClusterMemory(MemoryConfig(init="mean", update="hps"))
    memory.initialise(*three_clusters())
    with pytest.raises(ConfigError, match='init "csa" or "mean\\+saa"'):
        memory.update(unit([1, 0, 0, 0, 0, 0, 0, 0]), torch.tensor([0]), indices=torch.tensor([0]))


def test_saa_options_come_from_the_config():
    cfg = load_config(
        overrides=[
            "memory.init=csa",
            "memory.update=hps",
            "memory.saa.steps=2",
            "memory.saa.objective=planted",
            "memory.saa.width=16",
            "memory.saa.heads=2",
        ]
    )
    memory = ClusterMemory(cfg.memory)
    memory.initialise(*three_clusters())
    assert len(memory.state.saa.losses) == 2
    assert memory.state.saa.module.project[0].out_features == 16
    assert "hps" in MEMORY_UPDATE.names()


def test_hps_from_the_memory_without_a_skip_picks_cluster_contrasts_hard_updaters():
    features, labels = three_clusters()
    live = memory_with(init="mean+saa", aggregator="trimmed", dispersion_source="memory")
    hard = ClusterMemory(MemoryConfig(momentum=0.5, init="mean", update="hard"))
    stale = memory_with(init="mean+saa", aggregator="trimmed", dispersion_source="epoch")
    for memory in (live, hard, stale):
        memory.initialise(features, labels)
        memory.update(features[[2]], labels[[2]], indices=torch.tensor([2]))  # cluster 0 leans to sample 2
    batch = torch.tensor([0, 1, 2, 3, 4, 5])
    picks = {
        name: batch[memory.select_updaters(features[batch], labels[batch], batch)].tolist()
        for name, memory in {"live": live, "hard": hard, "stale": stale}.items()
    }
    assert picks["live"] == picks["hard"]
    assert picks["live"][0] != 2 and picks["stale"][0] == 2  # the epoch's ranking does not see the move


def test_hps_from_the_memory_still_skips_the_flagged_members():
    features, labels = three_clusters()
    memory = memory_with(
        init="mean+saa", aggregator="trimmed", dispersion_source="memory", noise_quantile=8 / 9
    )
    memory.initialise(features, labels)
    flagged = memory.state.ranking.likely_noise.nonzero().squeeze(1).tolist()
    chosen = torch.arange(3)[memory.select_updaters(features[:3], labels[:3], torch.arange(3))].tolist()
    assert flagged == [2] and len(chosen) == 1 and chosen != flagged
