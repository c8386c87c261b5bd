"""Market-1501 ranking metrics (mAP, CMC, mINP), vectorised and chunked over queries.

The protocol is the field's standard one (torchreid ``eval_market1501``,
fast-reid ``evaluate_rank``): for every query, gallery items of the same
identity *and* the same camera are removed from its ranked list, a query
left without any true match is skipped, AP is the mean precision at the
ranks of the true matches, CMC is clipped at 1 and mINP is the number of
true matches divided by the rank of the hardest one.

How it is computed, and why it scales to MSMT17 (11,659 x 82,161):

* Queries are processed ``chunk_size`` at a time, so memory is bounded by
  ``chunk_size x N_gallery`` float32 values, never ``N_query x N_gallery``
  float64 plus an argsort (which exhausted 64 GB in fast-reid, issue 404).
* Nothing is argsorted. Every metric only needs the rank of each gallery
  item *of the query's identity* (a few dozen per query), and that rank is
  the number of gallery items ranked before it: a binary search in the
  row's sorted distances. ``np.sort`` on float32 rows uses AVX-512 on x86
  and measured 12x faster than ``torch.sort`` and 7x faster than a
  numpy argsort on 2 cores, so one value sort per row plus a handful of
  binary searches replaces the full ``argsort -> gather -> cumsum`` chain.
* Ties are broken by gallery order, exactly as a stable sort would rank
  them, so results are deterministic and independent of the sort kernel.

The same filtering, tie order and chunking give the top-k ranked lists
(:func:`top_matches`) that pictures of the results show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, TypedDict

import numpy as np
import torch

from robustreid.evaluation.rerank import re_ranked_rows

DEFAULT_CHUNK_SIZE = 256
"""Queries per chunk: 256 x 82,161 float32 distances (MSMT17) is ~84 MB, twice that with the sorted copy."""

_NAN_DISTANCES = "distances contain NaN; check the features for NaN or infinite values"

DistanceRows = Callable[[slice], np.ndarray]
"""``distance_rows(rows)``: the float32 (rows, N_gallery) distances of a slice of queries."""


class RankMetrics(TypedDict):
    """What :func:`evaluate_rank` returns; all rates are fractions in [0, 1]."""

    mAP: float
    cmc: np.ndarray  # cmc[k] = fraction of valid queries with a true match within the top k + 1
    mINP: float
    num_valid_queries: int


class _Matches(NamedTuple):
    """A chunk's gallery items of the queries' identities, padded to (n_queries, K).

    ``indices`` are ascending along a row; ``present`` marks the real entries
    (not padding); ``excluded`` those the protocol removes from the query's
    ranked list: its identity under its own camera, when ``camera_filter``.
    """

    indices: np.ndarray
    present: np.ndarray
    excluded: np.ndarray


@dataclass(frozen=True)
class _GalleryIdentities:
    """Gallery indices grouped by identity, so a query's true matches are found without scanning the row."""

    indices_by_pid: np.ndarray  # gallery indices sorted by pid; ascending index within one pid
    sorted_pids: np.ndarray
    camids: np.ndarray

    @classmethod
    def build(cls, gallery_pids: np.ndarray, gallery_camids: np.ndarray) -> _GalleryIdentities:
        order = np.argsort(gallery_pids, kind="stable")
        return cls(order, gallery_pids[order], gallery_camids)

    def matches_of(self, query_pids: np.ndarray, query_camids: np.ndarray, camera_filter: bool) -> _Matches:
        """The gallery items of each query's identity, and which of them the protocol removes."""
        starts = np.searchsorted(self.sorted_pids, query_pids, side="left")
        counts = np.searchsorted(self.sorted_pids, query_pids, side="right") - starts
        width = int(counts.max(initial=0))
        offsets = np.arange(width)
        present = offsets < counts[:, None]
        indices = self.indices_by_pid[np.where(present, starts[:, None] + offsets, 0)]
        same_camera = self.camids[indices] == query_camids[:, None]
        excluded = present & same_camera if camera_filter else np.zeros_like(present)
        return _Matches(indices, present, excluded)


