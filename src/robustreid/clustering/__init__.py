"""Pseudo-labels for unsupervised re-ID: k-reciprocal Jaccard distance + DBSCAN.

``cluster_pseudo_labels`` is the entry point; ``jaccard_distance_sparse`` is
its memory-light distance, ``jaccard_distance_dense`` the readable oracle it is
tested against, and ``pseudo_label_stats`` and ``cross_camera_share`` summarise a labelling. The
k-reciprocal encoding itself (:mod:`robustreid.clustering.kreciprocal`) is
shared with the re-ranking of :mod:`robustreid.evaluation`.
"""

from robustreid.clustering.jaccard_dense import jaccard_distance_dense
from robustreid.clustering.jaccard_sparse import jaccard_distance_sparse
from robustreid.clustering.labeler import Clusterer, PseudoLabeler, collapse_problems
from robustreid.clustering.neighbours import knn
from robustreid.clustering.pseudo_labels import cluster_pseudo_labels, dbscan_labels
from robustreid.clustering.settings import AUTO, ClusterConfig, GuardConfig
from robustreid.clustering.stats import cross_camera_share, pseudo_label_stats

__all__ = [
    "AUTO",
    "ClusterConfig",
    "Clusterer",
    "GuardConfig",
    "PseudoLabeler",
    "collapse_problems",
    "cross_camera_share",
    "cluster_pseudo_labels",
    "dbscan_labels",
    "jaccard_distance_dense",
    "jaccard_distance_sparse",
    "knn",
    "pseudo_label_stats",
]
