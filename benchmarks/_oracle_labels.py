"""Clusterers that turn chosen members into outliers: what keeping clustering mistakes out is worth.

Every robust memory of docs/method.md rests on finding the members a cluster holds by
mistake, and no label-free score finds them well on real features (AUC 0.75-0.80 within
impure clusters, docs/experiments/saa_real_features.md). Wrapped around the trainer's own
clusterer, :class:`MembersDropped` runs each epoch's real clustering as usual, then makes
the members a *chooser* picks outliers, so they sit out of the prototypes, the ClusterNCE
and every memory update:

* :func:`misplaced` is the oracle: the members whose true identity is not their cluster's
  majority identity. No rule that skips suspected mistakes can do more; the gap to the
  plain clustering is the headroom such rules compete for.
* :func:`most_dispersed` is the label-free rule at the same place: the given share of all
  members farthest from their cluster's trimmed mean (the best dispersion of §3).

The true identities are read by the benchmark, for the oracle and to report what was
dropped, and reach the library only as the cleaned labels (``benchmarks/ablation.py
--oracle-drop-misplaced`` / ``--drop-dispersed``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from robustreid.clustering import Clusterer
from robustreid.memory.diagnostics import majority_identity
from robustreid.memory.estimators import ClusterSets, trimmed_estimate

#: (labels, features) -> the members to drop, a boolean mask over all samples
Chooser = Callable[[np.ndarray, np.ndarray], np.ndarray]


def misplaced_members(labels: np.ndarray, true_ids: np.ndarray) -> np.ndarray:
    """Clustered members whose true identity is not their cluster's majority identity."""
    clustered = labels >= 0
    majority = majority_identity(labels, true_ids, int(labels.max()) + 1)
    return clustered & (true_ids != majority[labels])


def misplaced(true_ids: np.ndarray) -> Chooser:
    """The oracle chooser: every misplaced member (reads the true identities)."""
    return lambda labels, features: misplaced_members(labels, true_ids)


def most_dispersed(share: float) -> Chooser:
    """The label-free chooser: the ``share`` of clustered members farthest from their cluster's trimmed mean."""

    def choose(labels: np.ndarray, features: np.ndarray) -> np.ndarray:
        chosen = np.zeros(len(labels), dtype=bool)
        if not (labels >= 0).any():
            return chosen
        sets = ClusterSets.build(torch.from_numpy(features), torch.from_numpy(labels))
        _, distance = trimmed_estimate(sets)
        chosen[labels >= 0] = (distance > torch.quantile(distance, 1 - share)).numpy()
        return chosen

    return choose


class MembersDropped:
    """The trainer's clusterer (``robustreid.clustering.Clusterer``) with the chosen members made outliers.

    Its state is the wrapped clusterer's, so a resumed run continues as any other. Beside
    the wrapped figures it reports the real clustering's purity before the cleaning, how
    many members it dropped, and which share of them were misplaced (the chooser's precision).
    """

    def __init__(self, clusterer: Clusterer, choose: Chooser, true_ids: np.ndarray) -> None:
        self.clusterer, self.choose, self.true_ids = clusterer, choose, np.asarray(true_ids)

    def __call__(
        self, features: np.ndarray, cameras: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        labels, figures = self.clusterer(features, cameras)
        dropped = self.choose(labels, features) & (labels >= 0)
        wrong = misplaced_members(labels, self.true_ids)
        return np.where(dropped, -1, labels), figures | {
            "oracle_dropped": int(dropped.sum()),
            "oracle_purity_before": 1 - wrong.sum() / max(int((labels >= 0).sum()), 1),
            "oracle_dropped_misplaced": float(wrong[dropped].mean()) if dropped.any() else None,
        }

    def state_dict(self) -> dict[str, Any]:
        return self.clusterer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.clusterer.load_state_dict(state)
