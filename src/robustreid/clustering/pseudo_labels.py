"""Pseudo-labels for cluster contrast: k-reciprocal Jaccard distance, then DBSCAN (or InfoMap)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import DBSCAN

from robustreid.clustering._features import FeatureArray
from robustreid.clustering.communities import infomap_labels
from robustreid.clustering.jaccard_dense import jaccard_distance_dense
from robustreid.clustering.jaccard_sparse import jaccard_distance_sparse
from robustreid.clustering.neighbours import KnnBackend, Neighbours
from robustreid.clustering.settings import CLUSTER_METHODS, ClusterConfig, ClusterMethod, eps_requirement
from robustreid.errors import ConfigError


def jaccard_distance(
    features: FeatureArray,
    k1: int,
    k2: int,
    method: ClusterMethod = ClusterConfig.method,
    neighbours: Neighbours | None = None,
    knn_backend: KnnBackend = "auto",
) -> np.ndarray | sp.csr_matrix:
    """The k-reciprocal Jaccard distance by ``method``: the one place that picks the sparse or the dense path.

    InfoMap reads the sparse graph.

    ``neighbours`` (ranked, as :func:`~robustreid.clustering.neighbours.knn` returns them)
    spare the sparse path its own search; the dense path ranks by itself.
    """
    if method in ("sparse", "infomap"):
        return jaccard_distance_sparse(features, k1, k2, knn_backend, neighbours=neighbours)
    if method == "dense":
        return jaccard_distance_dense(features, k1, k2)
    raise ConfigError(f"unknown cluster.method {method!r}; choose {', '.join(CLUSTER_METHODS)}")


def cluster_pseudo_labels(
    features: FeatureArray,
    eps: float = ClusterConfig.eps,
    min_samples: int = ClusterConfig.min_samples,
    k1: int = ClusterConfig.k1,
    k2: int = ClusterConfig.k2,
    method: ClusterMethod = ClusterConfig.method,
    knn_backend: KnnBackend = "auto",
) -> np.ndarray:
    """Cluster L2-normalised features; return int64 labels 0..C-1, and -1 for outliers.

    k-reciprocal Jaccard distance (``k1``, ``k2``), then DBSCAN (``eps``,
    ``min_samples``), as in cluster contrast; or InfoMap (``method="infomap"``).

    Fixed settings only; :class:`robustreid.clustering.labeler.PseudoLabeler` adds
    ``auto`` settings and the collapse guard. ``method="sparse"`` (default) never allocates an N x N array;
    ``method="dense"`` is the step-by-step oracle, for small N and for eps >= 1.
    Both give the same labels.
    """
    distances = jaccard_distance(features, k1, k2, method, knn_backend=knn_backend)
    return graph_labels(distances, eps, min_samples, method)


def graph_labels(
    distances: np.ndarray | sp.csr_matrix, eps: float, min_samples: int, method: ClusterMethod
) -> np.ndarray:
    """The clusters of a Jaccard distance: InfoMap's communities for ``method="infomap"``, else DBSCAN's."""
    if method == "infomap":
        problem = eps_requirement(eps, method)
        if problem is not None:
            raise ConfigError(f"eps={eps} must be {problem}")
        return infomap_labels(distances, eps)
    return dbscan_labels(distances, eps, min_samples)


def dbscan_labels(
    distances: np.ndarray | sp.csr_matrix, eps: float = 0.6, min_samples: int = 4
) -> np.ndarray:
    """DBSCAN on a precomputed Jaccard distance; int64 labels, -1 for outliers.

    ``distances`` is a dense N x N array, or a sparse graph whose missing pairs
    are at distance 1 (as :func:`jaccard_distance_sparse` returns).
    """
    problem = eps_requirement(eps, "sparse" if sp.issparse(distances) else "dense")
    if problem is not None:
        raise ConfigError(f"eps={eps} must be {problem}")
    if sp.issparse(distances):
        distances = _neighbour_graph(sp.csr_matrix(distances), eps)
    labels = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(distances)
    return labels.astype(np.int64)


def _neighbour_graph(distances: sp.csr_matrix, eps: float) -> sp.csr_matrix:
    """Keep the pairs within ``eps``, each row sorted by distance, as DBSCAN wants them.

    scikit-learn reads a missing entry of a sparse precomputed matrix as "not a
    neighbour". Missing pairs are at Jaccard distance 1, so this equals the
    dense matrix exactly when eps < 1 (see :func:`eps_requirement`). Explicit zeros (duplicates) stay stored.
    The sort is one lexsort: scikit-learn's ``sort_graph_by_row_values`` loops
    over the rows in Python.
    """
    n = distances.shape[0]
    rows = np.repeat(np.arange(n), np.diff(distances.indptr))
    close = distances.data <= eps
    rows, cols, values = rows[close], distances.indices[close], distances.data[close]
    order = np.lexsort((values, rows))
    indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=n))))
    return sp.csr_matrix((values[order], cols[order], indptr), shape=distances.shape)
