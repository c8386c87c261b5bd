"""Prototype initialisation and memory update strategies, selected by name in the config.

An *init* strategy maps (member features, labels, number of clusters) to one
prototype per cluster. An *update* strategy picks which batch samples update their
class prototypes and returns their batch positions (in the order to apply them);
:func:`robustreid.memory.cluster_memory.momentum_update` then applies them.
Positions rather than features, so that the trainer can also tell *which* samples
moved the memory (a diagnostic). Adding a strategy is one registered function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from robustreid.utils.registry import Registry

InitFn = Callable[..., torch.Tensor]
UpdateFn = Callable[..., torch.Tensor]

PROTOTYPE_INIT: Registry[InitFn] = Registry("prototype init")
MEMORY_UPDATE: Registry[UpdateFn] = Registry("memory update")


@PROTOTYPE_INIT.register("mean")
def mean_prototypes(
    features: torch.Tensor, labels: torch.Tensor, num_clusters: int, **_: Any
) -> torch.Tensor:
    """Cluster Contrast: the mean of each cluster's member features."""
    sums = torch.zeros(num_clusters, features.shape[1], dtype=torch.float32, device=features.device)
    sums.index_add_(0, labels, features.float())
    counts = torch.bincount(labels, minlength=num_clusters).clamp(min=1)
    return sums / counts[:, None]


@MEMORY_UPDATE.register("mean")
def update_by_every_sample(
    features: torch.Tensor, targets: torch.Tensor, prototypes: torch.Tensor, **_: Any
) -> torch.Tensor:
    """Every sample in the batch updates its class prototype."""
    return torch.arange(len(targets), device=targets.device)


def update_by_highest_score(targets: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Per class in the batch (in class order), the position of its highest-scoring sample (ties: the first)."""
    classes, inverse = torch.unique(targets, return_inverse=True)
    best = torch.full((len(classes),), float("-inf"), dtype=scores.dtype, device=scores.device)
    best.scatter_reduce_(0, inverse, scores, reduce="amax")
    is_best = scores == best[inverse]
    position = torch.arange(len(targets), device=targets.device)
    first = torch.full((len(classes),), len(targets), dtype=torch.long, device=targets.device)
    return first.scatter_reduce_(0, inverse[is_best], position[is_best], reduce="amin")


@MEMORY_UPDATE.register("hard")
def update_by_hardest_by_cosine(
    features: torch.Tensor, targets: torch.Tensor, prototypes: torch.Tensor, **_: Any
) -> torch.Tensor:
    """Cluster Contrast "hard": the sample least similar to its current prototype."""
    similarity = (features * prototypes[targets]).sum(dim=1)
    return update_by_highest_score(targets, -similarity)
