"""The paper's two modules as memory strategies: CSA (prototype init) and HPS (memory update).

* ``init="csa"``: every epoch, train the SAA aggregator (:mod:`.saa`) for a few
  steps on the freshly extracted features and their pseudo-labels, then initialise
  each cluster's prototype with SAA's aggregate of its members.
* ``init="mean+saa"``: the same SAA training, but mean prototypes: the HPS-only
  ablation (HPS reads an SAA "trained by CSA", so the training must still run).
* ``update="hps"``: per pseudo-class in a batch, the member with the highest SAA
  dispersion degree (the hardest positive) updates the prototype.
* ``update="hps_gated"`` (HPS v2): the member with the best harmonic mean of its
  SAA-dispersion rank and its camera-group reliability rank (the hardest *reliable*
  positive).

The SAA, its optimiser and the per-sample dispersion are the memory state's
:class:`~robustreid.memory.saa.SAAState`: the module is warm-started from the
previous epoch (features drift slowly), and HPS finds there what CSA computed.
Options come from :class:`robustreid.memory.saa.SAAConfig`.
"""

from __future__ import annotations

import torch

from robustreid.errors import ConfigError
from robustreid.memory.saa import (
    DISPERSION,
    DISPERSION_SOURCES,
    SAAConfig,
    SAAState,
    SelfAttentionAggregator,
    aggregate_clusters,
    train_saa,
)
from robustreid.memory.strategies import (
    MEMORY_UPDATE,
    PROTOTYPE_INIT,
    InitContext,
    MemoryState,
    UpdateContext,
    mean_prototypes,
    percentile_rank,
    update_by_highest_score,
)


@PROTOTYPE_INIT.register("csa")
def saa_prototypes(ctx: InitContext) -> torch.Tensor:
    """CSA: prototypes aggregated by an SAA trained this epoch on these features."""
    return _train_and_measure(ctx)


@PROTOTYPE_INIT.register("mean+saa")
def mean_prototypes_with_trained_saa(ctx: InitContext) -> torch.Tensor:
    """Mean prototypes, SAA trained all the same so that ``update="hps"`` can run without CSA."""
    _train_and_measure(ctx)
    return mean_prototypes(ctx.features, ctx.labels, ctx.num_clusters)


@MEMORY_UPDATE.register("hps")
def update_by_hardest_positive(ctx: UpdateContext) -> torch.Tensor:
    """HPS: per class in the batch, the sample with the highest SAA dispersion updates the prototype.

    Samples that the epoch's dispersion marks as likely noise take no part (with
    ``noise_quantile < 1``): otherwise the "hardest positive" is, most often, a
    clustering mistake. A class whose batch members are all flagged is not updated.
    """
    dispersion, kept = _dispersion_of_candidates(ctx)
    return kept[update_by_highest_score(ctx.targets[kept], dispersion[kept])]


@MEMORY_UPDATE.register("hps_gated")
def update_by_hardest_reliable_positive(ctx: UpdateContext) -> torch.Tensor:
    """HPS v2: per class, the member with the best harmonic mean of hardness and reliability ranks.

    Hardness is the epoch's SAA dispersion, reliability the similarity to the other
    members of its camera group; each is ranked among all members of the epoch, so the
    two weigh alike. The winner is the hardest member that still looks like its group:
    the hardest *reliable* positive, where plain HPS's hardest is most often a mistake.
    """
    if ctx.options.dispersion_source != "epoch":
        raise ConfigError(
            'memory.update "hps_gated" ranks the epoch\'s dispersion: use memory.saa.dispersion_source=epoch'
        )
    _, kept = _dispersion_of_candidates(ctx)
    hardness = percentile_rank(_trained_saa(ctx.state).dispersion)[ctx.indices]
    reliability = percentile_rank(ctx.state.reliability)[ctx.indices]
    scores = 2 * hardness * reliability / (hardness + reliability)
    return kept[update_by_highest_score(ctx.targets[kept], scores[kept])]


def _dispersion_of_candidates(ctx: UpdateContext) -> tuple[torch.Tensor, torch.Tensor]:
    """Each batch sample's SAA dispersion, and the positions not flagged as likely noise."""
    saa_state = _trained_saa(ctx.state)
    if ctx.indices is None:
        raise ValueError('update "hps" needs the dataset positions of the batch (UpdateContext.indices)')
    if ctx.options.dispersion_source == "epoch":
        dispersion = saa_state.dispersion[ctx.indices]
    elif ctx.options.dispersion_source == "batch":
        _, dispersion = _aggregate(
            saa_state.module, ctx.features, ctx.targets, len(ctx.prototypes), ctx.options
        )
    else:
        raise ConfigError(
            f"unknown memory.saa.dispersion_source {ctx.options.dispersion_source!r}; "
            f"use {' or '.join(DISPERSION_SOURCES)}"
        )
    return dispersion, (~saa_state.likely_noise[ctx.indices]).nonzero().squeeze(1)


def _trained_saa(state: MemoryState) -> SAAState:
    if state.saa is None:
        raise ConfigError(
            'memory.update "hps" needs the SAA that memory.init "csa" or "mean+saa" trains; '
            f"this memory has none (init strategies: {', '.join(PROTOTYPE_INIT.names())})"
        )
    return state.saa


def _train_and_measure(ctx: InitContext) -> torch.Tensor:
    """Train the (warm-started) SAA, store every member's dispersion, return the SAA prototypes."""
    features, options = ctx.features.float(), ctx.options
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
        prototypes, dispersion = _aggregate(saa_state.module, features, ctx.labels, ctx.num_clusters, options)
    size = int(ctx.sample_index.max()) + 1 if len(ctx.sample_index) else 0
    saa_state.dispersion = torch.full((size,), float("nan"), device=features.device)
    saa_state.dispersion[ctx.sample_index] = dispersion
    saa_state.likely_noise = _above_quantile(saa_state.dispersion, dispersion, options.noise_quantile)
    saa_state.sits_out = (
        _above_quantile(saa_state.dispersion, dispersion, options.loss_quantile)
        if options.loss_quantile < 1
        else None
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
    saa: SelfAttentionAggregator,
    features: torch.Tensor,
    labels: torch.Tensor,
    num_clusters: int,
    options: SAAConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SAA prototypes and each sample's dispersion in its same-label set (a cluster or a batch's class)."""
    prototypes, weights = aggregate_clusters(saa, features, labels, num_clusters, options.max_set_size)
    return prototypes, DISPERSION.get(options.dispersion)(features, labels, prototypes, weights)
