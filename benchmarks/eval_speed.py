"""Evaluation speed and memory at Market-1501 and MSMT17 sizes, on synthetic features.

(a) Market-1501: 3,368 queries x 15,913 gallery with the real identity and
    camera labels (parsed from the image names in ../shared when present,
    random otherwise), d=1280. Times ``evaluate_rank`` on a precomputed
    distance matrix, chunked and in one piece (results asserted identical),
    and ``evaluate_features``. Target: < 3 s from features. Also times one
    ``evaluate_features(rerank=True)``: O((N_q + N_g)^2), for scale.
(b) MSMT17: 11,659 x 82,161, d=2048, random labels with MSMT17's counts
    (3,060 identities, 15 cameras), ``evaluate_features`` chunked. Target:
    < 60 s; the peak RSS shows the memory stays bounded.

Features are random unit vectors planted around one centre per identity, so
rankings are realistic (neither perfect nor random). Writes
benchmarks/results/eval_speed.json and a row in docs/results.md.

    python benchmarks/eval_speed.py [--market-root PATH] [--skip-msmt]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402
from robustreid.evaluation import RankMetrics, evaluate_features, evaluate_rank  # noqa: E402

DEFAULT_MARKET_ROOT = Path(__file__).resolve().parents[2] / "shared/datasets/market1501/Market-1501-v15.09.15"
MARKET_SIZES = {"query": 3368, "gallery": 15913, "ids": 751, "cameras": 6, "dim": 1280}
MSMT_SIZES = {"query": 11659, "gallery": 82161, "ids": 3060, "cameras": 15, "dim": 2048}
NOISE = 3.0
"""Noise norm around a unit identity centre: same-identity cosine ~ 0.1, in the tail of the negatives."""
REPEATS = 3
GIB = 1024**3


def market_labels(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(pids, 0-based camids) parsed from Market-1501 image names, junk (pid -1) dropped."""
    parsed = [re.match(r"([-\d]+)_c(\d)", p.name) for p in sorted(folder.glob("*.jpg"))]
    labels = np.array([(int(m[1]), int(m[2]) - 1) for m in parsed if m and int(m[1]) != -1])
    return labels[:, 0], labels[:, 1]