@dataclass(frozen=True)
class _QueryScores:
    """Per-query results of one chunk; ``valid`` is False for queries without a true match."""

    average_precision: np.ndarray
    inverse_negative_penalty: np.ndarray
    first_match_rank: np.ndarray
    valid: np.ndarray


def _count_equal_earlier(
    dist: np.ndarray, rows: np.ndarray, values: np.ndarray, indices: np.ndarray
) -> np.ndarray:
    """How many items of ``dist[row]`` equal ``value`` and precede ``index`` (a stable sort ranks them first).

    Exact float32 ties touch a few percent of the matches at most, so each
    is resolved by scanning only its row prefix; gathering whole rows for a
    vectorised comparison measured 10x slower on MSMT17-sized galleries.
    """
    return np.array(
        [
            np.count_nonzero(dist[row, :index] == value)
            for row, value, index in zip(rows, values, indices, strict=True)
        ],
        dtype=np.int64,
    )


def _items_ranked_before(
    dist: np.ndarray, match_dist: np.ndarray, match_idx: np.ndarray, wanted: np.ndarray
) -> np.ndarray:
    """For each ``wanted`` match, how many gallery items a stable sort of its row would place before it."""
    sorted_rows = np.sort(dist, axis=1)
    if np.isnan(sorted_rows[:, -1]).any():  # np.sort puts NaN last
        raise ValueError(_NAN_DISTANCES)
    sorted_t, match_t = torch.from_numpy(sorted_rows), torch.from_numpy(np.ascontiguousarray(match_dist))
    smaller = torch.searchsorted(sorted_t, match_t, side="left").numpy()
    not_larger = torch.searchsorted(sorted_t, match_t, side="right").numpy()
    rows, cols = np.nonzero(wanted & (not_larger - smaller > 1))
    before = smaller.astype(np.int64)
    before[rows, cols] += _count_equal_earlier(dist, rows, match_dist[rows, cols], match_idx[rows, cols])
    return before


def _score_chunk(
    dist: np.ndarray,
    query_pids: np.ndarray,
    query_camids: np.ndarray,
    gallery: _GalleryIdentities,
    camera_filter: bool,
) -> _QueryScores:
    """The one ranking core: AP, INP and first-match rank of a chunk of queries from their distance rows."""
    match_idx, present, excluded = gallery.matches_of(query_pids, query_camids, camera_filter)
    match_dist = np.take_along_axis(dist, match_idx, axis=1)
    positive = present & ~excluded

    # A match j precedes match i under the stable order: closer, or equally close and earlier in the
    # gallery (match_idx is ascending along a row, so "earlier" is j < i).
    k = match_idx.shape[1]
    earlier = np.tri(k, k, -1, dtype=bool)[None]  # earlier[0, i, j] = j < i
    d_i, d_j = match_dist[:, :, None], match_dist[:, None, :]
    precedes = (d_j < d_i) | ((d_j == d_i) & earlier)
    excluded_before = np.count_nonzero(precedes & excluded[:, None, :], axis=2)
    positives_before = np.count_nonzero(precedes & positive[:, None, :], axis=2)

    ranked_before = _items_ranked_before(dist, match_dist, match_idx, positive)
    rank = np.where(positive, 1 + ranked_before - excluded_before, 1)  # 1: harmless filler for non-positives
    num_positives = positive.sum(axis=1)
    no_match = np.iinfo(np.int64).max
    return _QueryScores(
        average_precision=np.where(positive, (1 + positives_before) / rank, 0.0).sum(axis=1)
        / np.maximum(num_positives, 1),
        inverse_negative_penalty=num_positives / rank.max(axis=1, initial=1),
        first_match_rank=np.where(positive, rank, no_match).min(axis=1, initial=no_match),
        valid=num_positives > 0,
    )


