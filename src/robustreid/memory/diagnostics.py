"""Ground-truth diagnostics of the memory, to see *why* a prototype strategy helps or not.

* :func:`prototype_error`: how far each cluster's prototype is from the centre of
  the identity most of its members belong to (a prototype strategy that resists
  clustering mistakes should bring this down against the plain mean).
* :func:`update_noise_rate`: how often the samples that moved the memory were
  clustering mistakes (an update strategy that picks "hardest positives" may be
  picking exactly those).

For monitoring only: an unsupervised trainer must never feed ground truth back.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def majority_identity(labels: np.ndarray, true_ids: np.ndarray, num_clusters: int) -> np.ndarray:
    """The most frequent true id of each cluster 0..C-1 (ties: the smallest id; -1 for an empty cluster)."""
    clustered = labels >= 0
    ids, inverse = np.unique(true_ids[clustered], return_inverse=True)
    counts = np.zeros((num_clusters, len(ids)), dtype=np.int64)
    np.add.at(counts, (labels[clustered], inverse), 1)
    majority = ids[counts.argmax(axis=1)] if len(ids) else np.full(num_clusters, -1)
    return np.where(counts.sum(axis=1) > 0, majority, -1)


def misplaced_members(labels: np.ndarray, true_ids: np.ndarray) -> np.ndarray:
    """Per sample: clustered, but not of its cluster's majority identity (a clustering mistake)."""
    clustered = labels >= 0
    if not clustered.any():
        return clustered
    majority = majority_identity(labels, true_ids, int(labels.max()) + 1)
    return clustered & (true_ids != majority[labels])


def identity_centres(features: torch.Tensor, true_ids: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
    """Sorted identities and the L2-normalised mean feature of all their samples (clustered or not)."""
    ids, inverse = np.unique(true_ids, return_inverse=True)
    sums = torch.zeros(len(ids), features.shape[1], dtype=torch.float32)
    sums.index_add_(0, torch.from_numpy(inverse), features.float().cpu())
    return ids, F.normalize(sums, dim=1)


def prototype_error(
    prototypes: torch.Tensor, features: torch.Tensor, labels: np.ndarray, true_ids: np.ndarray
) -> float:
    """Mean cosine distance from each cluster's prototype to its majority identity's centre."""
    majority = majority_identity(labels, true_ids, len(prototypes))
    ids, centres = identity_centres(features, true_ids)
    present = majority >= 0
    targets = centres[np.searchsorted(ids, majority[present])]
    similarity = (F.normalize(prototypes.float().cpu()[present], dim=1) * targets).sum(dim=1)
    return float((1 - similarity).mean()) if present.any() else float("nan")


def update_noise_rate(updated: np.ndarray, labels: np.ndarray, true_ids: np.ndarray) -> float:
    """Fraction of memory updates made by samples that are not of their cluster's majority identity.

    ``updated`` lists the dataset index of every sample that updated a prototype,
    once per update (a sample drawn twice counts twice).
    """
    if len(updated) == 0:
        return float("nan")
    return float(np.mean(misplaced_members(labels, true_ids)[updated]))
