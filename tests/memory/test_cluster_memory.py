import math

import pytest
import torch
import torch.nn.functional as F

from robustreid.errors import ConfigError
from robustreid.memory.cluster_memory import ClusterMemory, momentum_update
from robustreid.memory.settings import MEMORY_UPDATE, PROTOTYPE_INIT, MemoryConfig
from robustreid.memory.strategies import UpdateContext


def unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


def test_mean_init_ignores_outliers_and_normalises():
    feats = unit([1, 0], [0, 1], [1, 0], [0, 1], [-1, 0])
    labels = torch.tensor([0, 0, 1, 1, -1])
    memory = ClusterMemory(MemoryConfig(init="mean"))
    memory.initialise(feats, labels)
    s = 1 / math.sqrt(2)
    torch.testing.assert_close(memory.prototypes, torch.tensor([[s, s], [s, s]]))


def test_cluster_nce_equals_cross_entropy_over_temperature():
    memory = ClusterMemory(MemoryConfig(temperature=0.5))
    memory.prototypes = unit([1, 0], [0, 1])
    feats = unit([1, 0])
    # logits = [1, 0] / 0.5 = [2, 0]; CE for target 0 = log(1 + e^-2)
    assert memory(feats, torch.tensor([0])).item() == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-6)


def test_momentum_update_is_sequential_per_class():
    prototypes = unit([1, 0], [0, 1])
    feats = unit([0, 1], [1, 0], [0, 1])
    targets = torch.tensor([0, 1, 0])
    expected = prototypes.clone()
    for f, y in zip(feats, targets, strict=False):  # the plain sequential definition
        expected[y] = F.normalize(0.2 * expected[y] + 0.8 * f, dim=0)
    momentum_update(prototypes, feats, targets, momentum=0.2)
    torch.testing.assert_close(prototypes, expected)


def test_hard_update_uses_least_similar_sample_per_class():
    prototypes = unit([1, 0], [0, 1])
    feats = unit([1, 0.1], [1, 1], [0.1, 1])  # class 0: second sample is the harder one
    chosen = MEMORY_UPDATE.get("hard")(UpdateContext(feats, torch.tensor([0, 0, 1]), prototypes))
    assert chosen.tolist() == [1, 2]


def test_update_moves_prototype_towards_sample_and_keeps_unit_norm():
    memory = ClusterMemory(MemoryConfig(momentum=0.5, update="mean"))
    memory.prototypes = unit([1, 0], [0, 1])
    assert memory.update(unit([0, 1]), torch.tensor([0])).tolist() == [0]  # the batch positions it used
    s = 1 / math.sqrt(2)
    torch.testing.assert_close(memory.prototypes, torch.tensor([[s, s], [0.0, 1.0]]))


def test_unknown_strategy_lists_available():
    with pytest.raises(ConfigError, match="unknown prototype init 'nope'; available: .*mean"):
        ClusterMemory(MemoryConfig(init="nope"))
    assert {"mean", "hard"} <= set(MEMORY_UPDATE.names())
    assert "mean" in PROTOTYPE_INIT.names()
