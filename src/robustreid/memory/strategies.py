"""Prototype initialisation and memory update strategies, selected by name in the config.

An *init* strategy maps an :class:`InitContext` (the clustered members of an epoch)
to one prototype per cluster. An *update* strategy maps an :class:`UpdateContext`
(a training batch) to the batch positions of the samples that update their class
prototypes, in the order to apply them;
:func:`robustreid.memory.cluster_memory.momentum_update` then applies them.
Positions rather than features, so that the trainer can also tell *which* samples
moved the memory (a diagnostic). Both contexts carry the memory's
:class:`MemoryState`, where an init strategy leaves what an update strategy reads
(the SAA that CSA trains and HPS ranks with). Adding a strategy is one function and
its name in :data:`~robustreid.memory.settings.PROTOTYPE_INIT` or
:data:`~robustreid.memory.settings.MEMORY_UPDATE`; a user registers their own there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from robustreid.memory.camera_proxies import cluster_camera_groups
from robustreid.memory.saa import SAAState
from robustreid.memory.settings import SAAConfig


def member_reliability(
    features: torch.Tensor, labels: torch.Tensor, cameras: torch.Tensor | None = None
) -> torch.Tensor:
    """Per sample, the cosine of its feature to the mean of the *other* members of its group (NaN for outliers).

    The group is the member's cluster seen from its own camera (3C's camera groups), or
    the whole cluster when ``cameras`` is None or the member is its camera's only one.
    A true member of a cluster that spans cameras still looks like the other views from
    its camera; a clustering mistake usually does not. Leaving the member out keeps a
    sample from vouching for itself.
    """
    keep = labels >= 0
    members, cluster = features[keep].float(), labels[keep]
    reliability = torch.full((len(labels),), float("nan"), device=features.device)
    similarity, _ = _similarity_to_the_others(members, cluster)
    if cameras is not None:
        group, _ = cluster_camera_groups(labels, cameras)
        by_camera, group_size = _similarity_to_the_others(members, group[keep])
        similarity = torch.where(group_size > 1, by_camera, similarity)
    reliability[keep] = similarity
    return reliability


def _similarity_to_the_others(features: torch.Tensor, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine of each row to the sum of the other rows with its key (0 when it has none), and the key's size."""
    _, group = torch.unique(key, return_inverse=True)
    sums = torch.zeros(int(group.max()) + 1 if len(group) else 0, features.shape[1], device=features.device)
    sums.index_add_(0, group, features)
    others = sums[group] - features
    return F.cosine_similarity(features, others, dim=1), torch.bincount(group)[group]


def percentile_rank(values: torch.Tensor) -> torch.Tensor:
    """Each value's rank among the non-NaN values, scaled to (0, 1]; NaN stays NaN.

    Puts scores of different scales (a dispersion, a cosine) on one scale, so that a
    harmonic mean of two of them weighs both.
    """
    ranked = torch.full_like(values, float("nan"))
    present = ~values.isnan()
    order = values[present].argsort()
    ranks = torch.empty_like(order, dtype=values.dtype)
    ranks[order] = torch.arange(1, len(order) + 1, device=values.device, dtype=values.dtype)
    ranked[present] = ranks / max(len(order), 1)
    return ranked


@dataclass
class EpochRanking:
    """Each sample's dispersion degree in its cluster this epoch, and what it flags; indexed by dataset position.

    Left by the init strategies that aggregate (``csa``, ``mean+saa``), read by HPS and
    the loss gate. Recomputed with every epoch's clusters, so never checkpointed.
    """

    dispersion: torch.Tensor  # (N,), NaN for samples outside every cluster
    likely_noise: torch.Tensor  # (N,) bool, dispersion above ``saa.noise_quantile``
    sits_out: torch.Tensor | None = None  # (N,) bool, above ``saa.loss_quantile``; None when it is 1


@dataclass
class MemoryState:
    """What strategies carry across batches and epochs.

    The SAA is saved in the training checkpoint (it is warm-started across epochs);
    the ranking and the reliability are recomputed with every epoch's clusters.
    """

    saa: SAAState | None = None  # trained by init "csa" / "mean+saa" when saa.aggregator is "saa"
    ranking: EpochRanking | None = None  # left by init "csa" / "mean+saa", read by update "hps"
    reliability: torch.Tensor | None = None  # (N,) see member_reliability; read by the gated updates

    def loss_mask(self, indices: torch.Tensor | None) -> torch.Tensor | None:
        """Which batch samples take part in the loss; None when all do (the usual case)."""
        if indices is None or self.ranking is None or self.ranking.sits_out is None:
            return None
        taking_part = ~self.ranking.sits_out[indices]
        return taking_part if taking_part.any() else None

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


def mean_prototypes(features: torch.Tensor, labels: torch.Tensor, num_clusters: int) -> torch.Tensor:
    """The mean of each cluster's member features (a zero row for a cluster without members)."""
    sums = torch.zeros(num_clusters, features.shape[1], dtype=torch.float32, device=features.device)
    sums.index_add_(0, labels, features.float())
    counts = torch.bincount(labels, minlength=num_clusters).clamp(min=1)
    return sums / counts[:, None]


def init_by_mean(ctx: InitContext) -> torch.Tensor:
    """Cluster Contrast: the mean of each cluster's member features."""
    return mean_prototypes(ctx.features, ctx.labels, ctx.num_clusters)


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


def distance_to_memory(ctx: UpdateContext) -> torch.Tensor:
    """Each batch sample's cosine distance to its class's prototype as the memory holds it now."""
    return 1 - (ctx.features * ctx.prototypes[ctx.targets]).sum(dim=1)


def update_by_hardest_by_cosine(ctx: UpdateContext) -> torch.Tensor:
    """Cluster Contrast "hard": the sample least similar to its current prototype."""
    return update_by_highest_score(ctx.targets, distance_to_memory(ctx))


def gated_scores(ctx: UpdateContext, hardness: torch.Tensor) -> torch.Tensor:
    """3C's harmonic gate h = d s / (d + s) of hardness d and reliability s = 1 + cos(member, its group).

    A member scores high when it is hard (far from what the memory already holds) and
    reliable (close to the other members of its cluster from its own camera).
    """
    return hardness * (s := 1 + _batch_reliability(ctx)) / (hardness + s).clamp(min=1e-12)


def _batch_reliability(ctx: UpdateContext) -> torch.Tensor:
    if ctx.state.reliability is None or ctx.indices is None:
        raise ValueError(
            "gated updates need the epoch's member reliability and the batch's dataset positions"
        )
    return ctx.state.reliability[ctx.indices]


def update_by_gated_hardest(ctx: UpdateContext) -> torch.Tensor:
    """3C-style: per class, the sample with the best gate of distance to the prototype and reliability."""
    return update_by_highest_score(ctx.targets, gated_scores(ctx, distance_to_memory(ctx)))
