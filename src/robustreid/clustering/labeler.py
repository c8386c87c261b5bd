"""An epoch's pseudo-labelling: settings (fixed or ``auto``), clustering, and a collapse guard.

:class:`PseudoLabeler` is what the trainer calls once per epoch. Besides the labels
it reports, for the log line and metrics.jsonl, the settings it used, what the
collapse guard found, and a label-free quality signal: the *stability* of the
clustering, the NMI between this epoch's and the previous epoch's pseudo-labels
(each outlier a cluster of its own). Stable clusters that keep most images mean the
model is settling on identities; a stability that falls while clusters shrink to a
handful means it is collapsing.

The guard's checks (:func:`collapse_problems`) need no labels. Each problem is
logged as a warning that names the setting to change. When any setting is
``auto``, the reference's settings are tried first; if the guard fails them, the
settings are derived from the data (clustering/settings.py), and again in the
direction that fixes each further failure (smaller neighbourhoods and eps for merged
clusters, larger eps for a sea of outliers).

The cluster-count drop compares a clustering with the last one made by the same source
of settings (reference, derived or fixed), not with whatever the previous epoch kept:
on the demo set the reference's ~80 clusters of an early epoch against a derived ~400
would read as a collapse, and one rejection would lock ``auto`` into derived settings
that over-split for the rest of the run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import torch

from robustreid.clustering.camera_bias import debiased_neighbours, has_several_cameras
from robustreid.clustering.neighbours import knn
from robustreid.clustering.pseudo_labels import dbscan_labels, jaccard_distance
from robustreid.clustering.settings import (
    AUTO,
    REFERENCE,
    SEARCH,
    ClusterConfig,
    GuardConfig,
    ResolvedSettings,
    eps_from_distances,
    identity_size,
    neighbourhood_settings,
    upper_pair_distances,
)
from robustreid.clustering.stats import pseudo_label_stats

log = logging.getLogger("robustreid")

#: One re-derivation shrinks the identity-size estimate (smaller k1, k2, min_samples and a lower
#: eps quantile) when clusters merged, and grows eps when too many images are outliers.
SHRINK, GROW = 0.7, 1.2


@dataclass(frozen=True)
class Collapse:
    """One failed check: what happened, and whether the clusters are too coarse (merged) or too strict."""

    check: str
    message: str
    merged: bool


def collapse_problems(
    labels: np.ndarray, previous_clusters: int | None, guard: GuardConfig
) -> list[Collapse]:
    """The guard's label-free checks of one clustering, each with the setting to change."""
    clustered = labels[labels >= 0]
    sizes = np.bincount(clustered) if len(clustered) else np.zeros(0, dtype=np.int64)
    clusters, images = int((sizes > 0).sum()), len(labels)
    problems = []
    if len(clustered) and sizes.max() > guard.max_largest_share * len(clustered):
        share = sizes.max() / len(clustered)
        problems.append(
            Collapse(
                "largest",
                f"one cluster holds {share:.0%} of the clustered images: clusters "
                "are merging people; lower cluster.eps or cluster.k1, or set them to auto",
                True,
            )
        )
    if previous_clusters and clusters < (1 - guard.max_drop) * previous_clusters:
        problems.append(
            Collapse(
                "drop",
                f"the cluster count fell from {previous_clusters} to {clusters}: clusters "
                "are merging; lower cluster.eps or cluster.k1, or set them to auto",
                True,
            )
        )
    if images and (labels < 0).mean() > guard.max_outlier_share:
        problems.append(
            Collapse(
                "outliers",
                f"{(labels < 0).mean():.0%} of the images are outliers: raise "
                "cluster.eps or lower cluster.min_samples, or set them to auto",
                False,
            )
        )
    if clusters < guard.min_clusters_per_image * images:
        problems.append(
            Collapse(
                "few",
                f"only {clusters} clusters for {images} images: with few images per "
                "person lower cluster.k1 and cluster.min_samples, or set them to auto",
                True,
            )
        )
    return problems


