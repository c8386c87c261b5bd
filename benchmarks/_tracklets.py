"""A clusterer that sees each tracklet as one: time stamps, a signal from outside the features.

No label-free score on the features tells a far clustering mistake from a far right member
(docs/experiments/detector_picks.md). Time can say something the features cannot: images of
one camera and recording taken a few frames apart that also look alike are one person walking
past (on the camera-debiased Market-1501 subset, 99.9 % of such links join one identity).
:class:`TrackletMeans` blends each image's feature with its tracklet's mean before the
trainer's own clusterer runs, so that a tracklet's noisy frames are clustered by what the
tracklet shares; training and the memory still see every image's own feature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from robustreid.clustering import Clusterer

GAP = 200  # frames: at most this far apart under one camera and recording ...
SIMILARITY = 0.5  # ... and at least this cosine similar, two images are linked into one tracklet


def tracklets(
    features: np.ndarray,
    cameras: np.ndarray,
    stamps: np.ndarray,
    gap: int = GAP,
    similarity: float = SIMILARITY,
) -> np.ndarray:
    """Tracklet id per sample: connected links of images of one camera and recording (``stamps``:
    recording and frame), at most ``gap`` frames apart and at least ``similarity`` alike."""
    rows, cols = [], []
    groups = np.unique(np.column_stack([cameras, stamps[:, 0]]), axis=0, return_inverse=True)[1].ravel()
    for group in np.unique(groups):
        index = np.flatnonzero(groups == group)
        near = np.abs(stamps[index, 1][:, None] - stamps[index, 1][None]) <= gap
        linked = np.nonzero(near & (features[index] @ features[index].T >= similarity))
        rows.append(index[linked[0]])
        cols.append(index[linked[1]])
    n = len(features)
    graph = coo_matrix((np.ones(sum(map(len, rows))), (np.concatenate(rows), np.concatenate(cols))), (n, n))
    return connected_components(graph, directed=False)[1]


class TrackletMeans:
    """The trainer's clusterer (``robustreid.clustering.Clusterer``) run on each feature blended with
    its tracklet's mean (``weight`` 1: the mean alone); its state is the wrapped clusterer's."""

    def __init__(self, clusterer: Clusterer, stamps: np.ndarray, weight: float = 1.0) -> None:
        self.clusterer, self.stamps, self.weight = clusterer, stamps, weight

    def __call__(
        self, features: np.ndarray, cameras: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if cameras is None:
            return self.clusterer(features, cameras)
        ids = tracklets(features, cameras, self.stamps)
        sums = np.zeros_like(features)
        np.add.at(sums, ids, features)
        blended = (1 - self.weight) * features + self.weight * _normalised(sums)[ids]
        labels, figures = self.clusterer(_normalised(blended).astype(features.dtype), cameras)
        return labels, figures | {"tracklets": int(ids.max()) + 1}

    def state_dict(self) -> dict[str, Any]:
        return self.clusterer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.clusterer.load_state_dict(state)


def _normalised(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