def _summarise(scores: list[_QueryScores], max_rank: int) -> RankMetrics:
    valid = np.concatenate([s.valid for s in scores])
    num_valid = int(valid.sum())
    if num_valid == 0:
        raise ValueError(
            "no query has a true match in the gallery: every query identity is absent from the gallery, or "
            "only appears under the query's own camera (removed by camera_filter=True; data without camera "
            "ids needs camera_filter=False or distinct query/gallery camera ids)"
        )
    first_rank = np.concatenate([s.first_match_rank for s in scores])[valid]
    hits = np.bincount(np.minimum(first_rank, max_rank + 1) - 1, minlength=max_rank + 1)[:max_rank]
    return RankMetrics(
        mAP=float(np.concatenate([s.average_precision for s in scores])[valid].mean()),
        cmc=(np.cumsum(hits) / num_valid).astype(np.float32),
        mINP=float(np.concatenate([s.inverse_negative_penalty for s in scores])[valid].mean()),
        num_valid_queries=num_valid,
    )


class _Labels(NamedTuple):
    query_pids: np.ndarray
    gallery_pids: np.ndarray
    query_camids: np.ndarray
    gallery_camids: np.ndarray


def _as_label_array(values: object, name: str, length: int) -> np.ndarray:
    array = np.asarray(values.cpu() if isinstance(values, torch.Tensor) else values)
    if array.shape != (length,):
        raise ValueError(
            f"{name} has shape {array.shape}, expected ({length},) to match the distances/features"
        )
    return array.astype(np.int64, copy=False)


def _check_labels(
    query_pids, gallery_pids, query_camids, gallery_camids, num_query: int, num_gallery: int
) -> _Labels:
    """Labels as int64 arrays of the right lengths; queries must have a real identity (pid >= 0)."""
    labels = _Labels(
        _as_label_array(query_pids, "query_pids", num_query),
        _as_label_array(gallery_pids, "gallery_pids", num_gallery),
        _as_label_array(query_camids, "query_camids", num_query),
        _as_label_array(gallery_camids, "gallery_camids", num_gallery),
    )
    if (labels.query_pids < 0).any():
        raise ValueError("query_pids contains negative ids; junk images (pid -1) cannot be queries")
    return labels


def _query_chunks(num_query: int, chunk_size: int | None) -> list[slice]:
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of queries or None, got {chunk_size}")
    step = num_query if chunk_size is None else chunk_size
    return [slice(start, start + step) for start in range(0, num_query, max(step, 1))]


def _evaluate_in_chunks(
    distance_rows: DistanceRows,
    labels: _Labels,
    max_rank: int,
    camera_filter: bool,
    chunk_size: int | None,
) -> RankMetrics:
    """Score queries ``chunk_size`` at a time, whatever their distances are computed from."""
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")
    gallery = _GalleryIdentities.build(labels.gallery_pids, labels.gallery_camids)
    scores = [
        _score_chunk(
            distance_rows(rows), labels.query_pids[rows], labels.query_camids[rows], gallery, camera_filter
        )
        for rows in _query_chunks(len(labels.query_pids), chunk_size)
    ]
    return _summarise(scores, max_rank)


def _matrix_rows(distmat: np.ndarray | torch.Tensor) -> DistanceRows:
    """Rows of a precomputed query x gallery matrix (numpy or torch, any device), as float32 numpy."""

    def distance_rows(rows: slice) -> np.ndarray:
        chunk = distmat[rows]
        chunk = chunk.detach().cpu().numpy() if isinstance(chunk, torch.Tensor) else chunk
        return np.ascontiguousarray(chunk, dtype=np.float32)

    return distance_rows


