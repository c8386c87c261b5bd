"""The distance threshold of "not in gallery", chosen from labelled data for a target false-match rate.

A threshold ``t`` accepts a query/gallery pair as the same person when their cosine
distance is at most ``t``. On a labelled query and gallery every pair is a true match
(same identity; under another camera, as the evaluation protocol counts them) or a
false one (different identities; gallery junk, pid -1, is neither), so ``t`` fixes a
false-match rate (FMR: the share of different-identity pairs accepted) and a
true-match rate (TMR). :func:`calibrate_threshold` returns the largest ``t`` whose FMR
does not exceed the target.

Distances are computed a chunk of queries at a time. Only the smallest
different-identity distances, as many as can decide the threshold, are kept, and
the histograms for the picture have fixed bins, so memory stays bounded on
MSMT17-sized sets (an 11,659 x 82,161 matrix is never built).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robustreid.errors import ConfigError

HISTOGRAM_EDGES = np.linspace(0.0, 2.0, 201, dtype=np.float32)  # cosine distances lie in [0, 2]


@dataclass(frozen=True)
class Calibration:
    """The chosen threshold, the rates it gives, and the distance histograms behind it."""

    threshold: float
    target_fmr: float
    false_match_rate: float
    true_match_rate: float
    num_negative_pairs: int
    num_positive_pairs: int
    positive_counts: np.ndarray  # per HISTOGRAM_EDGES bin
    negative_counts: np.ndarray

    def summary(self) -> str:
        return (
            f"threshold {self.threshold:.4f}: accepts {100 * self.false_match_rate:.2f}% of "
            f"{self.num_negative_pairs:,} different-identity pairs (target {100 * self.target_fmr:g}%) and "
            f"{100 * self.true_match_rate:.1f}% of {self.num_positive_pairs:,} same-identity pairs\n"
            f"use it as: robustreid search ... --threshold {self.threshold:.4f}"
        )

    def as_dict(self) -> dict[str, float | int]:
        return {
            "threshold": self.threshold,
            "target_fmr": self.target_fmr,
            "false_match_rate": self.false_match_rate,
            "true_match_rate": self.true_match_rate,
            "num_negative_pairs": self.num_negative_pairs,
            "num_positive_pairs": self.num_positive_pairs,
        }


def calibrate_threshold(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    query_pids: np.ndarray,
    gallery_pids: np.ndarray,
    query_camids: np.ndarray,
    gallery_camids: np.ndarray,
    target_fmr: float = 0.01,
    camera_filter: bool = True,
    chunk_size: int = 256,
) -> Calibration:
    """The largest cosine-distance threshold whose false-match rate is at most ``target_fmr``.

    Features are L2-normalised rows; ``camera_filter=False`` counts same-camera pairs of
    one identity as true matches too (for data without camera ids).
    """
    if not 0 < target_fmr < 1:
        raise ConfigError(f"--target-fmr must be between 0 and 1 (e.g. 0.01 for 1%), got {target_fmr}")
    query_pids, gallery_pids = np.asarray(query_pids), np.asarray(gallery_pids)
    num_negatives = _count_negative_pairs(query_pids, gallery_pids)
    if num_negatives == 0:
        raise ConfigError("no different-identity pairs: calibration needs a gallery with other identities")
    kept = int(target_fmr * num_negatives) + 1  # the smallest negatives that can decide the threshold
    smallest = np.empty(0, dtype=np.float32)
    positives = []
    positive_counts = np.zeros(len(HISTOGRAM_EDGES) - 1, dtype=np.int64)
    negative_counts = np.zeros_like(positive_counts)
    gallery_features = np.asarray(gallery_features, dtype=np.float32)
    for start in range(0, len(query_pids), chunk_size):
        rows = slice(start, start + chunk_size)
        distances = 1 - np.asarray(query_features[rows], dtype=np.float32) @ gallery_features.T
        positive, negative = _pair_masks(
            query_pids[rows], gallery_pids, np.asarray(query_camids)[rows], gallery_camids, camera_filter
        )
        positives.append(distances[positive])
        positive_counts += np.histogram(distances[positive], HISTOGRAM_EDGES)[0]
        negative_counts += np.histogram(distances[negative], HISTOGRAM_EDGES)[0]
        smallest = np.concatenate([smallest, distances[negative]])
        if len(smallest) > kept:
            smallest = np.partition(smallest, kept - 1)[:kept]
    # Just below the first negative the target does not allow: every negative at or below it is in `smallest`.
    threshold = np.nextafter(np.sort(smallest)[kept - 1], np.float32(-np.inf))
    positives = np.concatenate(positives)
    if len(positives) == 0:
        raise ConfigError(
            "no same-identity query/gallery pairs (under other cameras): calibration needs labelled data "
            "where query identities reappear in the gallery; data without cameras needs --no-camera-filter"
        )
    return Calibration(
        threshold=float(threshold),
        target_fmr=target_fmr,
        false_match_rate=float(np.count_nonzero(smallest <= threshold) / num_negatives),
        true_match_rate=float(np.mean(positives <= threshold)),
        num_negative_pairs=num_negatives,
        num_positive_pairs=len(positives),
        positive_counts=positive_counts,
        negative_counts=negative_counts,
    )


def _pair_masks(
    query_pids: np.ndarray,
    gallery_pids: np.ndarray,
    query_camids: np.ndarray,
    gallery_camids: np.ndarray,
    camera_filter: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """(true-match, false-match) masks of a chunk of queries against the gallery; junk is in neither."""
    labelled = (gallery_pids >= 0)[None, :]
    same_identity = query_pids[:, None] == gallery_pids[None, :]
    positive = same_identity & labelled
    if camera_filter:
        positive &= query_camids[:, None] != np.asarray(gallery_camids)[None, :]
    return positive, ~same_identity & labelled


def _count_negative_pairs(query_pids: np.ndarray, gallery_pids: np.ndarray) -> int:
    """Query/gallery pairs of different identities (gallery junk excluded), from identity counts alone."""
    labelled = gallery_pids[gallery_pids >= 0]
    ids, counts = np.unique(labelled, return_counts=True)
    images_of = dict(zip(ids.tolist(), counts.tolist(), strict=True))
    return sum(len(labelled) - images_of.get(pid, 0) for pid in query_pids.tolist())
