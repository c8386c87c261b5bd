"""Camera-debiased neighbours: clusters that span cameras even when the features see the camera.

An ImageNet model ranks images of the same camera first, whoever is in them: on a
synthetic folder with 4 crops per person from 2 cameras, 95% of nearest neighbours share
the query's camera, and 93% of the clusters that the camera-blind ``auto`` settings give
hold a single camera. Training on such clusters teaches the model nothing about what stays the
same across cameras, which is what retrieval across cameras needs.

With camera ids, ``cluster.camera_penalty`` removes that bias before clustering, in
two steps that use no identity labels:

* each camera's mean feature is subtracted (and the features normalised again), which
  removes a camera's shared colour and background direction;
* when neighbours are ranked, ``penalty`` is subtracted from the similarity of every
  pair taken by the same camera. With ``auto`` it is the smallest value on
  :data:`PENALTY_GRID` at which a sample's :data:`CHECKED` nearest neighbours come from
  other cameras as often as randomly drawn images would (:func:`cross_camera_base_rate`).
  A trained model whose neighbours already mix cameras gets a penalty of 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from robustreid.clustering.neighbours import Neighbours, knn
from robustreid.clustering.settings import AUTO

#: ``auto`` tries these penalties, smallest first (cosine similarity units).
PENALTY_GRID = tuple(round(0.02 * i, 2) for i in range(16))  # 0 .. 0.3
#: Nearest neighbours (the sample itself not counted) whose cameras ``auto`` reads.
CHECKED = 4
#: Candidates re-ranked per wanted neighbour: the penalty can lift a pair from this far down.
CANDIDATES_PER_NEIGHBOUR = 4


def has_several_cameras(cameras: np.ndarray | None) -> bool:
    return cameras is not None and len(np.unique(cameras)) > 1


def centre_per_camera(features: np.ndarray, cameras: np.ndarray) -> np.ndarray:
    """Features minus their camera's mean, L2-normalised again (float32)."""
    centred = np.asarray(features, dtype=np.float32).copy()
    for camera in np.unique(cameras):
        rows = cameras == camera
        centred[rows] -= centred[rows].mean(axis=0)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return centred / np.maximum(norms, 1e-12)


def cross_camera_base_rate(cameras: np.ndarray) -> float:
    """The chance that another image drawn at random comes from a different camera."""
    n = len(cameras)
    counts = np.unique(cameras, return_counts=True)[1].astype(np.float64)
    return float(1 - (counts * (counts - 1)).sum() / (n * (n - 1))) if n > 1 else 0.0


def penalised_neighbours(
    candidates: tuple[np.ndarray, np.ndarray], cameras: np.ndarray, k: int, penalty: float
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of ``candidates`` (a wider kNN result) after lowering same-camera similarities.

    A sample stays its own first neighbour: the penalty spares it.
    """
    similarities, indices = candidates
    same_camera = cameras[indices] == cameras[:, None]
    itself = indices == np.arange(len(indices))[:, None]
    scores = similarities - penalty * (same_camera & ~itself)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, 1).astype(np.float32), np.take_along_axis(indices, order, 1)


def auto_penalty(candidates: tuple[np.ndarray, np.ndarray], cameras: np.ndarray) -> float:
    """The smallest grid penalty whose nearest neighbours cross cameras at the base rate (else the largest)."""
    target = cross_camera_base_rate(cameras)
    for penalty in PENALTY_GRID:
        nearest = penalised_neighbours(candidates, cameras, CHECKED + 1, penalty)[1][:, 1:]
        if (cameras[nearest] != cameras[:, None]).mean() >= target:
            return penalty
    return PENALTY_GRID[-1]


def debiased_neighbours(
    features: np.ndarray,
    cameras: np.ndarray,
    k: int,
    penalty: float | str,
    search: Callable[[np.ndarray, int], Neighbours] = knn,
) -> tuple[np.ndarray, Neighbours, float]:
    """(centred features, their ``k`` camera-penalised neighbours, the penalty used).

    ``search(features, k)`` finds the candidates (the labeler passes its own, which may be
    approximate or shared by the ranks).
    """
    centred = centre_per_camera(features, cameras)
    candidates = search(centred, min(len(centred), CANDIDATES_PER_NEIGHBOUR * k))
    used = auto_penalty(candidates, cameras) if penalty == AUTO else float(penalty)
    return centred, penalised_neighbours(candidates, cameras, k, used), used