def evaluate_rank(
    distmat: np.ndarray | torch.Tensor,
    query_pids,
    gallery_pids,
    query_camids,
    gallery_camids,
    max_rank: int = 50,
    camera_filter: bool = True,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
) -> RankMetrics:
    """mAP, CMC (length ``max_rank``) and mINP from a query x gallery distance matrix (smaller = closer).

    ``camera_filter=False`` keeps same-camera matches, for data without
    camera ids. Distances are ranked in float32. Distractors (pid 0) are
    ordinary negatives. ``chunk_size`` queries are ranked at a time
    (``None``: all at once); results do not depend on it. Raises
    ``ValueError`` when no query has a true match.
    """
    labels = _check_labels(query_pids, gallery_pids, query_camids, gallery_camids, *distmat.shape)
    return _evaluate_in_chunks(_matrix_rows(distmat), labels, max_rank, camera_filter, chunk_size)


def _first_k_in_stable_order(dist: np.ndarray, k: int) -> np.ndarray:
    """Columns of each row's k smallest values, in the order a stable argsort puts them.

    A selection is O(N_gallery) per row where a sort is O(N_gallery log
    N_gallery), but it orders ties arbitrarily; so only the k-th smallest value
    is taken from it, every smaller item is kept, and the items equal to it
    fill the remaining places in gallery order, as a stable sort would.
    """
    kth = torch.kthvalue(torch.from_numpy(dist), k, dim=1, keepdim=True).values.numpy()
    closer, at_kth = dist < kth, dist == kth
    places_left = k - np.count_nonzero(closer, axis=1, keepdims=True)
    chosen = closer | (at_kth & (np.cumsum(at_kth, axis=1, dtype=np.int32) <= places_left))
    columns = np.nonzero(chosen)[1].reshape(len(dist), k)  # ascending within a row
    order = np.argsort(np.take_along_axis(dist, columns, axis=1), axis=1, kind="stable")
    return np.take_along_axis(columns, order, axis=1)


def _nearest_valid(dist: np.ndarray, matches: _Matches, k: int) -> np.ndarray:
    """The k nearest gallery columns of each row once the protocol's removed items are moved to +inf."""
    if np.isnan(dist).any():
        raise ValueError(_NAN_DISTANCES)
    dist = dist.copy()  # the rows may be a view of the caller's matrix
    rows, slots = np.nonzero(matches.excluded)
    dist[rows, matches.indices[rows, slots]] = np.inf
    return _first_k_in_stable_order(dist, k)


def top_matches(
    distmat: np.ndarray | torch.Tensor,
    query_pids,
    gallery_pids,
    query_camids,
    gallery_camids,
    k: int,
    camera_filter: bool = True,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
) -> np.ndarray:
    """Each query's ``k`` nearest gallery indices under the protocol: an (N_q, min(k, N_g)) int64 array.

    The ranked lists :func:`evaluate_rank` scores, so that pictures of them
    show what the metrics measured: the gallery items of the query's identity
    under its own camera are removed (unless ``camera_filter=False``), and ties
    go to the earlier gallery item. Removed items rank at +inf, so they only
    appear at the end of a row with fewer than ``k`` other items. Arguments
    as :func:`evaluate_rank`; a selection per row instead of a full sort.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    labels = _check_labels(query_pids, gallery_pids, query_camids, gallery_camids, *distmat.shape)
    gallery = _GalleryIdentities.build(labels.gallery_pids, labels.gallery_camids)
    distance_rows, width = _matrix_rows(distmat), min(k, distmat.shape[1])
    chunks = [
        _nearest_valid(
            distance_rows(rows),
            gallery.matches_of(labels.query_pids[rows], labels.query_camids[rows], camera_filter),
            width,
        )
        for rows in _query_chunks(len(labels.query_pids), chunk_size)
    ]
    no_queries = np.empty((0, width), dtype=np.int64)  # gives the result its shape when there are none
    return np.concatenate([no_queries, *chunks])


def _unit_rows(features: np.ndarray | torch.Tensor, device: torch.device | None = None) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.as_tensor(features, dtype=torch.float32, device=device), dim=1)


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``1 - a @ b.T`` for L2-normalised rows, built in place to keep one matrix in memory."""
    return torch.mm(a, b.T).neg_().add_(1.0)


