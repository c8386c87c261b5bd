"""Prototype initialisation and memory update strategies, selected by name in the config.

An *init* strategy maps an :class:`InitContext` (the clustered members of an epoch)
to one prototype per cluster. An *update* strategy maps an :class:`UpdateContext`
(a training batch) to the batch positions of the samples that update their class
prototypes, in the order to apply them;
:func:`robustreid.memory.cluster_memory.momentum_update` then applies them.
Positions rather than features, so that the trainer can also tell *which* samples
moved the memory (a diagnostic). Both contexts carry the memory's
:class:`MemoryState`, where an init strategy leaves what an update strategy reads
(the SAA that CSA trains and HPS ranks with). Adding a strategy is one registered
function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from robustreid.memory.saa import SAAConfig, SAAState
from robustreid.utils.registry import Registry


@dataclass
class MemoryState:
    """What strategies carry across batches and epochs; saved in the training checkpoint."""

    saa: SAAState | None = None  # trained by init "csa" / "mean+saa", read by update "hps"

    def state_dict(self) -> dict[str, object]:
        return {"saa": self.saa.state_dict() if self.saa is not None else None}

    def load_state_dict(
        self, saved: dict[str, object], options: SAAConfig, device: torch.device | str = "cpu"
    ) -> None:
        self.saa = (
            SAAState.from_state_dict(saved["saa"], options, device) if saved["saa"] is not None else None
        )


@dataclass
class InitContext:
    """An epoch's clustered samples (outliers removed) and what the init strategy may use."""

    features: torch.Tensor  # (M, D) member features
    labels: torch.Tensor  # (M,) cluster ids 0..C-1
    num_clusters: int
    sample_index: torch.Tensor  # (M,) dataset position of each member
    state: MemoryState = field(default_factory=MemoryState)
    options: SAAConfig = field(default_factory=SAAConfig)


@dataclass
class UpdateContext:
    """A training batch and what the update strategy may use."""

    features: torch.Tensor  # (B, D) L2-normalised batch features
    targets: torch.Tensor  # (B,) pseudo-labels
    prototypes: torch.Tensor  # (C, D) the memory before this update
    indices: torch.Tensor | None = (
        None  # (B,) dataset positions, needed by strategies that read per-sample state
    )
    state: MemoryState = field(default_factory=MemoryState)
    options: SAAConfig = field(default_factory=SAAConfig)


InitFn = Callable[[InitContext], torch.Tensor]
UpdateFn = Callable[[UpdateContext], torch.Tensor]

PROTOTYPE_INIT: Registry[InitFn] = Registry("prototype init")
MEMORY_UPDATE: Registry[UpdateFn] = Registry("memory update")


def mean_prototypes(features: torch.Tensor, labels: torch.Tensor, num_clusters: int) -> torch.Tensor:
    """The mean of each cluster's member features (a zero row for a cluster without members)."""
    sums = torch.zeros(num_clusters, features.shape[1], dtype=torch.float32, device=features.device)
    sums.index_add_(0, labels, features.float())
    counts = torch.bincount(labels, minlength=num_clusters).clamp(min=1)
    return sums / counts[:, None]


@PROTOTYPE_INIT.register("mean")
def init_by_mean(ctx: InitContext) -> torch.Tensor:
    """Cluster Contrast: the mean of each cluster's member features."""
    return mean_prototypes(ctx.features, ctx.labels, ctx.num_clusters)


@MEMORY_UPDATE.register("mean")
def update_by_every_sample(ctx: UpdateContext) -> torch.Tensor:
    """Every sample in the batch updates its class prototype."""
    return torch.arange(len(ctx.targets), device=ctx.targets.device)


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
def update_by_hardest_by_cosine(ctx: UpdateContext) -> torch.Tensor:
    """Cluster Contrast "hard": the sample least similar to its current prototype."""
    similarity = (ctx.features * ctx.prototypes[ctx.targets]).sum(dim=1)
    return update_by_highest_score(ctx.targets, -similarity)
