"""The cluster memory bank and the ClusterNCE loss.

One L2-normalised prototype per pseudo-label cluster, rebuilt every epoch from
fresh clusters. The loss is a cross-entropy of each feature's cosine similarities
to all prototypes over a temperature; after each optimiser step the prototypes of
the classes in the batch move towards selected batch features by momentum.

How prototypes are *initialised* and which samples *update* them are strategies
looked up by name (see :mod:`robustreid.memory.strategies`), so the paper's CSA
and HPS modules plug in as one function each. Strategies share ``self.state``, a
:class:`~robustreid.memory.strategies.MemoryState` that lives as long as the
memory: an init strategy may leave there what an update strategy needs (e.g. a
trained aggregator and per-sample dispersion).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from robustreid.errors import ConfigError
from robustreid.memory.camera_proxies import cluster_camera_groups, inter_camera_nce
from robustreid.memory.settings import MEMORY_UPDATE, PROTOTYPE_INIT, RELIABILITY_GROUPS, MemoryConfig
from robustreid.memory.strategies import (
    InitContext,
    MemoryState,
    UpdateContext,
    mean_prototypes,
    member_reliability,
)


class ClusterMemory(nn.Module):
    def __init__(self, config: MemoryConfig | None = None) -> None:
        super().__init__()
        self.config = config or MemoryConfig()
        if self.config.reliability not in RELIABILITY_GROUPS:
            raise ConfigError(
                f"unknown memory.reliability {self.config.reliability!r}; use {' or '.join(RELIABILITY_GROUPS)}"
            )
        self.init_strategy = PROTOTYPE_INIT.get(self.config.init)
        self.update_strategy = MEMORY_UPDATE.get(self.config.update)
        self.state = MemoryState()
        self.epoch = 0
        self.register_buffer("prototypes", torch.zeros(0))
        self.register_buffer("anchors", torch.zeros(0))
        self.register_buffer("camera_proxies", torch.zeros(0))
        self.register_buffer("proxy_cluster", torch.zeros(0, dtype=torch.long))
        self.register_buffer("sample_proxy", torch.zeros(0, dtype=torch.long))

    @property
    def num_clusters(self) -> int:
        return self.prototypes.shape[0]

    @property
    def warming_up(self) -> bool:
        """During the first ``warmup_epochs`` every sample updates: the clusters are at their noisiest."""
        return self.epoch < self.config.warmup_epochs

    @property
    def anchor_weight(self) -> float:
        """This epoch's anchor weight: the anchor helps while clusters are noisy, then holds back.

        With ``anchor_fade_epochs`` F > 0 it is ``anchor_weight`` x (1 - epoch / F), and 0 from
        epoch F on; with F = 0 it stays ``anchor_weight``.
        """
        fade = self.config.anchor_fade_epochs
        if fade == 0:
            return self.config.anchor_weight
        return self.config.anchor_weight * max(0.0, 1 - self.epoch / fade)

    @torch.no_grad()
    def initialise(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        cameras: torch.Tensor | None = None,
        epoch: int = 0,
    ) -> None:
        """Prototypes for clusters 0..C-1 from the epoch's features; label -1 (outliers) is ignored.

        ``cameras`` (dataset order, -1 where unknown) define the groups within which gated
        updates judge a member's reliability, and the camera proxies; ``epoch`` drives the warm-up.
        """
        self.epoch = epoch
        keep = labels >= 0
        context = InitContext(
            features[keep],
            labels[keep],
            int(labels.max()) + 1,
            sample_index=keep.nonzero().squeeze(1),
            state=self.state,
            options=self.config.saa,
        )
        self.prototypes = F.normalize(self.init_strategy(context).float(), dim=1).to(features.device)
        self.anchors = self.prototypes.clone() if self.anchor_weight > 0 else torch.zeros(0)
        by_camera = self.config.reliability == "camera" and cameras is not None
        self.state.reliability = member_reliability(features, labels, cameras if by_camera else None)
        if self.config.camera_weight > 0:
            self._initialise_camera_proxies(features, labels, cameras)

    def _initialise_camera_proxies(
        self, features: torch.Tensor, labels: torch.Tensor, cameras: torch.Tensor | None
    ) -> None:
        """The mean member feature of every (cluster, camera) pair; no cameras counts as one."""
        cameras = torch.zeros_like(labels) if cameras is None else cameras.to(labels.device)
        self.sample_proxy, self.proxy_cluster = cluster_camera_groups(labels, cameras)
        keep = self.sample_proxy >= 0
        means = mean_prototypes(features[keep], self.sample_proxy[keep], len(self.proxy_cluster))
        self.camera_proxies = F.normalize(means, dim=1)

    def forward(
        self, features: torch.Tensor, targets: torch.Tensor, indices: torch.Tensor | None = None
    ) -> torch.Tensor:
        """ClusterNCE loss of (normalised) features against all prototypes.

        With anchor weight w (:attr:`anchor_weight`), the loss is (1 - w) x ClusterNCE on the
        momentum prototypes + w x ClusterNCE on the epoch's fixed initial ones, so the
        initialisation lasts the epoch. With ``camera_weight`` c, c x the inter-camera loss on
        the (cluster, camera) proxies is added. Samples that the epoch's SAA dispersion sets
        aside (``saa.loss_quantile``) sit out.
        """
        unit = F.normalize(features, dim=1)
        taking_part = self.state.loss_mask(indices)
        if taking_part is not None:
            unit, targets = unit[taking_part], targets[taking_part]
        loss = self._cluster_nce(unit, targets, self.prototypes)
        weight = self.anchor_weight
        if weight > 0:
            loss = (1 - weight) * loss + weight * self._cluster_nce(unit, targets, self.anchors)
        if self.config.camera_weight > 0:
            loss = loss + self.config.camera_weight * inter_camera_nce(
                unit,
                targets,
                self.camera_proxies,
                self.proxy_cluster,
                self.config.temperature,
                self.config.camera_negatives,
            )
        return loss

    def _cluster_nce(
        self, unit: torch.Tensor, targets: torch.Tensor, prototypes: torch.Tensor
    ) -> torch.Tensor:
        logits = unit @ prototypes.to(unit.dtype).t()
        return F.cross_entropy(logits / self.config.temperature, targets)

    @torch.no_grad()
    def select_updaters(
        self, features: torch.Tensor, targets: torch.Tensor, indices: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Batch positions of the samples the update strategy picks, in the order to apply them.

        ``indices`` are the dataset positions of the batch samples, which strategies that
        read per-sample state (HPS's epoch dispersion, the members' groups) need.
        """
        context = UpdateContext(
            F.normalize(features.detach().float(), dim=1),
            targets,
            self.prototypes,
            indices=indices,
            state=self.state,
            options=self.config.saa,
        )
        strategy = MEMORY_UPDATE.get("mean") if self.warming_up else self.update_strategy
        return strategy(context)

    @torch.no_grad()
    def update(
        self, features: torch.Tensor, targets: torch.Tensor, indices: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Momentum update by the samples the update strategy selects; returns their batch positions.

        Camera proxies are updated by every batch sample: each proxy has few members, and
        choosing among them is what the cluster prototypes' strategy is for.
        """
        chosen = self.select_updaters(features, targets, indices)
        unit = F.normalize(features.detach().float(), dim=1)
        momentum_update(self.prototypes, unit[chosen], targets[chosen], self.config.momentum)
        if self.config.camera_weight > 0:
            if indices is None:
                raise ValueError("camera proxies need the dataset positions of the batch (indices)")
            momentum_update(self.camera_proxies, unit, self.sample_proxy[indices], self.config.momentum)
        return chosen


def momentum_update(
    prototypes: torch.Tensor, features: torch.Tensor, targets: torch.Tensor, momentum: float
) -> None:
    """m_y <- normalise(momentum * m_y + (1 - momentum) * f), applied sample by sample in order.

    Samples of the same class are applied one after another (as a sequential loop
    would), but all classes move at once: round r applies every class's r-th sample.
    """
    occurrence = _occurrence_index(targets)
    for r in range(int(occurrence.max()) + 1 if len(targets) else 0):
        at = occurrence == r
        y = targets[at]
        prototypes[y] = F.normalize(momentum * prototypes[y] + (1 - momentum) * features[at], dim=1)


def _occurrence_index(targets: torch.Tensor) -> torch.Tensor:
    """For each position, how many earlier positions hold the same target (0 for the first)."""
    same = targets[:, None] == targets[None, :]
    earlier = torch.ones_like(same).tril(diagonal=-1)
    return (same & earlier).sum(dim=1)
