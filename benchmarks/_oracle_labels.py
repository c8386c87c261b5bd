"""A clusterer that drops each cluster's misplaced members: a perfect detector of clustering mistakes.

Every robust memory of docs/method.md rests on finding the members a cluster holds by
mistake, and no label-free score finds them well on real features (AUC 0.75-0.80 within
impure clusters, docs/experiments/saa_real_features.md). Wrapped around the trainer's own
clusterer, :class:`MisplacedDropped` shows what finding them perfectly is worth: each
epoch's real clustering runs as usual, then every member whose true identity is not its
cluster's majority identity becomes an outlier, so it sits out of the ClusterNCE and of
every memory update. No rule that skips suspected mistakes (HPS's skip,
``saa.loss_quantile``) can do more. The true identities are read by the benchmark and reach
the library only as the cleaned labels (``benchmarks/ablation.py --oracle-drop-misplaced``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robustreid.clustering import Clusterer
from robustreid.memory.diagnostics import majority_identity


class MisplacedDropped:
    """The trainer's clusterer (``robustreid.clustering.Clusterer``) with misplaced members made outliers.

    Its state is the wrapped clusterer's, so a resumed run continues as any other. Beside
    the wrapped figures it reports the real clustering's purity before the cleaning and how
    many members it dropped.
    """

    def __init__(self, clusterer: Clusterer, true_ids: np.ndarray) -> None:
        self.clusterer, self.true_ids = clusterer, np.asarray(true_ids)

    def __call__(
        self, features: np.ndarray, cameras: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        labels, figures = self.clusterer(features, cameras)
        clustered = labels >= 0
        majority = majority_identity(labels, self.true_ids, int(labels.max()) + 1)
        misplaced = clustered & (self.true_ids != majority[labels])
        dropped = int(misplaced.sum())
        return np.where(misplaced, -1, labels), figures | {
            "oracle_dropped": dropped,
            "oracle_purity_before": 1 - dropped / max(int(clustered.sum()), 1),
        }

    def state_dict(self) -> dict[str, Any]:
        return self.clusterer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.clusterer.load_state_dict(state)