class Clusterer(Protocol):
    """Features (N, D) and cameras -> pseudo-labels (-1: outlier) and figures, once per epoch; saved with a checkpoint.

    :class:`PseudoLabeler` is the one built from ``cluster.*``; a benchmark that must control
    the labels hands its own to ``build_trainer(clusterer=...)``.
    """

    def __call__(
        self, features: np.ndarray, cameras: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class PseudoLabeler:
    """Features (N, D) -> pseudo-labels (N,), -1 for outliers, with the figures of how they were made."""

    def __init__(self, config: ClusterConfig | None = None) -> None:
        self.config = config or ClusterConfig()
        self.previous_labels: np.ndarray | None = None
        #: the cluster count each source of settings made last: "reference", "derived" or "fixed"
        self.cluster_counts: dict[str, int] = {}
        self.warned_single_camera = False

    def __call__(
        self, features: np.ndarray, cameras: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """``cameras`` (N,) are read only with ``cluster.camera_penalty``; identities never are."""
        c = self.config
        debiased, neighbours, penalty = self._neighbours(features, cameras)
        size = identity_size(neighbours[0][:, : min(SEARCH, len(features))]) if c.any_auto else None
        last_epoch, counts_before = _cluster_count(self.previous_labels), dict(self.cluster_counts)
        # with auto: the reference's settings first, then derived ones, each retry in the fixing direction
        attempts = c.guard.retries + 2 if c.any_auto else 1
        scale = 1.0
        for attempt in range(attempts):
            reference = c.any_auto and attempt == 0
            source = "reference" if reference else "derived" if c.any_auto else "fixed"
            settings, labels = (
                self._cluster_with_reference(features, debiased, neighbours, size, penalty)
                if reference
                else self._cluster(debiased, neighbours, size, scale, penalty)
            )
            problems = collapse_problems(labels, counts_before.get(source, last_epoch), c.guard)
            self.cluster_counts[source] = _cluster_count(labels)
            if not problems or attempt == attempts - 1:
                break
            if not reference:
                merged = any(p.merged for p in problems)
                size, scale = (size * SHRINK, scale) if merged else (size, scale * GROW)
            log.info(
                "clustering failed %s with the %s settings; deriving the auto settings %s",
                ", ".join(p.check for p in problems),
                "reference" if reference else "derived",
                "from the data" if reference else "again",
            )
        if c.any_auto:
            settings = replace(settings, auto=source)
        for problem in problems:
            log.warning("pseudo-labels: %s", problem.message)
        figures = settings.as_record() | {"collapse": [p.check for p in problems]}
        if self.previous_labels is not None and len(self.previous_labels) == len(labels):
            figures["stability"] = pseudo_label_stats(labels, self.previous_labels)["nmi"]
        self.previous_labels = labels
        return labels, figures

    def _neighbours(
        self, features: np.ndarray, cameras: np.ndarray | None
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None, float | None]:
        """The features to cluster, their ranked neighbours and the camera penalty used (None: blind).

        Camera-debiased where asked and the images come from several cameras; otherwise the
        neighbours are searched here only when ``auto`` needs them (else by the Jaccard step).
        """
        c = self.config
        k = min(max(SEARCH, _fixed(c.k1, 0)), len(features))
        if c.camera_penalty != 0 and has_several_cameras(cameras):
            return debiased_neighbours(features, cameras, k, c.camera_penalty)
        if c.camera_penalty != 0 and not self.warned_single_camera:
            log.info(
                "cluster.camera_penalty: the training images come from one camera; clustering camera-blind"
            )
            self.warned_single_camera = True
        return features, knn(features, k) if c.any_auto else None, None

    def _cluster(
        self,
        features: np.ndarray,
        neighbours: tuple[np.ndarray, np.ndarray] | None,
        size: float | None,
        eps_scale: float,
        camera_penalty: float | None,
        config: ClusterConfig | None = None,
    ) -> tuple[ResolvedSettings, np.ndarray]:
        c = config or self.config
        k1, k2, min_samples = neighbourhood_settings(c, size)
        distances = jaccard_distance(features, k1, k2, c.method, neighbours)
        pairs = upper_pair_distances(distances) if c.eps == AUTO else None
        eps = float(c.eps) if c.eps != AUTO else eps_from_distances(pairs, len(features), size, eps_scale)
        settings = ResolvedSettings(eps, min_samples, k1, k2, size, camera_penalty)
        return settings, dbscan_labels(distances, eps, min_samples)

    def _cluster_with_reference(
        self,
        features: np.ndarray,
        debiased: np.ndarray,
        neighbours: tuple[np.ndarray, np.ndarray] | None,
        size: float,
        penalty: float | None,
    ) -> tuple[ResolvedSettings, np.ndarray]:
        """``auto``'s first try: the reference's values, which fit Market-sized identities.

        Camera-blind as the reference, unless a camera penalty is fixed: only a degenerate
        result makes ``auto`` derive smaller settings (and the camera penalty) from the data.
        """
        c = self.config
        fixed = {key: REFERENCE[key] if getattr(c, key) == AUTO else getattr(c, key) for key in REFERENCE}
        reference = ClusterConfig(**fixed, method=c.method)
        if c.camera_penalty == AUTO:
            debiased, neighbours, penalty = features, None, None
        return self._cluster(debiased, neighbours, size, 1.0, penalty, reference)  # size: recorded only

    def state_dict(self) -> dict[str, Any]:
        """The previous epoch's labels and each source's last cluster count: the guard and the stability read them."""
        labels = self.previous_labels
        return {
            "previous_labels": torch.from_numpy(labels) if labels is not None else None,
            "cluster_counts": dict(self.cluster_counts),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        labels = state["previous_labels"]
        self.previous_labels = labels.numpy() if labels is not None else None
        self.cluster_counts = dict(state.get("cluster_counts", {}))  # absent in checkpoints before it


def _fixed(value: int | str, default: int) -> int:
    return default if value == AUTO else int(value)


def _cluster_count(labels: np.ndarray | None) -> int | None:
    return None if labels is None else len(np.unique(labels[labels >= 0]))
