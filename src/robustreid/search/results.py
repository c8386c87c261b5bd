"""Search results as a user reads them: a text listing, JSON, CSV and a picture."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from robustreid.search.index import QueryResult
from robustreid.viz.ranked import BLUE, GREY, RankedRow, Tile, draw_ranked_rows

CSV_COLUMNS = ("query", "in_gallery", "rank", "path", "distance", "reranked_distance")


def verdict(result: QueryResult, threshold: float | None) -> str:
    """'' when no threshold was given, else whether the query's nearest image is within it."""
    if result.in_gallery is None or threshold is None:
        return ""
    nearest = f"nearest distance {result.matches[0].distance:.4f}" if result.matches else "empty gallery"
    if result.in_gallery:
        return f"in gallery ({nearest} <= threshold {threshold:g})"
    return f"not in gallery ({nearest} > threshold {threshold:g})"


def format_results(results: Sequence[QueryResult], threshold: float | None = None) -> str:
    """Per query a header line (with the verdict) and its ranked matches: rank, cosine distance, path."""
    lines = []
    for result in results:
        status = verdict(result, threshold)
        lines.append(f"query {result.query}" + (f": {status}" if status else ""))
        reranked = any(m.reranked_distance is not None for m in result.matches)
        lines.append("  rank  distance" + ("  reranked" if reranked else "") + "  match")
        for m in result.matches:
            rerank_cell = f"  {m.reranked_distance:8.4f}" if reranked else ""
            lines.append(f"  {m.rank:>4}  {m.distance:8.4f}{rerank_cell}  {m.path}")
    return "\n".join(lines)


def write_json(results: Sequence[QueryResult], path: str | Path, threshold: float | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"threshold": threshold, "queries": [r.as_dict() for r in results]}, indent=2))
    return path


def write_csv(results: Sequence[QueryResult], path: str | Path) -> Path:
    """One row per (query, match); a query without matches still gets a row."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for r in results:
            in_gallery = "" if r.in_gallery is None else str(r.in_gallery).lower()
            for m in r.matches or [None]:
                cells = ("", "", "", "") if m is None else (m.rank, m.path, m.distance, m.reranked_distance)
                writer.writerow((r.query, in_gallery, *("" if c is None else c for c in cells)))
    return path


def save_results_png(
    results: Sequence[QueryResult], out_png: str | Path, threshold: float | None = None
) -> Path:
    """Query, then matches captioned with their distance; blue frames for matches within the threshold."""
    rows = [
        RankedRow(
            Tile(r.query, caption="not in gallery" if r.in_gallery is False else "query"),
            [
                Tile(
                    m.path,
                    BLUE if threshold is not None and m.distance <= threshold else GREY,
                    f"{m.distance:.3f}",
                )
                for m in r.matches
            ],
        )
        for r in results
    ]
    return draw_ranked_rows(rows, out_png)
