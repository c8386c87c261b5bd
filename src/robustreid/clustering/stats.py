"""Diagnostics of a pseudo-labelling: cluster counts and sizes, how many clusters span cameras,
and agreement with ground truth.

For monitoring only: an unsupervised trainer must never feed ground truth back.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix


def pseudo_label_stats(labels: np.ndarray, true_ids: np.ndarray | None = None) -> dict[str, float]:
    """Summarise pseudo-labels (-1 = outlier); with ``true_ids`` also purity and NMI.

    * ``purity``: fraction of clustered samples whose cluster's majority
      identity is their own.
    * ``nmi``: normalised mutual information over *all* samples, where each
      outlier counts as a cluster of its own: counting the outliers as one
      cluster, or dropping them, would reward discarding hard samples.
    A negative true id (no identity, e.g. a junk image) is treated the same way.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    clustered = labels >= 0
    sizes = np.unique(labels[clustered], return_counts=True)[1]
    stats: dict[str, float] = {
        "num_samples": len(labels),
        "num_clusters": len(sizes),
        "num_outliers": int(np.count_nonzero(~clustered)),
        "cluster_size_min": int(sizes.min()) if len(sizes) else 0,
        "cluster_size_median": float(np.median(sizes)) if len(sizes) else 0.0,
        "cluster_size_max": int(sizes.max()) if len(sizes) else 0,
    }
    if true_ids is not None:
        true_ids = np.asarray(true_ids)
        if true_ids.shape != labels.shape:
            raise ValueError(f"true_ids has shape {true_ids.shape}, labels {labels.shape}")
        true_ids = _negatives_as_singletons(true_ids)
        stats["purity"] = _purity(labels[clustered], true_ids[clustered])
        stats["nmi"] = float(normalized_mutual_info_score(true_ids, _negatives_as_singletons(labels)))
    return stats


def cross_camera_share(labels: np.ndarray, cameras: np.ndarray | None) -> float | None:
    """The share of clusters (outliers excluded) whose members come from at least two cameras.

    Label-free: re-identification matches people across cameras, and clusters that each
    stay within one camera teach the model the camera rather than the person. None without
    clusters or without two known cameras (a negative camera id is unknown and not counted).
    """
    labels = np.asarray(labels)
    clustered = labels >= 0
    if cameras is None or not clustered.any():
        return None
    cameras = np.asarray(cameras)
    known = cameras >= 0
    if len(np.unique(cameras[known])) < 2:
        return None
    members = clustered & known
    cluster_cameras = np.unique(
        np.stack([labels[members], cameras[members]]), axis=1
    )  # (cluster, camera) pairs
    cameras_per_cluster = np.bincount(cluster_cameras[0], minlength=labels.max() + 1)
    return float((cameras_per_cluster[np.unique(labels[clustered])] >= 2).mean())


def _negatives_as_singletons(ids: np.ndarray) -> np.ndarray:
    """Give every negative id a fresh id of its own."""
    ids = ids.astype(np.int64, copy=True)
    negative = ids < 0
    ids[negative] = ids.max(initial=-1) + 1 + np.arange(np.count_nonzero(negative))
    return ids


def _purity(labels: np.ndarray, true_ids: np.ndarray) -> float:
    if len(labels) == 0:
        return float("nan")
    majority_counts = contingency_matrix(labels, true_ids, sparse=True).max(axis=1).toarray()
    return float(majority_counts.sum() / len(labels))
