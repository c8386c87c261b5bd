"""Unsupervised training benchmark: one config, trained and evaluated, figures to benchmarks/results.

Used for the Market-1501 CPU protocol (configs/market1501_cpu.yaml, real data read
from ../shared, never copied) and for the ablations (same config, ``--set``
overrides). Writes benchmarks/results/<name>.json with the accuracy, the wall time,
seconds per phase, the per-epoch curve and the throughput that bounds what the budget
buys: this run's own images per second, next to the table of speed-ups measured on
this machine kind by benchmarks/cpu_throughput.py (when that file exists). It also
writes a row in docs/results.md.

    python benchmarks/train_protocol.py --name market1501_cpu_baseline \
        --config configs/market1501_cpu.yaml --data-root ../shared/datasets/market1501

``--seeds 1 2`` trains one run per seed, each in ``runs/bench/<name>/seed<s>``; the JSON
holds them as ``runs[]`` (seed, mAP, Rank-1, wall time, seconds per phase, throughput,
per-epoch curve) and their mean. A seed's ``wall_s`` is the time its process spent on it:
a seed resumed after an interruption counts only what ran after the resume. With
``--resume`` a finished seed is read back from its folder, not trained again.
``--time-plot PNG`` draws where the first seed's time went, per phase and epoch.

``--dump-features 0 8 15`` also keeps those epochs' clustered training features for the
feature-level benches (``benchmarks/_feature_dumps.py``, outside the repository).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import mean_and_spread, training_parser, write_result  # noqa: E402
from _feature_dumps import DumpFeatures  # noqa: E402
from robustreid.config import load_config  # noqa: E402
from robustreid.engine.builder import build_dataset  # noqa: E402
from robustreid.engine.run import train_and_report  # noqa: E402
from robustreid.engine.run_dir import RunDir  # noqa: E402
from robustreid.viz.curves import PHASES, phase_seconds, plot_phase_times  # noqa: E402

CURVE_KEYS = ("epoch", "num_clusters", "num_outliers", "purity", "nmi", "loss", "mAP", "rank1")
FINISHED = "protocol_run.json"  # a finished seed's figures, in its run folder
THROUGHPUT_TABLE = Path(__file__).resolve().parent / "results" / "cpu_throughput.json"


def run_throughput(records: list[dict], iters: int, batch_size: int) -> dict[str, float]:
    """Images per second this run extracted (every training image, every epoch) and trained on."""
    extracted = sum(r["num_samples"] for r in records)
    trained = len(records) * iters * batch_size
    return {
        "extract_img_s": round(extracted / sum(r["time_extract"] for r in records), 1),
        "train_img_s": round(trained / sum(r["time_train"] for r in records), 1),
    }


def measured_speedups() -> dict | None:
    """img/s per setting from benchmarks/cpu_throughput.py, with where and when it was measured."""
    if not THROUGHPUT_TABLE.exists():
        return None
    table = json.loads(THROUGHPUT_TABLE.read_text())
    return {
        "source": f"benchmarks/results/{THROUGHPUT_TABLE.name}",
        "machine": table["machine"]["cpu"],
        "date": table["date"],
        **{
            phase: {name: row["img_s"] for name, row in table[phase].items()}
            for phase in ("train", "extract")
        },
    }


def main() -> None:
    args = parse_args()
    logging.getLogger("robustreid").addHandler(logging.StreamHandler())
    start = time.perf_counter()
    seeds = args.seeds or [load_config(args.config, args.overrides).seed]
    runs = [run_seed(args, seed) for seed in seeds]
    wall = time.perf_counter() - start
    mean_map, std_map = mean_and_spread([r["mAP"] for r in runs], 2)
    figures = {
        "mAP": mean_map,
        "mAP_std": std_map,
        "rank1": mean_and_spread([r["rank1"] for r in runs], 2)[0],
        "seeds": [r["seed"] for r in runs],
        "config": args.config,
        "overrides": args.overrides,
        "speedups_measured": measured_speedups(),
        "runs": runs,
    }
    if args.time_plot:
        plot_phase_times(RunDir(runs[0]["output_dir"]).read_metrics(), args.time_plot, title=args.name)
    command = "python benchmarks/train_protocol.py " + shlex.join(sys.argv[1:])
    summary = {"mAP": mean_map, "mAP_std": std_map, "seeds": figures["seeds"]} | {
        f"seed{r['seed']}": f"{r['mAP']} / {r['rank1']} in {r['wall_s']:.0f} s" for r in runs
    }
    write_result(args.name, command, wall, figures, summary=summary)


def parse_args() -> argparse.Namespace:
    parser = training_parser(__doc__)
    parser.add_argument("--seeds", nargs="+", type=int, help="one run per seed (default: the config's seed)")
    parser.add_argument(
        "--resume", action="store_true", help="reuse finished seeds and resume an interrupted one"
    )
    parser.add_argument(
        "--dump-features",
        nargs="+",
        type=int,
        default=[],
        metavar="EPOCH",
        help="keep these epochs' clustered training features (see benchmarks/_feature_dumps.py)",
    )
    parser.add_argument(
        "--time-plot", metavar="PNG", help="draw the first seed's seconds per phase and epoch"
    )
    return parser.parse_args()


def run_seed(args: argparse.Namespace, seed: int) -> dict:
    """Train and evaluate one seed; its figures are kept in its run folder, so ``--resume`` skips it once done."""
    folder = f"runs/bench/{args.name}/seed{seed}"
    cfg = load_config(
        args.config, [*args.overrides, f"seed={seed}", f"output_dir={folder}", *_data_root(args)]
    )
    done = Path(folder) / FINISHED
    if args.resume and done.exists():
        return json.loads(done.read_text())
    start = time.perf_counter()
    summary = train_and_report(cfg, resume=args.resume, observers=_dump_observers(cfg, args))
    run = run_figures(cfg, summary, wall_s=time.perf_counter() - start)
    done.write_text(json.dumps(run, indent=2))
    return run


def run_figures(cfg, summary: dict, wall_s: float) -> dict:
    """One seed's accuracy, wall time, seconds per phase, throughput and per-epoch curve."""
    records = RunDir(cfg.output_dir).read_metrics()
    last = records[-1]
    return {
        "seed": cfg.seed,
        "mAP": round(100 * last["mAP"], 2),
        "rank1": round(100 * last["rank1"], 2),
        "initial_mAP": _pct(summary["before"], "mAP"),
        "initial_rank1": _pct(summary["before"], "rank1"),
        "wall_s": round(wall_s, 1),
        "epochs": len(records),
        "output_dir": cfg.output_dir,
        "seconds_per_phase": {phase: round(sum(s), 1) for phase, s in phase_seconds(records).items()},
        "seconds_per_epoch": round(
            float(np.mean([sum(r.get(f"time_{p}", 0) for p in PHASES[:3]) for r in records])), 1
        ),
        "throughput": run_throughput(records, cfg.optim.iters, cfg.optim.batch_size),
        "curve": [{k: r[k] for k in CURVE_KEYS if k in r} for r in records],
    }


def _data_root(args: argparse.Namespace) -> list[str]:
    return [f"data.root={args.data_root}"] if args.data_root else []


def _dump_observers(cfg, args: argparse.Namespace) -> list[DumpFeatures]:
    if not args.dump_features:
        return []
    dataset = build_dataset(cfg.data)
    return [
        DumpFeatures(
            args.name, args.dump_features, dataset.train_camids, dataset.train_pids_for_diagnostics()
        )
    ]


def _pct(metrics: dict | None, key: str) -> float | None:
    return round(100 * metrics[key], 2) if metrics else None


if __name__ == "__main__":
    main()
