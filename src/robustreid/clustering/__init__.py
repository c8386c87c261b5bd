"""Pseudo-labels for unsupervised re-ID: k-reciprocal Jaccard distance + DBSCAN.

``cluster_pseudo_labels`` is the entry point; ``jaccard_distance_sparse`` is
its memory-light distance, ``jaccard_distance_dense`` the readable oracle it is
tested against, and ``pseudo_label_stats`` and ``cross_camera_share`` summarise a labelling. The
k-reciprocal encoding itself (:mod:`robustreid.clustering.kreciprocal`) is
shared with the re-ranking of :mod:`robustreid.evaluation`. The names are imported
when first used, so that checking a config's ``cluster.*`` (:mod:`.settings`) loads
neither torch nor scikit-learn.
"""

from robustreid.utils.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "robustreid.clustering.jaccard_dense": ["jaccard_distance_dense"],
        "robustreid.clustering.jaccard_sparse": ["jaccard_distance_sparse"],
        "robustreid.clustering.labeler": ["Clusterer", "PseudoLabeler", "collapse_problems"],
        "robustreid.clustering.neighbours": ["knn"],
        "robustreid.clustering.pseudo_labels": ["cluster_pseudo_labels", "dbscan_labels"],
        "robustreid.clustering.settings": ["AUTO", "ClusterConfig", "GuardConfig"],
        "robustreid.clustering.stats": ["cross_camera_share", "pseudo_label_stats"],
    },
)
