"""A ranked-results picture: each row a query, then its top-k gallery matches,
framed green when the identity matches and red when it does not."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from robustreid.data.base import ImageItem
from robustreid.evaluation import top_matches

GREEN, RED, GREY = (40, 170, 60), (210, 40, 40), (128, 128, 128)


def ranked_gallery(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    query_items: Sequence[ImageItem],
    gallery_items: Sequence[ImageItem],
    topk: int,
    camera_filter: bool = True,
) -> np.ndarray:
    """Top-k gallery indices per query by cosine similarity of L2-normalised features.

    Ranked and filtered by :func:`robustreid.evaluation.top_matches`, so the
    picture shows lists as the metrics rank them (same identity and camera
    removed unless ``camera_filter=False``, ties to the earlier gallery item);
    the negated similarity is the distance, which ranks as the similarity does.
    """
    return top_matches(
        -(query_features @ gallery_features.T),
        [item.pid for item in query_items],
        [item.pid for item in gallery_items],
        [item.camid for item in query_items],
        [item.camid for item in gallery_items],
        topk,
        camera_filter,
    )


def save_ranked_results(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    query_items: Sequence[ImageItem],
    gallery_items: Sequence[ImageItem],
    out_png: str | Path,
    num_queries: int = 8,
    topk: int = 10,
    thumb: tuple[int, int] = (64, 128),
    camera_filter: bool = True,
    seed: int = 0,
) -> Path:
    """Draws ``num_queries`` evenly chosen queries and their top-k matches into one PNG."""
    chosen = np.random.default_rng(seed).choice(
        len(query_items), min(num_queries, len(query_items)), replace=False
    )
    ranks = ranked_gallery(
        query_features[chosen],
        gallery_features,
        [query_items[i] for i in chosen],
        gallery_items,
        topk,
        camera_filter,
    )
    w, h = thumb
    gap, border = 12, 4
    canvas = Image.new("RGB", ((w + 2 * border) * (topk + 1) + gap, (h + 2 * border) * len(chosen)), "white")
    for row, (qi, ranked) in enumerate(zip(chosen, ranks, strict=False)):
        query = query_items[qi]
        y = row * (h + 2 * border)
        _paste_framed(canvas, query.path, (0, y), thumb, border, GREY)
        for col, gi in enumerate(ranked):
            colour = GREEN if gallery_items[gi].pid == query.pid else RED
            _paste_framed(
                canvas, gallery_items[gi].path, (gap + (col + 1) * (w + 2 * border), y), thumb, border, colour
            )
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out_png)
    return out_png


def _paste_framed(
    canvas: Image.Image,
    path: str,
    xy: tuple[int, int],
    size: tuple[int, int],
    border: int,
    colour: tuple[int, int, int],
) -> None:
    x, y = xy
    ImageDraw.Draw(canvas).rectangle(
        [x, y, x + size[0] + 2 * border - 1, y + size[1] + 2 * border - 1], fill=colour
    )
    with Image.open(path) as img:
        canvas.paste(img.convert("RGB").resize(size), (x + border, y + border))
