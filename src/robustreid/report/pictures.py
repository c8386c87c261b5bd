"""The pictures that need a model and data: a run's clusters, and a t-SNE map of any split."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from robustreid.clustering import pseudo_label_stats
from robustreid.data.base import ImageItem, ReidDataset
from robustreid.inference.extractor import FeatureExtractor
from robustreid.report.run_inputs import RunInputs
from robustreid.viz.clusters import plot_cluster_samples
from robustreid.viz.embedding import plot_embedding, tsne_points
from robustreid.viz.ranked import RankList, choose_rank_lists, draw_ranked_rows, rank_lists

Labeler = Callable[[np.ndarray], np.ndarray]
"""Features (N, D) -> pseudo-labels (N,), -1 for outliers."""


def known_identities(items: Sequence[ImageItem]) -> np.ndarray | None:
    """The items' identities when every one is known (pid >= 0), else None: pictures then show none."""
    pids = np.array([it.pid for it in items], dtype=np.int64)
    return pids if len(pids) and (pids >= 0).all() else None


def cluster_picture(
    run: RunInputs, extractor: FeatureExtractor, out_png: str | Path, num_clusters: int = 8, members: int = 8
) -> dict[str, float]:
    """Re-cluster the run's training images with its model and settings; draw them; return the statistics."""
    train = run.dataset().train
    paths = [it.path for it in train]
    labels = run.pseudo_labels(extractor(paths, numpy=True))
    true_ids = known_identities(train)
    plot_cluster_samples(paths, labels, out_png, true_ids, num_clusters, members)
    return pseudo_label_stats(labels, true_ids)


def tsne_picture(
    extractor: FeatureExtractor,
    items: Sequence[ImageItem],
    out_png: str | Path,
    title: str,
    labeler: Labeler | None = None,
    max_points: int = 2000,
    seed: int = 0,
) -> Path:
    """t-SNE of (a seeded sample of) ``items``: coloured by identity, or by ``labeler``'s pseudo-labels."""
    chosen = np.sort(
        np.random.default_rng(seed).choice(len(items), min(max_points, len(items)), replace=False)
    )
    items = [items[i] for i in chosen]
    features = extractor([it.path for it in items], numpy=True)
    if labeler is None:
        labels, name = np.array([it.pid for it in items], dtype=np.int64), "identity"
    else:
        labels, name = labeler(features), "cluster"
    return plot_embedding(tsne_points(features, seed), labels, out_png, title, name)


def ranks_picture(
    extractor: FeatureExtractor,
    dataset: ReidDataset,
    out_png: str | Path,
    topk: int = 10,
    num_queries: int = 8,
    sort_by_ap: bool = False,
    camera_filter: bool = True,
) -> list[RankList]:
    """Draw ``num_queries`` ranked lists (the lowest-AP ones, or random ones); return every query's list."""
    lists = rank_lists(
        extractor([it.path for it in dataset.query], numpy=True),
        extractor([it.path for it in dataset.gallery], numpy=True),
        dataset.query,
        dataset.gallery,
        topk,
        camera_filter,
    )
    draw_ranked_rows([rl.row() for rl in choose_rank_lists(lists, num_queries, sort_by_ap)], out_png)
    return lists
