"""k-nearest-neighbour search of a feature set against itself: exact, or approximate at scale.

Two exact backends give the same neighbours (up to ties):

* ``faiss``: an exact ``IndexFlatIP``, moved to all GPUs when faiss sees any.
* ``torch``: blocked matrix products on the features' own device, merged into
  each row's running top-k by a numba kernel. A self-search has a symmetric
  similarity matrix, so each off-diagonal block is computed once and offered
  to both its rows and its columns, which halves the arithmetic. On a 2-core
  CPU this measured several times faster than faiss-cpu, whose bundled BLAS is
  slower than PyTorch's and which cannot use the symmetry.

``backend="auto"`` therefore takes faiss only when faiss has a GPU, and the
torch path otherwise (including when faiss is not installed).
Memory is O(N*k + block_size**2) for the torch path and O(N*k) plus faiss'
own tiles for faiss: no N x N matrix is allocated.

The approximate backend, ``ivf``, finds candidates in a faiss inverted-file index on the CPU
and ranks them exactly. The index holds the features projected on their
:data:`PRINCIPAL_DIMENSIONS` leading principal directions: re-ID features vary along few
directions (Market-1501's trained Lite0 features hold half their variance in 20), so a
128-dimensional scan finds the candidates at a tenth of a 1280-dimensional scan's cost.
k-means on a sample splits them into about 4 sqrt(N) lists, and each query scans only the
lists of its nearest centroids for :data:`CANDIDATES_PER_NEIGHBOUR` x k candidates, whose
exact cosine similarities then pick the k nearest. The number of lists scanned (nprobe) is
calibrated on every search: the fewest with which a sample of queries finds
:data:`RECALL_TARGET` of its exact neighbours, so the recall holds on features that cluster
loosely (an ImageNet model's) as well as on tight ones. ``cluster.knn`` chooses between exact
and approximate (:func:`backend_for`).

Every backend can search a subset of the rows (``rows``) against all of them, which is how
the ranks of a torchrun job share one search (``robustreid.distributed.neighbours``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Literal, get_args

import numpy as np
import torch

from robustreid.clustering._features import FeatureArray, normalized_features
from robustreid.clustering._running_topk import new_running_topk, offer_to_columns, offer_to_rows
from robustreid.clustering.settings import KNN_SETTINGS
from robustreid.errors import ConfigError

log = logging.getLogger("robustreid")

KnnBackend = Literal["auto", "faiss", "torch", "ivf"]
Neighbours = tuple[np.ndarray, np.ndarray]
Rows = np.ndarray | slice
#: :func:`knn`'s signature ``(features, k, backend)``: how a caller lets another function search,
#: e.g. the search shared by the ranks under torchrun (``robustreid.distributed.neighbours``)
KnnFunction = Callable[[FeatureArray, int, KnnBackend], Neighbours]

#: ``cluster.knn=auto`` searches approximately above this many samples: the whole pseudo-labelling
#: measured 0.9x the exact one's speed at 20,000, 1.9x at 50,000 and 2.1x at 100,000
#: (benchmarks/results/pseudo_labels_million.json, d 1280, 2 cores).
APPROXIMATE_ABOVE = 50_000
#: The ``ivf`` index has about this many lists per sqrt(N): this balances assigning every sample to
#: its lists (N x nlist products) against scanning them (N x nprobe x N / nlist); the calibration
#: chose nprobe 32 at N = 50,000 and 128 at 100,000 (benchmarks/results/pseudo_labels_million.json).
LISTS_PER_SQRT_N = 4
#: k-means sample per list; faiss warns below 39.
TRAINING_POINTS_PER_LIST = 40
#: k-means iterations for the lists: their quality only moves nprobe, which is calibrated anyway.
KMEANS_ITERATIONS = 10
#: Dimensions the inverted file scans in: at N = 50,000 (d 1280) the exact neighbours ranked among
#: the 60 nearest in 128 dimensions 99.1 % of the time, in 256 dimensions 99.6 %.
PRINCIPAL_DIMENSIONS = 128
#: Rows whose second moments give the principal directions: a 1280 x 1280 matrix needs few.
PRINCIPAL_SAMPLE = 20_000
#: Candidates found per neighbour asked for, ranked exactly: with 3 and nprobe 32, 99.3 % recall
#: at N = 50,000; with 2, 98.7 %.
CANDIDATES_PER_NEIGHBOUR = 3
#: Queries ranked together: taken list by list, their candidates overlap, and one matrix product
#: against the union (about 2,000 rows for 256 queries of 90 candidates) ranks them all.
RANKING_BLOCK = 256
#: Share of a sample's exact k nearest neighbours that the approximate search must find.
RECALL_TARGET = 0.99
#: Queries on which nprobe is calibrated: 256 x k neighbours measure a recall of 0.99 to about 0.001.
CALIBRATION_QUERIES = 256


def knn(
    features: FeatureArray,
    k: int,
    backend: KnnBackend = "auto",
    block_size: int = 2048,
    rows: Rows | None = None,
) -> Neighbours:
    """Return the ``k`` most similar rows of every row (itself included) by cosine.

    Returns ``(similarities, indices)``, both ``(N, k)``: float32 cosine
    similarities sorted in decreasing order and their int64 row indices. A row
    normally finds itself first; exact duplicates may come in any order.
    ``rows`` (indices or a slice) searches only those rows' neighbours, among all rows:
    one result row per query row.
    """
    x = normalized_features(features)
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of samples ({n}), got {k}")
    if block_size < 1:
        raise ValueError(f"block_size must be positive, got {block_size}")
    backend = _resolve_backend(backend)
    if backend == "ivf":
        return _ivf_knn(x, k, block_size, _query_rows(n, rows))
    if backend == "faiss":
        return _faiss_knn(x.cpu().numpy(), k, block_size, _query_rows(n, rows))
    if rows is None:
        return _torch_symmetric_knn(x, k, block_size)
    return _torch_rows_knn(x, _query_rows(n, rows), k, block_size)


def backend_for(setting: str, n: int) -> KnnBackend:
    """The backend that ``cluster.knn`` asks for at ``n`` samples: ``ivf`` or the exact ``auto``.

    ``auto`` stays exact where faiss has a GPU: the approximate index runs on the CPU,
    and an exact GPU search of a million samples takes minutes.
    """
    if setting not in KNN_SETTINGS:
        raise ConfigError(f"unknown cluster.knn {setting!r}; choose {', '.join(KNN_SETTINGS)}")
    if setting == "approximate" or (setting == "auto" and n > APPROXIMATE_ABOVE and not _faiss_has_gpu()):
        return "ivf"
    return "auto"


def neighbour_recall(found: np.ndarray, exact: np.ndarray) -> float:
    """The share of the ``exact`` neighbour indices that ``found`` holds in the same row."""
    width = int(max(exact.max(), found.max())) + 2  # -1 (faiss' padding) shifts to 0, never an index
    offsets = np.arange(len(exact), dtype=np.int64)[:, None] * width + 1
    return float(np.isin(exact + offsets, found + offsets).mean())


def _query_rows(n: int, rows: Rows | None) -> np.ndarray:
    return np.arange(n, dtype=np.int64)[slice(None) if rows is None else rows]


def _faiss_or_none() -> ModuleType | None:
    try:
        return importlib.import_module("faiss")
    except ImportError:
        return None


def _faiss_has_gpu() -> bool:
    faiss = _faiss_or_none()
    return faiss is not None and faiss.get_num_gpus() > 0


def _resolve_backend(backend: str) -> str:
    if backend == "auto":
        return "faiss" if _faiss_has_gpu() else "torch"
    if backend in ("faiss", "ivf") and _faiss_or_none() is None:
        raise ImportError(f"knn backend {backend!r} needs faiss: pip install faiss-cpu (or a GPU build)")
    if backend not in get_args(KnnBackend):
        raise ValueError(f"unknown knn backend {backend!r}; choose {', '.join(get_args(KnnBackend))}")
    return backend


def _faiss_knn(x: np.ndarray, k: int, block_size: int, rows: np.ndarray) -> Neighbours:
    faiss = importlib.import_module("faiss")
    index = faiss.IndexFlatIP(x.shape[1])
    if faiss.get_num_gpus() > 0:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(x)
    return _search_in_blocks(index, x, rows, k, block_size)


def _search_in_blocks(index, x: np.ndarray, rows: np.ndarray, k: int, block_size: int) -> Neighbours:
    """``index``'s neighbours of ``x[rows]``, searched ``block_size`` queries at a time (faiss' tiles stay small)."""
    similarities = np.empty((len(rows), k), dtype=np.float32)
    indices = np.empty((len(rows), k), dtype=np.int64)
    for start in range(0, len(rows), block_size):
        stop = start + block_size
        similarities[start:stop], indices[start:stop] = index.search(x[rows[start:stop]], k)
    return similarities, indices


def _torch_symmetric_knn(x: torch.Tensor, k: int, block_size: int) -> Neighbours:
    """Top-k of ``x @ x.T`` computing each block once (the matrix is symmetric).

    The products run on the features' device; the blocks are merged on the CPU.
    """
    values, indices = new_running_topk(x.shape[0], k)
    blocks = [slice(start, start + block_size) for start in range(0, x.shape[0], block_size)]
    for a, rows in enumerate(blocks):
        for cols in blocks[a:]:
            similarities = (x[rows] @ x[cols].T).cpu().numpy()
            offer_to_rows(similarities, values, indices, rows.start, cols.start)
            if cols != rows:
                offer_to_columns(similarities, values, indices, rows.start, cols.start)
    return values, indices


def _torch_rows_knn(x: torch.Tensor, rows: np.ndarray, k: int, block_size: int) -> Neighbours:
    """Top-k of ``x[rows] @ x.T``: every block of queries against every block of columns.

    Without the symmetry of a whole self-search this is twice the arithmetic per row;
    it serves a shard of the rows, a sample, or the rows an approximate search left short.
    """
    values, indices = new_running_topk(len(rows), k)
    for start in range(0, len(rows), block_size):
        queries = x[torch.from_numpy(rows[start : start + block_size]).to(x.device)]
        for cols in range(0, x.shape[0], block_size):
            similarities = (queries @ x[cols : cols + block_size].T).cpu().numpy()
            offer_to_rows(similarities, values, indices, start, cols)
    return values, indices


def _ivf_knn(x: torch.Tensor, k: int, block_size: int, rows: np.ndarray) -> Neighbours:
    """Approximate neighbours: candidates from an inverted file over the principal directions, whose
    nprobe is calibrated on a sample, ranked by their exact similarities.

    A set too small for two lists of :data:`TRAINING_POINTS_PER_LIST` is searched exactly.
    """
    n = x.shape[0]
    nlist = _list_count(n)
    if nlist < 2:
        return _torch_rows_knn(x, rows, k, block_size)
    projected = _principal_projection(x)
    index = _trained_ivf_index(projected, nlist)
    candidates = min(CANDIDATES_PER_NEIGHBOUR * k, n)
    index.nprobe = _calibrated_nprobe(index, x, projected, k, candidates, block_size)
    found = _search_in_blocks(index, projected, rows, candidates, block_size)[1]
    similarities, indices = _ranked_exactly(x, rows, found, k, _list_order(index, rows))
    _search_short_rows_exactly(x, rows, similarities, indices, block_size)
    return similarities, indices


def _list_count(n: int) -> int:
    return min(round(LISTS_PER_SQRT_N * np.sqrt(n)), n // TRAINING_POINTS_PER_LIST)


def _principal_projection(x: torch.Tensor) -> np.ndarray:
    """``x`` (N, d) on the :data:`PRINCIPAL_DIMENSIONS` leading eigenvectors of its second-moment
    matrix (uncentred, so that inner products are what is kept), estimated on a seeded sample;
    ``x`` itself where it has no more dimensions than that."""
    if x.shape[1] <= PRINCIPAL_DIMENSIONS:
        return x.cpu().numpy()
    sample = x[torch.from_numpy(_seeded_sample(x.shape[0], PRINCIPAL_SAMPLE)).to(x.device)]
    directions = torch.linalg.eigh(sample.T @ sample).eigenvectors[:, -PRINCIPAL_DIMENSIONS:]
    return (x @ directions).cpu().numpy()


def _trained_ivf_index(data: np.ndarray, nlist: int):
    """An ``IndexIVFFlat`` holding every row, its lists trained on a seeded sample."""
    faiss = importlib.import_module("faiss")
    n, d = data.shape
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = KMEANS_ITERATIONS
    index.train(data[_seeded_sample(n, nlist * TRAINING_POINTS_PER_LIST)])
    index.add(data)
    return index


def _list_order(index, rows: np.ndarray) -> np.ndarray:
    """Positions in ``rows`` taken list by list: queries of one list share most of their candidates."""
    faiss = importlib.import_module("faiss")
    lists = index.invlists
    listed = np.concatenate(
        [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)) for i in range(index.nlist)]
    )
    place = np.empty(index.ntotal, dtype=np.int64)
    place[listed] = np.arange(index.ntotal)
    return np.argsort(place[rows], kind="stable")


def _ranked_exactly(
    x: torch.Tensor, rows: np.ndarray, candidates: np.ndarray, k: int, order: np.ndarray
) -> Neighbours:
    """The ``k`` most similar of each query's ``candidates`` (-1: none), by exact cosine similarity.

    :data:`RANKING_BLOCK` queries at a time in ``order``: one product with the union of their
    candidates. Rows with fewer than ``k`` candidates end in -1 (similarity -inf).
    """
    similarities = np.empty((len(rows), k), dtype=np.float32)
    indices = np.empty((len(rows), k), dtype=np.int64)
    for start in range(0, len(rows), RANKING_BLOCK):
        block = order[start : start + RANKING_BLOCK]
        found = torch.from_numpy(candidates[block]).to(x.device)
        union, position = torch.unique(found.clamp(min=0), return_inverse=True)
        products = x[torch.from_numpy(rows[block]).to(x.device)] @ x[union].T
        scores = torch.gather(products, 1, position).masked_fill(found < 0, -torch.inf)
        best, taken = scores.topk(k, dim=1)
        similarities[block] = best.cpu().numpy()
        indices[block] = torch.gather(found, 1, taken).cpu().numpy()
    return similarities, indices


def _seeded_sample(n: int, size: int) -> np.ndarray:
    """``size`` distinct rows (all of them if fewer), sorted, the same on every call and every rank."""
    if size >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(0).choice(n, size=size, replace=False))


def _calibrated_nprobe(
    index, x: torch.Tensor, projected: np.ndarray, k: int, candidates: int, block_size: int
) -> int:
    """The fewest lists to scan, doubling from 1, with which a sample of queries finds
    :data:`RECALL_TARGET` of its exact neighbours among its ranked candidates (all lists when
    none reaches it)."""
    sample = _seeded_sample(x.shape[0], CALIBRATION_QUERIES)
    exact = _torch_rows_knn(x, sample, k, block_size)[1]
    order = np.arange(len(sample))
    nprobe = 1
    while True:
        index.nprobe = nprobe
        found = index.search(projected[sample], candidates)[1]
        recall = neighbour_recall(_ranked_exactly(x, sample, found, k, order)[1], exact)
        if recall >= RECALL_TARGET or nprobe == index.nlist:
            break
        nprobe = min(2 * nprobe, index.nlist)
    log.info(
        "approximate kNN: %d lists, %d probed (recall %.3f on %d queries)",
        index.nlist,
        nprobe,
        recall,
        len(sample),
    )
    return nprobe


def _search_short_rows_exactly(
    x: torch.Tensor, rows: np.ndarray, similarities: np.ndarray, indices: np.ndarray, block_size: int
) -> None:
    """Rows whose probed lists held fewer than k candidates (-1 at the end) searched exactly, in place."""
    short = np.flatnonzero(indices[:, -1] < 0)
    if len(short):
        similarities[short], indices[short] = _torch_rows_knn(x, rows[short], indices.shape[1], block_size)
