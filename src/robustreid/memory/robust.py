"""The paper's two modules as memory strategies: CSA (prototype init) and HPS (memory update).

* ``init="csa"``: every epoch, each cluster's prototype is its aggregate. With
  ``saa.aggregator="saa"`` (the paper's) the SAA (:mod:`.saa`) is first trained for a
  few steps on the freshly extracted features and their pseudo-labels; any other
  value names a label-free estimator of :mod:`.estimators` (no training).
* ``init="mean+saa"``: the same aggregation, but mean prototypes: the HPS-only
  ablation (HPS reads a dispersion "computed by CSA", so the aggregation must run).
* ``update="hps"``: per pseudo-class in a batch, the member with the highest
  dispersion degree (the hardest positive) updates the prototype.
* ``update="hps_gated"`` (HPS v2): the member with the best harmonic mean of its
  dispersion rank and its camera-group reliability rank (the hardest *reliable*
  positive).

The SAA and its optimiser are the memory state's :class:`~robustreid.memory.saa.SAAState`,
warm-started from the previous epoch (features drift slowly); the per-sample dispersion
is its :class:`~robustreid.memory.strategies.EpochRanking`, where HPS finds what CSA
computed. Options come from :class:`robustreid.memory.settings.SAAConfig`.
"""

from __future__ import annotations

import torch

from robustreid.errors import ConfigError
from robustreid.memory.estimators import ClusterSets
from robustreid.memory.saa import SAAState, aggregate_clusters, train_saa
from robustreid.memory.settings import DISPERSION, ESTIMATORS, PROTOTYPE_INIT, SAAConfig
from robustreid.memory.strategies import (
    EpochRanking,
    InitContext,
    MemoryState,
    UpdateContext,
    distance_to_memory,
    mean_prototypes,
    percentile_rank,
    update_by_highest_score,
)


def aggregated_prototypes(ctx: InitContext) -> torch.Tensor:
    """CSA: each cluster's prototype is its aggregate (the SAA's, trained this epoch, or an estimator's)."""
    return _aggregate_epoch(ctx)


def mean_prototypes_with_ranking(ctx: InitContext) -> torch.Tensor:
    """Mean prototypes, the aggregator run all the same so that ``update="hps"`` can run without CSA."""
    _aggregate_epoch(ctx)
    return mean_prototypes(ctx.features, ctx.labels, ctx.num_clusters)


def update_by_hardest_positive(ctx: UpdateContext) -> torch.Tensor:
    """HPS: per class in the batch, the sample with the highest dispersion updates the prototype.

    Samples that the epoch's dispersion marks as likely noise take no part (with
    ``noise_quantile < 1``): otherwise the "hardest positive" is, most often, a
    clustering mistake. A class whose batch members are all flagged is not updated.
    """
    dispersion, kept = _dispersion_of_candidates(ctx)
    return kept[update_by_highest_score(ctx.targets[kept], dispersion[kept])]


def update_by_hardest_reliable_positive(ctx: UpdateContext) -> torch.Tensor:
    """HPS v2: per class, the member with the best harmonic mean of hardness and reliability ranks.

    Hardness is the epoch's dispersion, reliability the similarity to the other
    members of its camera group; each is ranked among all members of the epoch, so the
    two weigh alike. The winner is the hardest member that still looks like its group:
    the hardest *reliable* positive, where plain HPS's hardest is most often a mistake.
    """
    if ctx.options.dispersion_source != "epoch":
        raise ConfigError(
            'memory.update "hps_gated" ranks the epoch\'s dispersion: use memory.saa.dispersion_source=epoch'
        )
    _, kept = _dispersion_of_candidates(ctx)
    hardness = percentile_rank(_ranking(ctx.state).dispersion)[ctx.indices]
    reliability = percentile_rank(ctx.state.reliability)[ctx.indices]
    scores = 2 * hardness * reliability / (hardness + reliability)
    return kept[update_by_highest_score(ctx.targets[kept], scores[kept])]