def random_labels(rng: np.random.Generator, sizes: dict, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Identities with uneven image counts (gamma-distributed weights) and uniform cameras."""
    weights = rng.gamma(2.0, size=sizes["ids"])
    pids = rng.choice(np.arange(1, sizes["ids"] + 1), size=sizes[split], p=weights / weights.sum())
    return pids, rng.integers(0, sizes["cameras"], sizes[split])


def planted_features(pids: np.ndarray, centres: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Unit rows = centre of the row's identity + noise; distractors (pid 0) are pure noise.

    Built in place, block by block, so the peak memory is the features themselves.
    """
    features = torch.randn(len(pids), centres.shape[1], generator=generator)
    features.mul_(NOISE / centres.shape[1] ** 0.5)
    for start in range(0, len(pids), 8192):
        block = slice(start, start + 8192)
        features[block].add_(centres[torch.from_numpy(pids[block])])
    return torch.nn.functional.normalize(features, dim=1, out=features)


def timed(function: Callable[[], RankMetrics], repeats: int) -> tuple[RankMetrics, dict]:
    """The result and its timing: best and median wall seconds, and the CPU seconds of the best run.

    CPU seconds (all threads) tell the cost apart from waiting for cores that other jobs hold.
    """
    runs = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    walls = [w for w, _ in runs]
    best = min(runs)
    return result, {
        "best_s": round(best[0], 3),
        "median_s": round(statistics.median(walls), 3),
        "cpu_s_of_best": round(best[1], 3),
    }


def accuracy_figures(result: RankMetrics) -> dict:
    return {"mAP": round(100 * result["mAP"], 2), "rank1": round(100 * float(result["cmc"][0]), 2)}


def make_problem(sizes: dict, labels: dict, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    num_centres = 1 + max(int(pids.max()) for pids, _ in labels.values())  # one per pid value, 0 included
    centres = torch.nn.functional.normalize(torch.randn(num_centres, sizes["dim"], generator=generator))
    centres[0] = 0  # distractors belong to no identity
    query = planted_features(labels["query"][0], centres, generator)
    gallery = planted_features(labels["gallery"][0], centres, generator)
    return query, gallery


class MarketProblem(NamedTuple):
    query: torch.Tensor
    gallery: torch.Tensor
    labels: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # query/gallery pids, query/gallery camids
    source: str


def market_problem(root: Path, rng: np.random.Generator) -> MarketProblem:
    real = (root / "query").is_dir() and (root / "bounding_box_test").is_dir()
    labels = {
        split: market_labels(root / folder) if real else random_labels(rng, MARKET_SIZES, split)
        for split, folder in (("query", "query"), ("gallery", "bounding_box_test"))
    }
    query, gallery = make_problem(MARKET_SIZES, labels, seed=0)
    label_args = (labels["query"][0], labels["gallery"][0], labels["query"][1], labels["gallery"][1])
    return MarketProblem(query, gallery, label_args, "real Market-1501 file names" if real else "random")


def bench_market(problem: MarketProblem) -> dict:
    query, gallery, label_args = problem.query, problem.gallery, problem.labels
    distmat = (1 - query @ gallery.T).numpy()
    chunked, chunked_time = timed(lambda: evaluate_rank(distmat, *label_args), REPEATS)
    whole, whole_time = timed(lambda: evaluate_rank(distmat, *label_args, chunk_size=None), REPEATS)
    assert whole["num_valid_queries"] == chunked["num_valid_queries"]
    assert abs(whole["mAP"] - chunked["mAP"]) < 1e-12 and abs(whole["mINP"] - chunked["mINP"]) < 1e-12
    assert np.array_equal(whole["cmc"], chunked["cmc"])
    from_features, features_time = timed(lambda: evaluate_features(query, gallery, *label_args), REPEATS)
    assert np.array_equal(from_features["cmc"], chunked["cmc"])
    return {
        "labels": problem.source,
        "query": len(query),
        "gallery": len(gallery),
        "dim": MARKET_SIZES["dim"],
        "valid_queries": chunked["num_valid_queries"],
        **accuracy_figures(chunked),
        "evaluate_rank_chunked": chunked_time,
        "evaluate_rank_unchunked": whole_time,
        "evaluate_features": features_time,
        "target_s": 3.0,
    }


def bench_rerank(problem: MarketProblem) -> dict:
    """Run last: its O((N_q + N_g)^2) peak would hide the others' in the process-wide peak RSS."""
    result, timing = timed(
        lambda: evaluate_features(problem.query, problem.gallery, *problem.labels, rerank=True), 1
    )
    return {
        **accuracy_figures(result),
        "evaluate_features": timing,
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB, 2),
    }


def bench_msmt(rng: np.random.Generator) -> dict:
    labels = {split: random_labels(rng, MSMT_SIZES, split) for split in ("query", "gallery")}
    query, gallery = make_problem(MSMT_SIZES, labels, seed=1)
    label_args = (labels["query"][0], labels["gallery"][0], labels["query"][1], labels["gallery"][1])
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result, timing = timed(lambda: evaluate_features(query, gallery, *label_args), 1)
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "labels": "random, MSMT17 counts",
        "query": len(query),
        "gallery": len(gallery),
        "dim": MSMT_SIZES["dim"],
        "valid_queries": result["num_valid_queries"],
        **accuracy_figures(result),
        "evaluate_features": timing,
        "target_s": 60.0,
        "features_gib": round((query.nbytes + gallery.nbytes) / GIB, 2),
        "peak_rss_before_eval_gib": round(peak_before / GIB, 2),
        "peak_rss_gib": round(peak_after / GIB, 2),
    }


def headline(figures: dict) -> dict:
    """The few figures shown in docs/results.md; the JSON keeps everything."""
    market = figures["market1501"]
    summary = {
        "market_from_features_s": market["evaluate_features"]["best_s"],
        "market_from_distmat_s": market["evaluate_rank_chunked"]["best_s"],
    }
    if "msmt17" in figures:
        summary["msmt_from_features_s"] = figures["msmt17"]["evaluate_features"]["best_s"]
        summary["msmt_peak_rss_gib"] = figures["msmt17"]["peak_rss_gib"]
    summary["market_rerank_s"] = figures["market1501_rerank"]["evaluate_features"]["best_s"]
    summary["load_avg_start"] = figures["load_average_1min"]["start"]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--market-root", type=Path, default=DEFAULT_MARKET_ROOT)
    parser.add_argument("--skip-msmt", action="store_true", help="only the Market-1501 size")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    load_at_start = os.getloadavg()[0]  # other jobs share the cores; this says how much
    problem = market_problem(args.market_root, rng)
    figures = {"market1501": bench_market(problem)}
    print("market1501", figures["market1501"], flush=True)
    if not args.skip_msmt:
        figures["msmt17"] = bench_msmt(rng)
        print("msmt17", figures["msmt17"], flush=True)
    figures["market1501_rerank"] = bench_rerank(problem)
    print("market1501_rerank", figures["market1501_rerank"], flush=True)
    figures["load_average_1min"] = {"start": round(load_at_start, 2), "end": round(os.getloadavg()[0], 2)}
    command = "python benchmarks/eval_speed.py " + shlex.join(sys.argv[1:])
    write_result("eval_speed", command.strip(), time.perf_counter() - start, figures, headline(figures))


if __name__ == "__main__":
    main()
