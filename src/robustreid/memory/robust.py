"""The paper's two modules as memory strategies: CSA (prototype init) and HPS (memory update).

* ``init="csa"``: every epoch, train the SAA aggregator (:mod:`.saa`) for a few
  steps on the freshly extracted features and their pseudo-labels, then initialise
  each cluster's prototype with SAA's aggregate of its members.
* ``init="mean+saa"``: the same SAA training, but mean prototypes: the HPS-only
  ablation (HPS reads an SAA "trained by CSA", so the training must still run).
* ``update="hps"``: per pseudo-class in a batch, the member with the highest SAA
  dispersion degree (the hardest positive) updates the prototype.

The SAA, its optimiser and the per-sample dispersion live in ``memory.state``
under :data:`SAA_STATE`: the module is warm-started from the previous epoch
(features drift slowly), and HPS finds there what CSA computed. Options come from
:class:`robustreid.memory.saa.SAAConfig` passed as ``options``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from robustreid.memory.saa import (
    DISPERSION,
    SAAConfig,
    SelfAttentionAggregator,
    aggregate_clusters,
    train_saa,
)
from robustreid.memory.strategies import (
    MEMORY_UPDATE,
    PROTOTYPE_INIT,
    mean_prototypes,
    update_by_highest_score,
)

SAA_STATE = "saa"


@dataclass
class SAAState:
    """What CSA leaves for HPS; per-sample tensors are indexed by dataset position."""

    module: SelfAttentionAggregator
    optimizer: torch.optim.Optimizer
    dispersion: torch.Tensor | None = None  # (N,), NaN for samples outside every cluster
    likely_noise: torch.Tensor | None = None  # (N,) bool, dispersion above options.noise_quantile
    losses: list[float] | None = None  # the SAA objective over the last epoch's steps


@PROTOTYPE_INIT.register("csa")
def saa_prototypes(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_clusters: int,
    *,
    state: dict[str, Any],
    sample_index: torch.Tensor,
    options: SAAConfig | None = None,
    **_: Any,
) -> torch.Tensor:
    """CSA: prototypes aggregated by an SAA trained this epoch on these features."""
    return _train_and_measure(features, labels, num_clusters, state, sample_index, options or SAAConfig())


@PROTOTYPE_INIT.register("mean+saa")
def mean_prototypes_with_trained_saa(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_clusters: int,
    *,
    state: dict[str, Any],
    sample_index: torch.Tensor,
    options: SAAConfig | None = None,
    **_: Any,
) -> torch.Tensor:
    """Mean prototypes, SAA trained all the same so that ``update="hps"`` can run without CSA."""
    _train_and_measure(features, labels, num_clusters, state, sample_index, options or SAAConfig())
    return mean_prototypes(features, labels, num_clusters)


@MEMORY_UPDATE.register("hps")
def update_by_hardest_positive(
    features: torch.Tensor,
    targets: torch.Tensor,
    prototypes: torch.Tensor,
    *,
    state: dict[str, Any],
    indices: torch.Tensor,
    options: SAAConfig | None = None,
    **_: Any,
) -> torch.Tensor:
    """HPS: per class in the batch, the sample with the highest SAA dispersion updates the prototype.

    Samples that the epoch's dispersion marks as likely noise take no part (with
    ``noise_quantile < 1``): otherwise the "hardest positive" is, most often, a
    clustering mistake. A class whose batch members are all flagged is not updated.
    """
    options = options or SAAConfig()
    saa_state = _saa_state(state)
    if options.dispersion_source == "epoch":
        dispersion = saa_state.dispersion[indices]
    elif options.dispersion_source == "batch":
        _, dispersion = _aggregate(saa_state.module, features, targets, len(prototypes), options)
    else:
        raise ValueError(f"unknown SAA dispersion_source {options.dispersion_source!r}; use epoch or batch")
    kept = (~saa_state.likely_noise[indices]).nonzero().squeeze(1)
    return kept[update_by_highest_score(targets[kept], dispersion[kept])]


def _saa_state(state: dict[str, Any]) -> SAAState:
    if SAA_STATE not in state:
        raise RuntimeError(
            'update "hps" needs the SAA that init "csa" or "mean+saa" trains; '
            f"this memory has none (init strategies: {', '.join(PROTOTYPE_INIT.names())})"
        )
    return state[SAA_STATE]


def _train_and_measure(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_clusters: int,
    state: dict[str, Any],
    sample_index: torch.Tensor,
    options: SAAConfig,
) -> torch.Tensor:
    """Train the (warm-started) SAA, store every member's dispersion, return the SAA prototypes."""
    features = features.float()
    saa_state = _warm_saa(state, features.shape[1], features.device, options)
    saa_state.losses = train_saa(
        saa_state.module,
        saa_state.optimizer,
        features,
        labels,
        num_clusters,
        options.steps,
        options.objective,
        **options.objective_options(),
    )
    with torch.no_grad():
        prototypes, dispersion = _aggregate(saa_state.module, features, labels, num_clusters, options)
    size = int(sample_index.max()) + 1 if len(sample_index) else 0
    saa_state.dispersion = torch.full((size,), float("nan"), device=features.device)
    saa_state.dispersion[sample_index] = dispersion
    threshold = torch.quantile(dispersion, options.noise_quantile) if len(dispersion) else 0.0
    saa_state.likely_noise = saa_state.dispersion > threshold
    return prototypes


def _warm_saa(state: dict[str, Any], feature_dim: int, device: torch.device, options: SAAConfig) -> SAAState:
    """The SAA of the previous epoch, or a new one (untrained: it aggregates by the mean)."""
    if SAA_STATE not in state:
        module = SelfAttentionAggregator(feature_dim, options.width, options.heads, options.layers).to(device)
        state[SAA_STATE] = SAAState(module, torch.optim.Adam(module.parameters(), lr=options.lr))
    return state[SAA_STATE]


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
