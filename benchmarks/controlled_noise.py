r"""Memory variants against clustering mistakes planted at known rates, on fixed pseudo-labels.

The robust memory claims robustness to clustering mistakes; on Market-1501's CPU
protocol clusters are so mixed (purity 0.40-0.47) that the claim is never tested where
it is meant to hold. Here the pseudo-labels are the true training identities with a
known share of the images moved (``--rates``), as merges of look-alike identities and
single intruders, merges making ``--merge-share`` of the impure clusters
(benchmarks/_planted_labels.py). The trainer is handed a clusterer that returns those
labels every epoch: no re-clustering, so every variant of a seed trains on the same
labels, and rate 0 is training on the identities themselves. Run it on a config that
converges, configs/market1501_converged.yaml.

Each (variant, rate, seed) run trains in ``runs/bench/<name>/<variant>_rate<r>_merge<m>_seed<s>``
and records mAP and Rank-1 of its last epoch, the purity and NMI of the planted labels
(measured by the run's diagnostics, about 1 - rate), the ground-truth diagnostics of
benchmarks/ablation.py, and what was planted (moved share, merges, intruders, the merge
share reached). The JSON holds ``variants.<variant>.rates.<rate>.runs[]`` and their mean
and spread. ``--resume`` reads back finished runs and continues interrupted ones.

    python benchmarks/controlled_noise.py --name controlled_noise_market1501 \
        --config configs/market1501_converged.yaml --data-root ../shared/datasets/market1501 \
        --rates 0 0.1 0.2 0.3 --variants cc_hard trimmed_hps csa_hard --seeds 1 2 3 --resume
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import training_parser, write_result  # noqa: E402
from _planted_labels import PlantedClusterer, PlantingError  # noqa: E402
from ablation import last_epoch_figures, summarise, train_unless_finished, variant_config  # noqa: E402
from robustreid.config.variants import VARIANTS  # noqa: E402
from robustreid.engine.builder import build_dataset  # noqa: E402
from robustreid.engine.run_dir import RunDir  # noqa: E402

DEFAULT_VARIANTS = ["cc_hard", "trimmed_hps", "csa_hard"]
#: merges among the impure clusters of real Market-1501 clusterings: 41-47 % (docs/experiments/saa_real_features.md)
DEFAULT_MERGE_SHARE = 0.45


def run_planted(args: argparse.Namespace, variant: str, rate: float, seed: int, overrides: list[str]) -> dict:
    """Train one (variant, rate, seed) run on planted labels; its last-epoch figures and what was planted."""
    folder = f"runs/bench/{args.name}/{variant}_rate{rate:g}_merge{args.merge_share:g}_seed{seed}"
    cfg = variant_config(args.config, variant, seed, overrides, folder)
    true_ids = build_dataset(cfg.data).train_pids_for_diagnostics()  # read here, by the bench only
    clusterer = PlantedClusterer(true_ids, rate, args.merge_share, seed)
    run_dir = train_unless_finished(cfg, args.resume, clusterer)
    return last_epoch_figures(run_dir, seed) | planted_figures(run_dir)


def planted_figures(run_dir: RunDir) -> dict:
    """What the run's clusterer planted, as it recorded it in the last epoch (the same every epoch)."""
    return {key: value for key, value in run_dir.read_metrics()[-1].items() if key.startswith("planted_")}


def run_all(args: argparse.Namespace, overrides: list[str]) -> dict[str, dict]:
    """Every variant at every rate, grouped as the JSON holds them."""
    return {
        variant: {
            "settings": VARIANTS[variant],
            "rates": {f"{rate:g}": runs_at(args, variant, rate, overrides) for rate in args.rates},
        }
        for variant in args.variants
    }


def runs_at(args: argparse.Namespace, variant: str, rate: float, overrides: list[str]) -> dict:
    """Every seed of one variant at one rate, with their mean and spread."""
    runs = [run_planted(args, variant, rate, seed, overrides) for seed in args.seeds]
    return {"runs": runs, **summarise(runs)}


def parse_args() -> argparse.Namespace:
    parser = training_parser(__doc__)
    parser.add_argument(
        "--rates", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3], help="shares of images moved"
    )
    parser.add_argument(
        "--merge-share",
        type=float,
        default=DEFAULT_MERGE_SHARE,
        help=f"share of the impure clusters that are merges (default {DEFAULT_MERGE_SHARE})",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=list(VARIANTS))
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse finished runs in runs/bench/<name>/ and continue interrupted ones",
    )
    args = parser.parse_args()
    if not all(0 <= rate < 1 for rate in args.rates):
        parser.error(f"--rates must be in [0, 1), got {args.rates}")
    if not 0 <= args.merge_share <= 1:
        parser.error(f"--merge-share must be in [0, 1], got {args.merge_share}")
    return args


def main() -> None:
    args = parse_args()
    logging.getLogger("robustreid").addHandler(logging.StreamHandler())
    overrides = [*args.overrides, *([f"data.root={args.data_root}"] if args.data_root else [])]
    start = time.perf_counter()
    try:
        results = run_all(args, overrides)
    except PlantingError as err:
        sys.exit(f"controlled_noise.py: error: {err}")
    headline = {
        variant: {
            rate: f"{r['mAP']['mean']:.1f}±{r['mAP']['std']:.1f}" for rate, r in result["rates"].items()
        }
        for variant, result in results.items()
    }
    print(headline, flush=True)
    write_result(
        args.name,
        "python benchmarks/controlled_noise.py " + shlex.join(sys.argv[1:]),
        time.perf_counter() - start,
        {
            "seeds": args.seeds,
            "rates": args.rates,
            "merge_share": args.merge_share,
            "config": args.config,
            "overrides": args.overrides,
            "variants": results,
        },
        summary={"mAP mean±std by rate": headline},
    )


if __name__ == "__main__":
    main()