def _dispersion_of_candidates(ctx: UpdateContext) -> tuple[torch.Tensor, torch.Tensor]:
    """Each batch sample's dispersion, and the positions not flagged as likely noise."""
    ranking = _ranking(ctx.state)
    if ctx.indices is None:
        raise ValueError('update "hps" needs the dataset positions of the batch (UpdateContext.indices)')
    if ctx.options.dispersion_source == "epoch":
        dispersion = ranking.dispersion[ctx.indices]
    elif ctx.options.dispersion_source == "memory":  # the hardness Cluster Contrast's "hard" ranks
        dispersion = distance_to_memory(ctx)
    else:  # "batch": the current batch's members of each class form the set
        _, dispersion = _aggregate(ctx.state, ctx.features, ctx.targets, len(ctx.prototypes), ctx.options)
    return dispersion, (~ranking.likely_noise[ctx.indices]).nonzero().squeeze(1)


def _ranking(state: MemoryState) -> EpochRanking:
    if state.ranking is None:
        raise ConfigError(
            'memory.update "hps" needs the dispersion that memory.init "csa" or "mean+saa" computes; '
            f"this memory has none (init strategies: {', '.join(PROTOTYPE_INIT.names())})"
        )
    return state.ranking


def _aggregate_epoch(ctx: InitContext) -> torch.Tensor:
    """Train the (warm-started) SAA if it is the aggregator, rank every member, return the prototypes."""
    features, options = ctx.features.float(), ctx.options
    if options.aggregator == "saa":
        saa_state = _warm_saa(ctx.state, features.shape[1], features.device, options)
        saa_state.losses = train_saa(
            saa_state.module,
            saa_state.optimizer,
            features,
            ctx.labels,
            ctx.num_clusters,
            options.steps,
            options.objective,
            **options.objective_options(),
        )
    with torch.no_grad():
        prototypes, dispersion = _aggregate(ctx.state, features, ctx.labels, ctx.num_clusters, options)
    size = int(ctx.sample_index.max()) + 1 if len(ctx.sample_index) else 0
    per_sample = torch.full((size,), float("nan"), device=features.device)
    per_sample[ctx.sample_index] = dispersion
    ctx.state.ranking = EpochRanking(
        per_sample,
        _above_quantile(per_sample, dispersion, options.noise_quantile),
        _above_quantile(per_sample, dispersion, options.loss_quantile) if options.loss_quantile < 1 else None,
    )
    return prototypes


def _above_quantile(per_sample: torch.Tensor, members: torch.Tensor, quantile: float) -> torch.Tensor:
    """Which samples' dispersion lies above the ``quantile`` of the members' (False for outliers)."""
    threshold = torch.quantile(members, quantile) if len(members) else 0.0
    return per_sample > threshold


def _warm_saa(state: MemoryState, feature_dim: int, device: torch.device, options: SAAConfig) -> SAAState:
    """The SAA of the previous epoch, or a new one (untrained: it aggregates by the mean)."""
    if state.saa is None:
        state.saa = SAAState.new(feature_dim, options, device)
    return state.saa


def _aggregate(
    state: MemoryState,
    features: torch.Tensor,
    labels: torch.Tensor,
    num_clusters: int,
    options: SAAConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Prototypes and each sample's dispersion in its same-label set (a cluster or a batch's class).

    The SAA's, with ``saa.dispersion``; or the estimator's own prototype and dispersion.
    """
    if options.aggregator != "saa":
        return ESTIMATORS.get(options.aggregator)(ClusterSets(features, labels))
    saa = _warm_saa(state, features.shape[1], features.device, options).module
    prototypes, weights = aggregate_clusters(saa, features, labels, num_clusters, options.max_set_size)
    return prototypes, DISPERSION.get(options.dispersion)(features, labels, prototypes, weights)
