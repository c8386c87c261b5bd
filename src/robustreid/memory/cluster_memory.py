"""The cluster memory bank and the ClusterNCE loss.

One L2-normalised prototype per pseudo-label cluster, rebuilt every epoch from
fresh clusters. The loss is a cross-entropy of each feature's cosine similarities
to all prototypes over a temperature; after each optimiser step the prototypes of
the classes in the batch move towards selected batch features by momentum.

How prototypes are *initialised* and which samples *update* them are strategies
looked up by name (see :mod:`robustreid.memory.strategies`), so the paper's CSA
and HPS modules plug in as one function each. Strategies share ``self.state``, a
dict that lives as long as the memory: an init strategy may leave there what an
update strategy needs (e.g. a trained aggregator and per-sample dispersion).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from robustreid.memory.strategies import MEMORY_UPDATE, PROTOTYPE_INIT


class ClusterMemory(nn.Module):
    def __init__(
        self,
        temperature: float = 0.05,
        momentum: float = 0.1,
        init: str = "mean",
        update: str = "mean",
        options: Any = None,
    ) -> None:
        super().__init__()
        self.temperature = temperature
        self.momentum = momentum
        self.init_strategy = PROTOTYPE_INIT.get(init)
        self.update_strategy = MEMORY_UPDATE.get(update)
        self.options = options  # passed to both strategies (e.g. the SAAConfig for csa / hps)
        self.state: dict[str, Any] = {}
        self.register_buffer("prototypes", torch.zeros(0))

    @property
    def num_clusters(self) -> int:
        return self.prototypes.shape[0]

    @torch.no_grad()
    def initialise(self, features: torch.Tensor, labels: torch.Tensor, **context: Any) -> None:
        """Prototypes for clusters 0..C-1 from the epoch's features; label -1 (outliers) is ignored."""
        keep = labels >= 0
        prototypes = self.init_strategy(
            features[keep],
            labels[keep],
            int(labels.max()) + 1,
            state=self.state,
            sample_index=keep.nonzero().squeeze(1),
            options=self.options,
            **context,
        )
        self.prototypes = F.normalize(prototypes.float(), dim=1).to(features.device)

    def forward(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """ClusterNCE loss of (normalised) features against all prototypes."""
        logits = F.normalize(features, dim=1) @ self.prototypes.to(features.dtype).t()
        return F.cross_entropy(logits / self.temperature, targets)

    @torch.no_grad()
    def update(self, features: torch.Tensor, targets: torch.Tensor, **context: Any) -> torch.Tensor:
        """Momentum update by the samples the update strategy selects; returns their batch positions.

        ``context`` carries what a strategy may need beyond the batch, e.g. ``indices``
        (dataset positions of the batch samples).
        """
        features = F.normalize(features.detach().float(), dim=1)
        chosen = self.update_strategy(
            features, targets, self.prototypes, state=self.state, options=self.options, **context
        )
        momentum_update(self.prototypes, features[chosen], targets[chosen], self.momentum)
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