def _cosine_rows(query: torch.Tensor, gallery: torch.Tensor) -> DistanceRows:
    """Cosine distances of a slice of queries, on the gallery's device: no N_q x N_g matrix is ever built."""
    return lambda rows: cosine_distance(query[rows], gallery).cpu().numpy()


def evaluate_features(
    query_feats: np.ndarray | torch.Tensor,
    gallery_feats: np.ndarray | torch.Tensor,
    query_pids,
    gallery_pids,
    query_camids,
    gallery_camids,
    max_rank: int = 50,
    camera_filter: bool = True,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    rerank: bool = False,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
) -> RankMetrics:
    """Ranking metrics from features, with cosine distance on L2-normalised rows (numpy or torch input).

    The distances are computed ``chunk_size`` queries at a time and scored
    as they come, so the full query x gallery matrix never exists and memory
    stays bounded (MSMT17 fits in a few GB). ``rerank=True`` applies the
    k-reciprocal re-ranking (:func:`re_ranking`, with ``k1``, ``k2``,
    ``lambda_value``) to those distances; it needs the dense
    (N_q + N_g) x (N_q + N_g) distances: O((N_q + N_g)^2) time and memory,
    about 1.5 GB for Market-1501 and far too much for MSMT17 on most machines.
    """
    gallery = _unit_rows(gallery_feats)
    query = _unit_rows(query_feats, gallery.device)
    labels = _check_labels(query_pids, gallery_pids, query_camids, gallery_camids, len(query), len(gallery))
    if rerank:
        distance_rows = re_ranked_rows(
            cosine_distance(query, gallery).cpu().numpy(),
            cosine_distance(query, query).cpu().numpy(),
            cosine_distance(gallery, gallery).cpu().numpy(),
            k1,
            k2,
            lambda_value,
        )
    else:
        distance_rows = _cosine_rows(query, gallery)
    return _evaluate_in_chunks(distance_rows, labels, max_rank, camera_filter, chunk_size)


def average_precisions(
    query_feats: np.ndarray | torch.Tensor,
    gallery_feats: np.ndarray | torch.Tensor,
    query_pids,
    gallery_pids,
    query_camids,
    gallery_camids,
    camera_filter: bool = True,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
) -> np.ndarray:
    """Each query's average precision (float64, NaN for a query without a true match), by cosine distance.

    The per-query values whose mean over the valid queries is the mAP of
    :func:`evaluate_features` (same protocol, same ranking core): pictures that
    sort queries by AP show the ones that cost the mAP.
    """
    gallery = _unit_rows(gallery_feats)
    query = _unit_rows(query_feats, gallery.device)
    labels = _check_labels(query_pids, gallery_pids, query_camids, gallery_camids, len(query), len(gallery))
    identities = _GalleryIdentities.build(labels.gallery_pids, labels.gallery_camids)
    distance_rows = _cosine_rows(query, gallery)
    scores = [
        _score_chunk(
            distance_rows(rows), labels.query_pids[rows], labels.query_camids[rows], identities, camera_filter
        )
        for rows in _query_chunks(len(query), chunk_size)
    ]
    no_queries = np.empty(0)
    return np.concatenate([no_queries, *(np.where(s.valid, s.average_precision, np.nan) for s in scores)])


def format_metrics(results: RankMetrics, ranks: tuple[int, ...] = (1, 5, 10)) -> str:
    """A two-column text table of mAP, Rank-k and mINP in percent, for logs and the CLI."""
    rows = [("mAP", results["mAP"])]
    rows += [(f"Rank-{k}", float(results["cmc"][k - 1])) for k in ranks if k <= len(results["cmc"])]
    rows.append(("mINP", results["mINP"]))
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}} | {100 * value:5.1f}%" for name, value in rows]
    lines.append(f"({results['num_valid_queries']} valid queries)")
    return "\n".join(lines)
