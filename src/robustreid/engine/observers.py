"""Epoch observers: what runs around the training loop without being the loop.

The loop (:class:`robustreid.engine.trainer.Trainer`) calls each observer at fixed
points of an epoch; an observer may add figures to the epoch's record by returning
a dict. Two concerns live here so that the loop stays about training:

* :class:`GroundTruthDiagnostics` is the *only* code in a training run that reads
  the training identities: pseudo-label purity/NMI, the prototypes' distance to the
  identity centres, and the share of memory updates made by misplaced samples. It
  monitors; nothing it computes flows back into training.
* :class:`RunPictures` draws the learning curve and the ranked results into the run
  folder when training ends.

Writing a new observer is subclassing :class:`EpochObserver` and overriding the
hooks it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from robustreid.clustering import pseudo_label_stats
from robustreid.memory.diagnostics import prototype_error, update_noise_rate
from robustreid.memory.strategies import mean_prototypes
from robustreid.viz.curves import plot_learning_curve
from robustreid.viz.ranked import save_ranked_results

if TYPE_CHECKING:
    from robustreid.data.base import ImageItem
    from robustreid.engine.run_dir import RunDir
    from robustreid.memory.cluster_memory import ClusterMemory


@dataclass
class Evaluation:
    """One query/gallery evaluation: the metrics (fractions in [0, 1]) and the features behind them."""

    metrics: dict[str, Any]
    query_features: torch.Tensor
    gallery_features: torch.Tensor

    @property
    def mAP(self) -> float:  # noqa: N802  (the field's name for it)
        return float(self.metrics["mAP"])

    @property
    def rank1(self) -> float:
        return float(self.metrics["cmc"][0])


class EpochObserver:
    """Hooks around an epoch; each returns figures to add to the epoch's record (or nothing)."""

    def on_clustered(self, epoch: int, features: torch.Tensor, labels: np.ndarray) -> dict[str, Any] | None:
        """After pseudo-labelling the epoch's features."""

    def on_memory_initialised(
        self, epoch: int, memory: ClusterMemory, features: torch.Tensor, labels: np.ndarray
    ) -> dict[str, Any] | None:
        """After the memory's prototypes were initialised from the clusters."""

    def on_step(self, epoch: int, batch_indices: torch.Tensor, updaters: torch.Tensor) -> None:
        """After a training step; ``updaters`` are the batch positions that updated the memory."""

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> dict[str, Any] | None:
        """After training (and evaluating, if due) the epoch."""

    def on_evaluated(self, epoch: int, evaluation: Evaluation) -> None:
        """After a query/gallery evaluation (epoch -1: before training)."""

    def on_fit_end(self, records: list[dict[str, Any]]) -> None:
        """After the last epoch; ``records`` are every epoch's record, resumed ones included."""


class GroundTruthDiagnostics(EpochObserver):
    """Purity/NMI, prototype error and update noise rate, from the training identities (monitoring only)."""

    def __init__(self, true_ids: np.ndarray) -> None:
        self.true_ids = true_ids
        self._labels: np.ndarray | None = None
        self._updated: list[torch.Tensor] = []

    def on_clustered(self, epoch: int, features: torch.Tensor, labels: np.ndarray) -> dict[str, Any]:
        self._labels, self._updated = labels, []
        stats = pseudo_label_stats(labels, self.true_ids)
        return {"purity": stats["purity"], "nmi": stats["nmi"]}

    def on_memory_initialised(
        self, epoch: int, memory: ClusterMemory, features: torch.Tensor, labels: np.ndarray
    ) -> dict[str, Any]:
        """Distance of the initialised prototypes, and of plain cluster means, to the true identity centres."""
        keep = labels >= 0
        means = mean_prototypes(
            features[torch.from_numpy(keep)], torch.from_numpy(labels[keep]), memory.num_clusters
        )
        return {
            "prototype_error": prototype_error(memory.prototypes, features, labels, self.true_ids),
            "mean_prototype_error": prototype_error(means, features, labels, self.true_ids),
        }

    def on_step(self, epoch: int, batch_indices: torch.Tensor, updaters: torch.Tensor) -> None:
        self._updated.append(batch_indices[updaters.cpu()])

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> dict[str, Any]:
        if not self._updated or self._labels is None:
            return {}
        return {
            "update_noise_rate": update_noise_rate(
                torch.cat(self._updated).numpy(), self._labels, self.true_ids
            )
        }


class RunPictures(EpochObserver):
    """The learning curve and, when the run evaluated, ranked results of the last evaluation."""

    def __init__(
        self,
        run_dir: RunDir,
        query_items: list[ImageItem],
        gallery_items: list[ImageItem],
        camera_filter: bool = True,
    ) -> None:
        self.run_dir = run_dir
        self.query_items, self.gallery_items = query_items, gallery_items
        self.camera_filter = camera_filter
        self.last: Evaluation | None = None

    def on_evaluated(self, epoch: int, evaluation: Evaluation) -> None:
        self.last = evaluation

    def on_fit_end(self, records: list[dict[str, Any]]) -> None:
        if records:
            curve = self.run_dir / self.run_dir.LEARNING_CURVE
            plot_learning_curve(records, curve, title=str(self.run_dir.path))
        if self.last is not None:
            save_ranked_results(
                self.last.query_features.numpy(),
                self.last.gallery_features.numpy(),
                self.query_items,
                self.gallery_items,
                self.run_dir / self.run_dir.RANKED_RESULTS,
                camera_filter=self.camera_filter,
            )
