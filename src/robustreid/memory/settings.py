"""``memory.*`` in the config: its dataclasses, and the names each of its choices may take.

Torch-free, so that a config is loaded and checked without importing torch: each
registry declares where its strategies live (:mod:`robustreid.utils.registry`), and
those modules are imported when training first asks for one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from robustreid.utils.registry import Registry

if TYPE_CHECKING:
    from robustreid.memory.estimators import Estimator
    from robustreid.memory.saa import DispersionFn, ObjectiveFn
    from robustreid.memory.strategies import InitFn, UpdateFn

#: How gated updates judge a member's reliability: within its camera group (3C), or its whole cluster.
RELIABILITY_GROUPS = ("camera", "cluster")
#: The init strategies that train the SAA which HPS and ``saa.loss_quantile`` read.
SAA_TRAINING_INITS = ("csa", "mean+saa")
#: The update strategies that read that SAA: each needs one of :data:`SAA_TRAINING_INITS`.
SAA_READING_UPDATES = ("hps", "hps_gated")
#: Where HPS reads a member's dispersion: once per epoch on the extracted features, per batch, or the
#: batch feature's live distance to its memory prototype (with no skip, Cluster Contrast's ``hard``).
DISPERSION_SOURCES = ("epoch", "batch", "memory")

#: ``memory.init``: an :class:`~robustreid.memory.strategies.InitContext` -> one prototype per cluster.
PROTOTYPE_INIT: Registry[InitFn] = Registry(
    "prototype init",
    {
        "mean": "robustreid.memory.strategies:init_by_mean",
        "csa": "robustreid.memory.robust:aggregated_prototypes",
        "mean+saa": "robustreid.memory.robust:mean_prototypes_with_ranking",
    },
)
#: ``memory.update``: an :class:`~robustreid.memory.strategies.UpdateContext` -> the batch positions that update.
MEMORY_UPDATE: Registry[UpdateFn] = Registry(
    "memory update",
    {
        "mean": "robustreid.memory.strategies:update_by_every_sample",
        "hard": "robustreid.memory.strategies:update_by_hardest_by_cosine",
        "gated": "robustreid.memory.strategies:update_by_gated_hardest",
        "hps": "robustreid.memory.robust:update_by_hardest_positive",
        "hps_gated": "robustreid.memory.robust:update_by_hardest_reliable_positive",
    },
)
#: ``memory.saa.aggregator`` other than ``saa``: label-free estimators of a cluster (no training).
ESTIMATORS: Registry[Estimator] = Registry(
    "cluster estimator",
    {
        "mean": "robustreid.memory.estimators:mean_estimate",
        "medoid": "robustreid.memory.estimators:medoid_estimate",
        "trimmed": "robustreid.memory.estimators:trimmed_estimate",
        "mode": "robustreid.memory.estimators:mode_estimate",
        "neighbours": "robustreid.memory.estimators:neighbour_estimate",
        "margin": "robustreid.memory.estimators:margin_estimate",
        "split": "robustreid.memory.estimators:split_estimate",
    },
)
#: ``memory.saa.objective``: what CSA trains the SAA on every epoch.
SAA_OBJECTIVES: Registry[ObjectiveFn] = Registry(
    "SAA objective",
    {
        "split_half": "robustreid.memory.saa:split_half_loss",
        "planted": "robustreid.memory.saa:planted_outlier_loss",
        "merge": "robustreid.memory.saa:merged_look_alikes_loss",
    },
)
#: ``memory.saa.dispersion``: a member's dispersion degree, which HPS ranks.
DISPERSION: Registry[DispersionFn] = Registry(
    "SAA dispersion",
    {
        "weight": "robustreid.memory.saa:dispersion_from_weight",
        "distance": "robustreid.memory.saa:dispersion_from_distance",
    },
)


@dataclass
class SAAConfig:
    """The self-attention aggregator that CSA trains and HPS reads: ``memory.saa`` in the config (docs/method.md)."""

    width: int = 256  # attention width (member features are projected to it)
    heads: int = 4
    layers: int = 1
    max_set_size: int = 64  # larger clusters are cut into chunks (subsampled when training)
    steps: int = 50  # SAA optimiser steps per epoch, on the freshly extracted features
    lr: float = 1e-3
    aggregator: str = "saa"  # saa, or a label-free estimator of robustreid.memory.estimators (no training)
    objective: str = "planted"  # planted | merge | split_half (measured: docs/method.md)
    temperature: float = 0.05  # of the ClusterNCE on SAA prototypes
    planted_fraction: float = 0.5  # objective=planted: share of clusters given one look-alike
    planted_loss_weight: float = 1.0  # objective=planted/merge: weight of -log(1 - planted weight)
    merge_share: float = 0.5  # objective=merge: minority side's size, as a share of the majority's
    dispersion: str = "distance"  # distance (to the SAA prototype) | weight (1 - weight x cluster size)
    dispersion_source: str = "epoch"  # epoch (extracted features) | batch (batch features) | memory (live)
    noise_quantile: float = 1.0  # hps skips samples above this quantile of epoch dispersion; 1.0 = none
    loss_quantile: float = 1.0  # samples above this quantile sit out of the loss for the epoch; 1.0 = none

    def objective_options(self) -> dict[str, float]:
        """The keyword options :func:`~robustreid.memory.saa.train_saa` passes to the objective."""
        return {
            "max_set_size": self.max_set_size,
            "temperature": self.temperature,
            "planted_fraction": self.planted_fraction,
            "planted_loss_weight": self.planted_loss_weight,
            "merge_share": self.merge_share,
        }


@dataclass
class MemoryConfig:
    """``memory.*`` in the config: the loss, the momentum, the two strategies and their ramps."""

    temperature: float = 0.05
    momentum: float = 0.1  # m <- momentum * m + (1 - momentum) * f
    init: str = "mean"  # prototype initialisation strategy (PROTOTYPE_INIT)
    update: str = "hard"  # memory update strategy (MEMORY_UPDATE)
    warmup_epochs: int = 0  # epochs that update by every sample ("mean") before ``update`` takes over
    anchor_weight: float = 0.0  # weight of the ClusterNCE against the epoch's fixed initial prototypes
    anchor_fade_epochs: int = 0  # the anchor weight falls linearly to 0 over these epochs; 0 keeps it
    reliability: str = "camera"  # gated updates judge members within their camera group, or "cluster"
    camera_weight: float = 0.0  # weight of the inter-camera loss on (cluster, camera) proxies; 0 is off
    camera_negatives: int = 50  # the inter-camera loss's hard negatives: the closest other-cluster proxies
    saa: SAAConfig = field(default_factory=SAAConfig)  # used by init csa / mean+saa and update hps
