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

The approximate backend, ``ivf``, finds candidates in an inverted file on the CPU and ranks
them exactly:

1. The features are projected on their :data:`PRINCIPAL_DIMENSIONS` leading principal
   directions: re-ID features vary along few directions (Market-1501's trained Lite0 features
   hold half their variance in 20), so candidates are found at a tenth of the full dimension's cost.
2. faiss' k-means splits the projections into about :data:`LISTS_PER_SQRT_N` sqrt(N) small lists.
3. The queries are taken list by list. Each list's queries scan, in one matrix product, the
   union of the lists whose centroids are nearest to any of them (``probes`` each), and keep
   :data:`CANDIDATES_PER_NEIGHBOUR` x k candidates. A per-query scan (faiss' ``IndexIVFFlat``)
   computes fewer products but at about an eighth of a matrix product's speed on 2 cores.
4. The candidates' exact cosine similarities pick the k nearest.

The number of probes is calibrated on every search: the fewest with which a sample of queries
finds :data:`RECALL_TARGET` of its exact neighbours, so the recall holds on features that
cluster loosely (an ImageNet model's) as well as on tight ones. ``cluster.knn`` chooses between
exact and approximate (:func:`backend_for`).

Every backend can search a subset of the rows (``rows``) against all of them, which is how
the ranks of a torchrun job share one search (``robustreid.distributed.neighbours``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Literal, get_args

import numpy as np
import torch

from robustreid.clustering._candidate_products import candidate_products
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

#: ``cluster.knn=auto`` searches approximately above this many samples. The whole pseudo-labelling
#: measured 1.9x the exact one's speed at 20,000 (ARI 0.9997), 3.6x at 50,000 (ARI 0.985) and 5.3x
#: at 100,000 (ARI 0.996) (benchmarks/results/pseudo_labels_million.json, d 1280, 2 cores); below
#: this the exact search takes at most about 20 s and gives the reference's labels.
APPROXIMATE_ABOVE = 50_000
#: The ``ivf`` index has about this many lists per sqrt(N): finding every sample's nearest lists
#: costs N x nlist products, scanning the probed lists about N x probes x N / nlist; small lists
#: also keep the union that a list's queries scan small.
LISTS_PER_SQRT_N = 12
#: k-means sample per list, and its iterations: at N = 100,000, 16 samples and 8 iterations took
#: 4.4 s more for the same 32 probes; the lists' quality only moves the probes, which are calibrated.
TRAINING_POINTS_PER_LIST = 8
KMEANS_ITERATIONS = 4
#: Most lists a query probes (every sample's nearest lists are found once, up to this many): the
#: calibration chose 32 at N = 100,000; at 1,000,000 it reached this cap at recall 0.987, and the
#: search took 509 s.
MAX_PROBES = 64
#: Dimensions the inverted file scans in: at N = 50,000 (d 1280) the exact neighbours ranked among
#: the 60 nearest in 128 dimensions 99.1 % of the time, in 256 dimensions 99.6 %.
PRINCIPAL_DIMENSIONS = 128
#: Rows whose second moments give the principal directions: a 1280 x 1280 matrix needs few.
PRINCIPAL_SAMPLE = 20_000
#: Candidates found per neighbour asked for, ranked exactly. At N = 100,000 (d 1280) the exact 30
#: nearest are among the 90 nearest in 128 dimensions 99.5 % of the time, among the 150 nearest
#: 99.9 %; at 1,000,000, among the 90 nearest 98.4 %.
CANDIDATES_PER_NEIGHBOUR = 5
#: Samples whose nearest lists are found in one faiss search.
NEAREST_BLOCK = 8192
#: Share of a sample's exact k nearest neighbours that the approximate search must find.
RECALL_TARGET = 0.99
#: Queries on which the probes are calibrated: 256 x k neighbours measure a recall of 0.99 to about 0.001.
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
    """Approximate neighbours: candidates from inverted lists over the principal directions, whose
    probes are calibrated on a sample, ranked by their exact similarities.

    A set too small for two lists of :data:`TRAINING_POINTS_PER_LIST` is searched exactly.
    """
    n = x.shape[0]
    nlist = _list_count(n)
    if nlist < 2:
        return _torch_rows_knn(x, rows, k, block_size)
    x = x.cpu()
    lists = _inverted_lists(_principal_projection(x), nlist)
    count = min(CANDIDATES_PER_NEIGHBOUR * k, n)
    probes = _calibrated_probes(lists, x, k, count, block_size)
    order = np.argsort(lists.positions[rows], kind="stable")  # list by list: shared candidates stay in cache
    similarities, indices = np.empty((len(rows), k), np.float32), np.empty((len(rows), k), np.int64)
    found = lists.candidates(rows[order], probes, count)
    similarities[order], indices[order] = _ranked_exactly(x, rows[order], found, k)
    _search_short_rows_exactly(x, rows, similarities, indices, block_size)
    return similarities, indices


def _list_count(n: int) -> int:
    return min(round(LISTS_PER_SQRT_N * np.sqrt(n)), n // TRAINING_POINTS_PER_LIST)


def _principal_projection(x: torch.Tensor) -> torch.Tensor:
    """``x`` (N, d) on the :data:`PRINCIPAL_DIMENSIONS` leading eigenvectors of its second-moment
    matrix (uncentred, so that inner products are what is kept), estimated on a seeded sample;
    ``x`` itself where it has no more dimensions than that."""
    if x.shape[1] <= PRINCIPAL_DIMENSIONS:
        return x
    sample = x[torch.from_numpy(_seeded_sample(x.shape[0], PRINCIPAL_SAMPLE))]
    directions = torch.linalg.eigh(sample.T @ sample).eigenvectors[:, -PRINCIPAL_DIMENSIONS:]
    return x @ directions


@dataclass
class _InvertedLists:
    """Projected samples sorted by list, with every sample's nearest lists."""

    data: torch.Tensor  #: (N, d') projections in list order
    order: np.ndarray  #: the row of each position in list order
    bounds: np.ndarray  #: list i holds positions bounds[i]:bounds[i + 1]
    nearest: torch.Tensor  #: (N, MAX_PROBES or nlist) nearest lists of each position, nearest first

    @property
    def nlist(self) -> int:
        return len(self.bounds) - 1

    @cached_property
    def positions(self) -> np.ndarray:
        """The position of each row in list order."""
        positions = np.empty(len(self.order), dtype=np.int64)
        positions[self.order] = np.arange(len(self.order))
        return positions

    def candidates(self, rows: np.ndarray, probes: int, count: int) -> np.ndarray:
        """The ``count`` nearest projections of each of ``rows`` among the lists that its list probes
        (-1 where fewer): the union of the ``probes`` nearest lists of all the list's samples, so a
        row's candidates do not depend on which other rows are searched."""
        found = np.full((len(rows), count), -1, dtype=np.int64)
        asked = np.full(len(self.order), -1, dtype=np.int64)  # position in list order -> result row
        asked[self.positions[rows]] = np.arange(len(rows))
        for i in np.unique(np.searchsorted(self.bounds, self.positions[rows], side="right") - 1):
            members = slice(self.bounds[i], self.bounds[i + 1])
            queries = np.flatnonzero(asked[members] >= 0) + members.start
            scanned = np.unique(self.nearest[members, :probes].numpy())
            columns = _concatenated_ranges(self.bounds[scanned], self.bounds[scanned + 1])
            similarities = self.data[queries] @ self.data.index_select(0, torch.from_numpy(columns)).T
            best = similarities.topk(min(count, len(columns)), dim=1, sorted=False).indices.numpy()
            found[asked[queries], : best.shape[1]] = self.order[columns[best]]
        return found


def _concatenated_ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """``np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)])`` without a Python loop."""
    lengths = stops - starts
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return np.arange(lengths.sum()) + offsets


def _inverted_lists(projected: torch.Tensor, nlist: int) -> _InvertedLists:
    """k-means lists trained on a seeded sample; every sample's nearest centroids (faiss' search
    measured twice as fast as a matrix product and ``topk``)."""
    faiss = importlib.import_module("faiss")
    n, d = projected.shape
    kmeans = faiss.Kmeans(
        d,
        nlist,
        niter=KMEANS_ITERATIONS,
        seed=0,
        min_points_per_centroid=TRAINING_POINTS_PER_LIST,
        max_points_per_centroid=TRAINING_POINTS_PER_LIST,
    )
    kmeans.train(projected[torch.from_numpy(_seeded_sample(n, nlist * TRAINING_POINTS_PER_LIST))].numpy())
    samples = np.arange(n, dtype=np.int64)
    nearest = torch.from_numpy(
        _search_in_blocks(kmeans.index, projected.numpy(), samples, min(MAX_PROBES, nlist), NEAREST_BLOCK)[1]
    ).int()
    order = torch.argsort(nearest[:, 0], stable=True)
    bounds = np.concatenate(([0], np.cumsum(torch.bincount(nearest[:, 0], minlength=nlist).numpy())))
    return _InvertedLists(projected[order].contiguous(), order.numpy(), bounds, nearest[order])


def _ranked_exactly(x: torch.Tensor, rows: np.ndarray, candidates: np.ndarray, k: int) -> Neighbours:
    """The ``k`` most similar of each query's ``candidates`` (-1: none), by exact cosine similarity;
    rows with fewer than ``k`` candidates end in -1 (similarity -inf)."""
    products = torch.from_numpy(candidate_products(x.numpy(), rows, candidates))
    best, taken = products.topk(k, dim=1)
    return best.numpy(), np.take_along_axis(candidates, taken.numpy(), axis=1)


def _seeded_sample(n: int, size: int) -> np.ndarray:
    """``size`` distinct rows (all of them if fewer), sorted, the same on every call and every rank."""
    if size >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(0).choice(n, size=size, replace=False))


def _calibrated_probes(lists: _InvertedLists, x: torch.Tensor, k: int, count: int, block_size: int) -> int:
    """The fewest lists to probe, doubling from 1, with which a sample of queries finds
    :data:`RECALL_TARGET` of its exact neighbours among its ranked candidates (the most that
    every sample's nearest lists hold, :data:`MAX_PROBES`, when none reaches it)."""
    sample = _seeded_sample(x.shape[0], CALIBRATION_QUERIES)
    exact = _torch_rows_knn(x, sample, k, block_size)[1]
    most = lists.nearest.shape[1]
    probes = 1
    while True:
        found = _ranked_exactly(x, sample, lists.candidates(sample, probes, count), k)[1]
        recall = neighbour_recall(found, exact)
        if recall >= RECALL_TARGET or probes == most:
            break
        probes = min(2 * probes, most)
    log.info(
        "approximate kNN: %d lists, %d probed per query (recall %.3f on %d queries)",
        lists.nlist,
        probes,
        recall,
        len(sample),
    )
    return probes


def _search_short_rows_exactly(
    x: torch.Tensor, rows: np.ndarray, similarities: np.ndarray, indices: np.ndarray, block_size: int
) -> None:
    """Rows whose probed lists held fewer than k candidates (-1 at the end) searched exactly, in place."""
    short = np.flatnonzero(indices[:, -1] < 0)
    if len(short):
        similarities[short], indices[short] = _torch_rows_knn(x, rows[short], indices.shape[1], block_size)
