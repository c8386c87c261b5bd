"""An epoch's pseudo-labelling: settings (fixed or ``auto``), clustering, and a collapse guard.

:class:`PseudoLabeler` is what the trainer calls once per epoch. Besides the labels
it reports, for the log line and metrics.jsonl, the settings it used, what the
collapse guard found, and two label-free quality signals. The *stability* of the
clustering is the NMI between this epoch's and the previous epoch's pseudo-labels
(each outlier a cluster of its own). Stable clusters that keep most images mean the
model is settling on identities; a stability that falls while clusters shrink to a
handful means it is collapsing. With camera ids, ``cross_camera_share`` is the share of
clusters that hold images of at least two cameras: clusters confined to one camera
group crops by camera rather than by person.

The guard's checks (:func:`collapse_problems`) need no labels. Each problem is
logged as a warning that names the setting to change. When any setting is
``auto``, the reference's settings are used for as long as the guard passes them, or
fails them while their median cluster is no larger than one person can be (the
identity-size estimate in each camera): then one region merged, and the rest of the
clustering is sound. The first time the guard fails them with larger clusters, or, with camera
ids, at the first clustering when their median cluster is larger even though the guard passes
them (:func:`_oversized`), settings are derived from the data (clustering/auto.py),
and again in the direction that fixes each further failure (smaller neighbourhoods and
eps for merged clusters, larger eps for a sea of outliers). The result is then *kept*,
camera penalty included: later epochs neither go back to the reference's settings nor
derive new ones unless the guard fails the kept settings themselves. Trying the
reference's settings every epoch made ``auto`` alternate on a folder with 4 images per
person: they passed the guard in some epochs (about 50 merged clusters for 500 people)
and failed it in others, so every other epoch trained on merged clusters. The figures
name the source in ``cluster_auto``: ``reference``, ``derived`` (this epoch derived
them) or ``kept``.

The cluster-count drop compares a clustering with the previous epoch's, which was made
with the same settings or, when they are being replaced, with the ones that failed.

With ``cluster.tracklet_weight`` and each image's time stamp, the features are first blended
with their tracklet's mean (:mod:`robustreid.clustering.tracklets`); the figures add the
number of ``tracklets``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

import numpy as np
import torch

from robustreid.clustering.auto import (
    SEARCH,
    eps_from_distances,
    identity_size,
    neighbourhood_settings,
    upper_pair_distances,
)
from robustreid.clustering.camera_bias import debiased_neighbours, has_several_cameras
from robustreid.clustering.neighbours import KnnFunction, Neighbours, backend_for, knn
from robustreid.clustering.pseudo_labels import graph_labels, jaccard_distance
from robustreid.clustering.settings import AUTO, REFERENCE, ClusterConfig, GuardConfig, ResolvedSettings
from robustreid.clustering.stats import cross_camera_share, pseudo_label_stats
from robustreid.clustering.tracklets import tracklet_means
from robustreid.errors import ConfigError

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
    """Features (N, D) -> pseudo-labels (N,), -1 for outliers, with the figures of how they were made.

    Every neighbour search goes through ``search`` (:func:`~robustreid.clustering.neighbours.knn`'s
    signature), exact or approximate as ``cluster.knn`` asks. Under torchrun the trainer passes
    the search that the ranks share, and every rank runs the labeler: what follows the search
    is deterministic, so the ranks find the same labels.
    """

    def __init__(
        self, config: ClusterConfig | None = None, search: KnnFunction = knn, stamps: np.ndarray | None = None
    ) -> None:
        """``stamps`` (N, 2): each image's recording and frame, read by ``cluster.tracklet_weight`` only."""
        self.config = config or ClusterConfig()
        self.search = search
        if self.config.tracklet_weight and stamps is None:
            raise ConfigError(
                "cluster.tracklet_weight needs each training image's time stamp (recording, frame); "
                "set cluster.tracklet_weight=0"
            )
        self.stamps = stamps if self.config.tracklet_weight else None
        self.previous_labels: np.ndarray | None = None
        #: with ``auto``: the derived settings used since the guard first rejected the reference's
        self.kept: ResolvedSettings | None = None
        self.warned_single_camera = False

    def __call__(
        self, features: np.ndarray, cameras: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """``cameras`` (N,) are read by ``cluster.camera_penalty``, ``cross_camera_share`` and the
        tracklets; identities never are."""
        tracklet_figures = {}
        if self.stamps is not None:
            one_camera = np.zeros(len(features), dtype=np.int64)
            features, count = tracklet_means(
                features, one_camera if cameras is None else cameras, self.stamps, self.config.tracklet_weight
            )
            tracklet_figures["tracklets"] = count
        settings, labels, problems = (
            self._cluster_auto(features, cameras)
            if self.config.any_auto
            else self._cluster_fixed(features, cameras)
        )
        for problem in problems:
            log.warning("pseudo-labels: %s", problem.message)
        figures = settings.as_record() | {"collapse": [p.check for p in problems]} | tracklet_figures
        share = cross_camera_share(labels, cameras)
        if share is not None:
            figures["cross_camera_share"] = share
        if self.previous_labels is not None and len(self.previous_labels) == len(labels):
            figures["stability"] = pseudo_label_stats(labels, self.previous_labels)["nmi"]
        self.previous_labels = labels
        return labels, figures

    def _cluster_fixed(
        self, features: np.ndarray, cameras: np.ndarray | None
    ) -> tuple[ResolvedSettings, np.ndarray, list[Collapse]]:
        """Every setting as configured: the guard only warns."""
        debiased, neighbours, penalty = self._neighbours(features, cameras, _asked_penalty(self.config))
        settings, labels = self._cluster(debiased, neighbours, None, 1.0, penalty)
        return settings, labels, self._problems(labels)

    def _cluster_auto(
        self, features: np.ndarray, cameras: np.ndarray | None
    ) -> tuple[ResolvedSettings, np.ndarray, list[Collapse]]:
        """The kept settings, or else the reference's; when the guard rejects them, settings derived
        from the data, which are kept from then on."""
        if self.kept is not None:
            source, prepared = "kept", None
            settings, labels = self._cluster_kept(features, cameras)
        else:
            source, prepared = "reference", self._neighbours(features, cameras, _asked_penalty(self.config))
            settings, labels = self._cluster_with_reference(features, *prepared)
        problems = self._problems(labels)
        if source == "reference" and self.previous_labels is None:
            problems += _oversized(labels, settings.identity_size, cameras)
        if not problems or (source == "reference" and _person_sized(labels, settings.identity_size, cameras)):
            return replace(settings, auto=source), labels, problems
        log.info(
            "clustering failed %s with the %s settings; deriving the auto settings from the data",
            _checks(problems),
            source,
        )
        if prepared is None:
            prepared = self._neighbours(features, cameras, _asked_penalty(self.config))
        derived, labels, remaining = self._derive(*prepared)
        self._keep(derived, source, problems)
        return replace(derived, auto="derived"), labels, remaining

    def _derive(
        self,
        features: np.ndarray,
        neighbours: Neighbours,
        penalty: float | None,
    ) -> tuple[ResolvedSettings, np.ndarray, list[Collapse]]:
        """Settings from the identity size, derived again in the direction that fixes each failure
        (smaller neighbourhoods and eps for merged clusters, larger eps for a sea of outliers)."""
        retries = self.config.guard.retries
        size, scale = _identity_size(neighbours), 1.0
        for attempt in range(retries + 1):
            settings, labels = self._cluster(features, neighbours, size, scale, penalty)
            problems = self._problems(labels)
            if not problems or attempt == retries:
                break
            merged = any(p.merged for p in problems)
            size, scale = (size * SHRINK, scale) if merged else (size, scale * GROW)
            log.info(
                "clustering failed %s with the derived settings; deriving the auto settings again",
                _checks(problems),
            )
        return settings, labels, problems

    def _keep(self, settings: ResolvedSettings, rejected: str, problems: list[Collapse]) -> None:
        """Cluster with ``settings`` from now on: trying the reference's again every epoch made
        ``auto`` alternate between merged and split clusters on few images per person."""
        self.kept = settings
        log.info(
            "auto: the %s settings failed the guard (%s); keeping derived settings %s from now on",
            rejected,
            _checks(problems),
            settings.describe(),
        )

    def _problems(self, labels: np.ndarray) -> list[Collapse]:
        """The guard's checks, the count drop read against the previous epoch: with ``auto`` it clustered
        with the same settings, or with those that the current ones replace."""
        return collapse_problems(labels, _cluster_count(self.previous_labels), self.config.guard)

    def _neighbours(
        self, features: np.ndarray, cameras: np.ndarray | None, penalty: float | str | None
    ) -> tuple[np.ndarray, Neighbours, float | None]:
        """The features to cluster, their ranked neighbours and the camera penalty used (None: blind).

        Camera-debiased with ``penalty`` (a number or ``auto``; None: blind) where the images come
        from several cameras. The neighbours are searched here, never by the Jaccard step, so
        that every search is the labeler's own (shared by the ranks under torchrun).
        """
        k = self._search_width(len(features))
        if penalty is not None and has_several_cameras(cameras):
            return debiased_neighbours(features, cameras, k, penalty, self._search)
        if penalty is not None and not self.warned_single_camera:
            log.info(
                "cluster.camera_penalty: the training images come from one camera; clustering camera-blind"
            )
            self.warned_single_camera = True
        return features, self._search(features, k), None

    def _search_width(self, n: int) -> int:
        """Neighbours searched per sample: enough for ``auto``'s identity size and for the largest k1."""
        return min(max(SEARCH, _fixed(self.config.k1, 0)), n)

    def _search(self, features: np.ndarray, k: int) -> Neighbours:
        """``features``' ``k`` nearest neighbours, exact or approximate as ``cluster.knn`` asks for their number."""
        return self.search(features, k, backend_for(self.config.knn, len(features)))

    def _cluster(
        self,
        features: np.ndarray,
        neighbours: Neighbours,
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
        return settings, graph_labels(distances, eps, min_samples, c.method)

    def _cluster_with_reference(
        self,
        features: np.ndarray,
        debiased: np.ndarray,
        neighbours: Neighbours,
        penalty: float | None,
    ) -> tuple[ResolvedSettings, np.ndarray]:
        """``auto``'s first try: the reference's values, which fit Market-sized identities.

        Camera-blind as the reference, unless a camera penalty is fixed: only a degenerate
        result makes ``auto`` derive smaller settings (and the camera penalty) from the data.
        """
        size = _identity_size(neighbours)  # recorded only
        if self.config.camera_penalty == AUTO and penalty is not None:
            debiased, penalty = features, None
            neighbours = self._search(features, self._search_width(len(features)))
        return self._cluster(debiased, neighbours, size, 1.0, penalty, self._filled(REFERENCE))

    def _cluster_kept(
        self, features: np.ndarray, cameras: np.ndarray | None
    ) -> tuple[ResolvedSettings, np.ndarray]:
        """The kept settings on this epoch's features, their camera penalty included (None: blind)."""
        kept, c = self.kept, self.config
        penalty = kept.camera_penalty if c.camera_penalty == AUTO else _asked_penalty(c)
        debiased, neighbours, used = self._neighbours(features, cameras, penalty)
        values = {"eps": kept.eps, "min_samples": kept.min_samples, "k1": kept.k1, "k2": kept.k2}
        return self._cluster(debiased, neighbours, kept.identity_size, 1.0, used, self._filled(values))

    def _filled(self, values: dict[str, float | int]) -> ClusterConfig:
        """The config with ``values`` in place of its ``auto`` settings: a fixed value still wins."""
        c = self.config
        fixed = {key: values[key] if getattr(c, key) == AUTO else getattr(c, key) for key in REFERENCE}
        return ClusterConfig(**fixed, method=c.method)

    def state_dict(self) -> dict[str, Any]:
        """The previous epoch's labels (the guard and the stability read them) and the kept settings."""
        labels, kept = self.previous_labels, self.kept
        return {
            "previous_labels": torch.from_numpy(labels) if labels is not None else None,
            "kept_settings": asdict(kept) if kept is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        labels = state["previous_labels"]
        self.previous_labels = labels.numpy() if labels is not None else None
        kept = state.get("kept_settings")  # absent in checkpoints before it
        self.kept = ResolvedSettings(**kept) if kept is not None else None


def _fixed(value: int | str, default: int) -> int:
    return default if value == AUTO else int(value)


def _cluster_count(labels: np.ndarray | None) -> int | None:
    return None if labels is None else len(np.unique(labels[labels >= 0]))


def _asked_penalty(config: ClusterConfig) -> float | str | None:
    """The configured camera penalty, None for 0: camera-blind, as the reference."""
    return None if config.camera_penalty == 0 else config.camera_penalty


def _identity_size(neighbours: Neighbours) -> float:
    return identity_size(neighbours[0][:, :SEARCH])


def _median_and_bound(
    labels: np.ndarray, size: float | None, cameras: np.ndarray | None
) -> tuple[float, float] | None:
    """The median cluster's size, and the most images one person can have: ``size`` (the
    identity-size estimate, about one person's images in one camera) in each camera; None
    without clusters or an estimate."""
    stats = pseudo_label_stats(labels)
    if size is None or not stats["num_clusters"]:
        return None
    cameras_seen = len(np.unique(cameras)) if cameras is not None else 1
    return stats["cluster_size_median"], size * cameras_seen


def _person_sized(labels: np.ndarray, size: float | None, cameras: np.ndarray | None) -> bool:
    """Whether the median cluster is no larger than one person can be.

    With it, a guard failure of the reference's settings is one merged region, and ``auto``
    keeps them: on the demo set (12 images per person; 5 cameras in its training split) their
    median cluster held 7-18 images against a bound of 15-20, and settings derived after a failure
    split its people (36.9 mAP against 43.1). On a folder of 4 images per person in 2 cameras
    it held 8 against a bound of 4: there the reference's clusters merge people throughout.
    """
    sizes = _median_and_bound(labels, size, cameras)
    return sizes is not None and sizes[0] <= sizes[1]


def _oversized(labels: np.ndarray, size: float | None, cameras: np.ndarray | None) -> list[Collapse]:
    """At the first clustering: the reference's clusters, when the typical one is larger than one person.

    The guard passes such a clustering while it holds enough clusters: on a folder of 4 images
    per person in 2 cameras the reference found 64 clusters for 500 people, median 8 against a
    bound of 4, and the first epoch trained on them before the next one failed the guard. Decided
    at the first clustering only: as training pulls each person's images together, the demo set's
    median later came within 1-2 images of its bound (14.5 against 15-20); Market-1501's first
    median is 5, against at least 12. Only with camera ids: without them the bound is one
    camera's share of a person (the identity size alone), which anyone seen by several cameras
    exceeds; there Market-1501's first median (5) would pass for merged people.
    """
    sizes = _median_and_bound(labels, size, cameras)
    if not has_several_cameras(cameras) or sizes is None or sizes[0] <= sizes[1]:
        return []
    message = (
        f"the median cluster holds {sizes[0]:.0f} images, more than one person can have "
        f"({sizes[1]:.0f}: the identity size in each camera)"
    )
    return [Collapse("oversized", message, merged=True)]


def _checks(problems: list[Collapse]) -> str:
    return ", ".join(p.check for p in problems)
