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

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from robustreid.memory.saa import SAAConfig
from robustreid.memory.strategies import (
    MEMORY_UPDATE,
    PROTOTYPE_INIT,
    InitContext,
    MemoryState,
    UpdateContext,
)


@dataclass
class MemoryConfig:
    """``memory.*`` in the config: the loss temperature, the momentum and the two strategies."""

    temperature: float = 0.05
    momentum: float = 0.1  # m <- momentum * m + (1 - momentum) * f
    init: str = "mean"  # prototype initialisation strategy (PROTOTYPE_INIT)
    update: str = "hard"  # memory update strategy (MEMORY_UPDATE)
    saa: SAAConfig = field(default_factory=SAAConfig)  # used by init csa / mean+saa and update hps


class ClusterMemory(nn.Module):
    def __init__(self, config: MemoryConfig | None = None) -> None:
        super().__init__()
        self.config = config or MemoryConfig()
        self.init_strategy = PROTOTYPE_INIT.get(self.config.init)
        self.update_strategy = MEMORY_UPDATE.get(self.config.update)
        self.state = MemoryState()
        self.register_buffer("prototypes", torch.zeros(0))

    @property
    def num_clusters(self) -> int:
        return self.prototypes.shape[0]

    @torch.no_grad()
    def initialise(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Prototypes for clusters 0..C-1 from the epoch's features; label -1 (outliers) is ignored."""
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

    def forward(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """ClusterNCE loss of (normalised) features against all prototypes."""
        logits = F.normalize(features, dim=1) @ self.prototypes.to(features.dtype).t()
        return F.cross_entropy(logits / self.config.temperature, targets)

    @torch.no_grad()
    def select_updaters(
        self, features: torch.Tensor, targets: torch.Tensor, indices: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Batch positions of the samples the update strategy picks, in the order to apply them.

        ``indices`` are the dataset positions of the batch samples, which strategies that
        read per-sample state (HPS's epoch dispersion) need.
        """
        context = UpdateContext(
            F.normalize(features.detach().float(), dim=1),
            targets,
            self.prototypes,
            indices=indices,
            state=self.state,
            options=self.config.saa,
        )
        return self.update_strategy(context)

    @torch.no_grad()
    def update(
        self, features: torch.Tensor, targets: torch.Tensor, indices: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Momentum update by the samples the update strategy selects; returns their batch positions."""
        chosen = self.select_updaters(features, targets, indices)
        unit = F.normalize(features.detach().float(), dim=1)
        momentum_update(self.prototypes, unit[chosen], targets[chosen], self.config.momentum)
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
