"""Can a checkpoint be picked without labels? Label-free scores against mAP in finished runs.

A user's folder has no query/gallery, so ``model_best.pth`` (picked by mAP) cannot be
written there. This bench reads run folders that were evaluated at three or more epochs
and asks, per run and per label-free score that the labeler logs every epoch
(``stability``: NMI against the previous epoch's pseudo-labels; ``cross_camera_share``:
the share of clusters spanning cameras), whether the score rises with mAP (Spearman over
the evaluated epochs) and what the epoch it would pick scores against the last epoch and
the best one (``benchmarks/own_data.py::label_free_selection``). It trains nothing:
seconds.

    python benchmarks/label_free_selection.py --name label_free_selection_market1501 \
        --runs 'runs/bench/ablation_market1501_converged*/*' 'runs/bench/market1501_converged_cc_hard/*'

Writes benchmarks/results/<--name>.json and a docs/results.md row.
"""

from __future__ import annotations

import argparse
import glob
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402
from own_data import LABEL_FREE_SCORES, label_free_selection  # noqa: E402
from robustreid.engine.run_dir import RunDir  # noqa: E402


def run_selection(folder: str) -> dict | None:
    """Each score's selection in one run folder; None when fewer than three epochs were evaluated."""
    records = RunDir(folder).read_metrics()
    scores = {score: label_free_selection(records, score) for score in LABEL_FREE_SCORES}
    if not any(scores.values()):
        return None
    return {"run": folder, **scores}


def score_summary(runs: list[dict], score: str) -> dict:
    """Over the runs: the median Spearman, how often the score rises with mAP (Spearman > 0), and the
    mAP lost against ``model_last.pth`` by picking with it."""
    picks = [r[score] for r in runs if r[score] is not None]
    return {
        "runs": len(picks),
        "median_spearman": round(float(np.median([p["spearman"] for p in picks])), 3),
        "rising_with_mAP": sum(p["spearman"] > 0 for p in picks),
        "picked_last_epoch": sum(p["picked_mAP"] == p["last_mAP"] for p in picks),
        "mean_gain_over_last": round(float(np.mean([p["picked_mAP"] - p["last_mAP"] for p in picks])), 2),
        "last_is_best": sum(p["last_mAP"] == p["best_mAP"] for p in picks),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", default="label_free_selection", help="the result's name")
    parser.add_argument("--runs", nargs="+", required=True, help="run folders (glob patterns)")
    args = parser.parse_args()
    start = time.perf_counter()
    folders = sorted(
        {f for pattern in args.runs for f in glob.glob(pattern) if Path(f, "metrics.jsonl").exists()}
    )
    runs = [r for r in map(run_selection, folders) if r is not None]
    if not runs:
        sys.exit(
            f"label_free_selection: no run under {' '.join(args.runs)} was evaluated at 3 or more epochs"
        )
    summary = {score: score_summary(runs, score) for score in LABEL_FREE_SCORES}
    command = "python benchmarks/label_free_selection.py " + shlex.join(sys.argv[1:])
    row = {
        f"{score}": f"Spearman {s['median_spearman']} (median), rising in {s['rising_with_mAP']}/{s['runs']}, "
        f"picks the last epoch in {s['picked_last_epoch']}, {s['mean_gain_over_last']:+} mAP against it"
        for score, s in summary.items()
    }
    write_result(
        args.name, command, time.perf_counter() - start, {"summary": summary, "runs": runs}, summary=row
    )


if __name__ == "__main__":
    main()
