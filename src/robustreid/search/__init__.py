"""Searching a gallery with a trained model: a persistent faiss index, and thresholds for "not in gallery"."""

from robustreid.search.index import GalleryIndex, Match, QueryResult

__all__ = ["GalleryIndex", "Match", "QueryResult"]
