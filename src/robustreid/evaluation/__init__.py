"""Evaluation: Market-1501 ranking metrics (mAP, CMC, mINP), ranked lists and k-reciprocal re-ranking."""

from robustreid.evaluation.ranking import (
    RankMetrics,
    average_precisions,
    cosine_distance,
    evaluate_features,
    evaluate_rank,
    format_metrics,
    top_matches,
)
from robustreid.evaluation.rerank import re_ranking

__all__ = [
    "RankMetrics",
    "average_precisions",
    "cosine_distance",
    "evaluate_features",
    "evaluate_rank",
    "format_metrics",
    "re_ranking",
    "top_matches",
]
