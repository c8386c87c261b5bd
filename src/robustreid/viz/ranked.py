"""Ranked-list pictures: each row a query, then its top-k gallery matches.

One drawer (:func:`draw_ranked_rows`) makes every such picture: the evaluation's
ranked results (frames green when the identity matches, red when it does not),
the search results of an unlabelled gallery and the worst-query lists of
``robustreid viz ranks``; each only decides the frames and captions of its tiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from robustreid.data.base import ImageItem
from robustreid.evaluation import average_precisions, top_matches

GREEN, RED, GREY, BLUE = (40, 170, 60), (210, 40, 40), (128, 128, 128), (40, 90, 200)
CAPTION_HEIGHT = 14
_FONT = ImageFont.load_default()


@dataclass(frozen=True)
class Tile:
    """One image of a ranked-list picture, its frame colour and an optional caption under it."""

    path: str
    colour: tuple[int, int, int] = GREY
    caption: str | None = None


@dataclass(frozen=True)
class RankedRow:
    query: Tile
    matches: Sequence[Tile]


def identity_colour(query: ImageItem, match: ImageItem) -> tuple[int, int, int]:
    """Green for the query's identity, red for another; grey when either identity is unknown (pid < 0)."""
    if query.pid < 0 or match.pid < 0:
        return GREY
    return GREEN if match.pid == query.pid else RED


@dataclass(frozen=True)
class RankList:
    """A labelled query's top-k gallery items under the protocol, their distances, and its AP."""

    query: ImageItem
    matches: list[ImageItem]
    distances: list[float]  # cosine distances 1 - cos, ascending
    average_precision: float  # NaN when the gallery holds no true match of the query

    def as_dict(self) -> dict[str, Any]:
        ap = self.average_precision
        return {
            "query": self.query.path,
            "pid": self.query.pid,
            "camid": self.query.camid,
            "average_precision": None if np.isnan(ap) else ap,
            "matches": [
                {
                    "rank": rank + 1,
                    "path": match.path,
                    "pid": match.pid,
                    "camid": match.camid,
                    "distance": distance,
                    "correct": match.pid == self.query.pid,
                }
                for rank, (match, distance) in enumerate(zip(self.matches, self.distances, strict=True))
            ],
        }

    def row(self) -> RankedRow:
        """Green/red frames by identity, distances under the matches, the AP under the query."""
        ap = "no match" if np.isnan(self.average_precision) else f"AP {self.average_precision:.2f}"
        return RankedRow(
            Tile(self.query.path, caption=ap),
            [
                Tile(match.path, identity_colour(self.query, match), f"{distance:.3f}")
                for match, distance in zip(self.matches, self.distances, strict=True)
            ],
        )


def rank_lists(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    query_items: Sequence[ImageItem],
    gallery_items: Sequence[ImageItem],
    topk: int = 10,
    camera_filter: bool = True,
) -> list[RankList]:
    """Every query's ranked list as the evaluation ranks and scores it (L2-normalised features)."""
    ranks = ranked_gallery(query_features, gallery_features, query_items, gallery_items, topk, camera_filter)
    similarity = np.einsum("qd,qkd->qk", query_features, gallery_features[ranks])
    aps = average_precisions(
        query_features,
        gallery_features,
        [it.pid for it in query_items],
        [it.pid for it in gallery_items],
        [it.camid for it in query_items],
        [it.camid for it in gallery_items],
        camera_filter,
    )
    return [
        RankList(query, [gallery_items[g] for g in ranked], (1 - sims).tolist(), float(ap))
        for query, ranked, sims, ap in zip(query_items, ranks, similarity, aps, strict=True)
    ]


def choose_rank_lists(
    lists: Sequence[RankList], count: int, sort_by_ap: bool = False, seed: int = 0
) -> list[RankList]:
    """``count`` lists: the lowest-AP queries first (those without a true match left out), or a random few."""
    if sort_by_ap:
        scored = [rl for rl in lists if not np.isnan(rl.average_precision)]
        return sorted(scored, key=lambda rl: rl.average_precision)[:count]
    chosen = np.random.default_rng(seed).choice(len(lists), min(count, len(lists)), replace=False)
    return [lists[i] for i in chosen]


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
    """Draws ``num_queries`` randomly chosen queries and their top-k matches into one PNG."""
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
    rows = [
        RankedRow(
            Tile(query_items[qi].path),
            [
                Tile(gallery_items[gi].path, identity_colour(query_items[qi], gallery_items[gi]))
                for gi in ranked
            ],
        )
        for qi, ranked in zip(chosen, ranks, strict=True)
    ]
    return draw_ranked_rows(rows, out_png, thumb)


def draw_ranked_rows(
    rows: Sequence[RankedRow], out_png: str | Path, thumb: tuple[int, int] = (64, 128), border: int = 4
) -> Path:
    """One PNG: per row the query, a gap, then its matches, each framed; captions (if any) under the tiles."""
    gap = 12
    captions = any(tile.caption for row in rows for tile in (row.query, *row.matches))
    strips = [
        (tile_strip([row.query], thumb, border, captions), tile_strip(row.matches, thumb, border, captions))
        for row in rows
    ]
    tile_w = thumb[0] + 2 * border
    width = tile_w * (1 + max((len(row.matches) for row in rows), default=0)) + gap
    row_h = strips[0][0].height if strips else 1
    canvas = Image.new("RGB", (width, row_h * max(len(rows), 1)), "white")
    for r, (query, matches) in enumerate(strips):
        canvas.paste(query, (0, r * row_h))
        canvas.paste(matches, (tile_w + gap, r * row_h))
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out_png)
    return out_png


def tile_strip(
    tiles: Sequence[Tile], thumb: tuple[int, int] = (64, 128), border: int = 4, captions: bool = False
) -> Image.Image:
    """A row of framed thumbnails; ``captions`` reserves a line under each for its caption."""
    w, h = thumb
    tile_w, tile_h = w + 2 * border, h + 2 * border
    strip = Image.new(
        "RGB", (max(tile_w * len(tiles), 1), tile_h + (CAPTION_HEIGHT if captions else 0)), "white"
    )
    draw = ImageDraw.Draw(strip)
    for i, tile in enumerate(tiles):
        x = i * tile_w
        draw.rectangle([x, 0, x + tile_w - 1, tile_h - 1], fill=tile.colour)
        with Image.open(tile.path) as img:
            strip.paste(img.convert("RGB").resize(thumb), (x + border, border))
        if captions and tile.caption:
            draw.text((x + border, tile_h + 1), tile.caption, fill="black", font=_FONT)
    return strip
