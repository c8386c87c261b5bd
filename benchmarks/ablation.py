"""Ablation of the robust memory: prototype init x memory update, same data, budget and seeds.

Variants (``robustreid.config.variants.VARIANTS``; the default runs the issue's six): baseline mean/mean,
Cluster Contrast hard mean/hard, gated_hard (3C's camera-gated hardest positive),
CSA v2 (SAA prototypes as a fixed anchor next to the momentum ones), HPS v2 (the
hardest reliable positive after a warm-up, SAA trained by CSA on mean prototypes),
full (both); ``--variants`` adds the first design (csa_v1, hps_v1, full_v1) and one
row per design choice (memory settings, and camera-debiased clustering). For each:
mAP, Rank-1, pseudo-label purity/NMI of the last epoch, seconds per epoch spent
initialising the memory (where CSA's SAA training happens) and training (where
HPS's selection happens), and the
ground-truth diagnostics averaged over epochs (robustreid.memory.diagnostics):
distance of the initialised and of mean prototypes to the identity centres, and
the fraction of memory updates made by misplaced samples. Mean and spread over seeds.

``--jobs N`` trains N runs at once in separate processes (each with cores/N torch
threads), for many-core CPU machines. Elsewhere keep 1: five runs sharing an H100
each trained ~30x slower than one alone (the processes time-slice the GPU), and
three one-thread runs on our 2-core CPU each ~10x slower than one two-thread run.
``--resume`` reads back finished runs and continues interrupted ones, so a long
ablation can be stopped and restarted without losing work.

``--oracle-drop-misplaced`` is a diagnostic, not a variant: each epoch's real clustering
loses the members that are not of their cluster's majority identity (read from the
data set's labels, benchmarks/_oracle_labels.py), which bounds what any memory that skips
suspected mistakes can gain; ``--oracle-recall`` and ``--oracle-precision`` make it an imperfect
detector of known quality, and ``--oracle-ranked`` makes it pick as a distance ranking would.
``--drop-dispersed SHARE`` drops, label-free, that share of the members farthest from their
cluster's trimmed mean instead; ``--drop-view`` measures that distance in the first epoch's
(pre-trained) features, or in both. Their runs record the purity before the cleaning and the
share of the dropped members that were misplaced.

    python benchmarks/ablation.py --name ablation_synthetic --config configs/synthetic.yaml \
        --set eval.before_training=false --seeds 1 2 3
    python benchmarks/ablation.py --name ablation_market1501_cpu --config configs/market1501_cpu.yaml \
        --data-root ../shared/datasets/market1501 --seeds 1
    python benchmarks/ablation.py --name oracle_market1501_converged --config configs/market1501_converged_v2.yaml \
        --data-root ../shared/datasets/market1501 --variants cc_hard --oracle-drop-misplaced --resume
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import mean_and_spread, training_parser, write_result  # noqa: E402
from _oracle_labels import VIEWS, DropRule, MembersDropped  # noqa: E402
from robustreid.clustering import Clusterer  # noqa: E402
from robustreid.config import TrainConfig, load_config  # noqa: E402
from robustreid.config.variants import NAMED_VARIANTS, VARIANTS  # noqa: E402
from robustreid.engine.builder import build_clusterer, build_dataset, train_time_stamps  # noqa: E402
from robustreid.engine.run import train_and_report  # noqa: E402
from robustreid.engine.run_dir import RunDir  # noqa: E402

# figures averaged over a run's epochs: the diagnostics exist only when ground truth is known
EPOCH_MEANS = {
    "time_memory_init": "init_s_per_epoch",
    "time_train": "train_s_per_epoch",
    "prototype_error": "prototype_error",
    "mean_prototype_error": "mean_prototype_error",
    "update_noise_rate": "update_noise_rate",
}


def run_variant(
    name: str,
    config: str,
    variant: str,
    seed: int,
    overrides: list[str],
    resume: bool,
    drop: DropRule | None = None,
) -> dict:
    """Train one (variant, seed) run and return its last-epoch figures.

    With ``resume`` a finished run in its folder is read back, an interrupted one continues.
    With a ``drop`` rule each epoch's misplaced members, or a share of the most dispersed ones,
    are dropped (:class:`MembersDropped`); the figures then add the
    purity the real clustering had before and the share of the dropped that were misplaced.
    """
    cfg = variant_config(config, variant, seed, overrides, f"runs/bench/{name}/{variant}_seed{seed}")
    if not drop:
        return last_epoch_figures(train_unless_finished(cfg, resume), seed)
    dataset = build_dataset(cfg.data)
    true_ids = dataset.train_pids_for_diagnostics()  # read here, by the bench only
    choose = drop.chooser(true_ids, [item.path for item in dataset.train])
    clusterer = build_clusterer(cfg.cluster, train_time_stamps(dataset, cfg.cluster))
    run_dir = train_unless_finished(
        cfg, resume, MembersDropped(clusterer, choose, true_ids, drop.reads_first_view)
    )
    records = run_dir.read_metrics()
    return last_epoch_figures(run_dir, seed) | {
        "purity_before_cleaning": records[-1]["oracle_purity_before"],
        "dropped_last_epoch": records[-1]["oracle_dropped"],
        "dropped_misplaced": _epoch_mean(records, "oracle_dropped_misplaced"),
    }


def variant_config(
    config: str, variant: str, seed: int, overrides: list[str], output_dir: str
) -> TrainConfig:
    """``config`` after the common ``overrides``, then the variant's settings, the seed and the run folder."""
    return load_config(config, [*overrides, *VARIANTS[variant], f"seed={seed}", f"output_dir={output_dir}"])


def train_unless_finished(cfg: TrainConfig, resume: bool, clusterer: Clusterer | None = None) -> RunDir:
    """The run folder of ``cfg`` after training it; with ``resume`` a finished run is kept, an interrupted one continues.

    ``clusterer`` replaces the one of ``cfg.cluster`` (a benchmark's fixed pseudo-labels).
    """
    run_dir = RunDir(cfg.output_dir)
    if not (resume and len(run_dir.read_metrics()) == cfg.optim.epochs):
        train_and_report(cfg, resume=resume and run_dir.has_checkpoint, clusterer=clusterer)
    return run_dir


def last_epoch_figures(run_dir: RunDir, seed: int) -> dict:
    """mAP and Rank-1 (in %), purity and NMI of the last epoch, and the :data:`EPOCH_MEANS` over epochs."""
    records = run_dir.read_metrics()
    last = records[-1]
    wall = run_dir.read_json(RunDir.SUMMARY)["wall_s"]  # of the last (possibly resumed) invocation
    return {
        "seed": seed,
        "wall_s": wall,
        "mAP": 100 * last["mAP"],
        "rank1": 100 * last["rank1"],
        "purity": last.get("purity"),
        "nmi": last.get("nmi"),
        **{name: _epoch_mean(records, key) for key, name in EPOCH_MEANS.items()},
    }


def _epoch_mean(records: list[dict], key: str) -> float | None:
    values = [r[key] for r in records if r.get(key) is not None]
    return float(np.mean(values)) if values else None


def summarise(runs: list[dict]) -> dict:
    """Mean and (population) standard deviation over seeds of every figure."""
    keys = [k for k in runs[0] if k not in ("seed", "wall_s") and runs[0][k] is not None]
    return {
        k: dict(zip(("mean", "std"), mean_and_spread([r[k] for r in runs], 3), strict=True)) for k in keys
    }


def _limit_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_all(args: argparse.Namespace, overrides: list[str]) -> dict[str, list[dict]]:
    """Every (variant, seed) run, ``args.jobs`` at a time; results grouped by variant in seed order."""
    tasks = [(v, s) for v in args.variants for s in args.seeds]
    drop = DropRule(
        args.oracle_drop_misplaced,
        args.drop_dispersed,
        args.drop_view,
        args.oracle_recall,
        args.oracle_precision,
        tuple(args.oracle_ranked),
        args.drop_other_passes,
    )
    call = [(args.name, args.config, v, s, overrides, args.resume, drop) for v, s in tasks]
    if args.jobs == 1:
        runs = [run_variant(*c) for c in call]
    else:
        threads = max(1, len(os.sched_getaffinity(0)) // args.jobs)
        with ProcessPoolExecutor(
            args.jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_limit_threads,
            initargs=(threads,),
        ) as pool:
            runs = list(pool.map(run_variant, *zip(*call, strict=False)))
    grouped: dict[str, list[dict]] = {v: [] for v in args.variants}
    for (variant, _), run in zip(tasks, runs, strict=False):
        grouped[variant].append(run)
    return grouped


def parse_args() -> argparse.Namespace:
    """The command line, checked: the drop options exclude each other."""
    parser = training_parser(__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--variants", nargs="+", default=NAMED_VARIANTS, choices=list(VARIANTS))
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs trained at once (default 1; more only on many-core CPUs, see above)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse finished runs in runs/bench/<name>/ and continue interrupted ones",
    )
    parser.add_argument(
        "--oracle-drop-misplaced",
        action="store_true",
        help="diagnostic: each epoch's members not of their cluster's majority identity become outliers "
        "(reads the true identities; the most any skip of suspected mistakes can gain, benchmarks/_oracle_labels.py)",
    )
    for option, what in [
        ("recall", "the share of the misplaced members it drops"),
        ("precision", "the share of the dropped members that are misplaced: it adds rightly placed ones"),
    ]:
        parser.add_argument(
            f"--oracle-{option}",
            type=float,
            default=1.0,
            help=f"with --oracle-drop-misplaced: {what} (default 1; fixed members, seed 0)",
        )
    parser.add_argument(
        "--oracle-ranked",
        nargs="+",
        default=[],
        choices=["misplaced", "right"],
        help="with --oracle-drop-misplaced: pick these members as the label-free drop ranks them, the most "
        "dispersed in --drop-view first, instead of at random",
    )
    parser.add_argument(
        "--drop-dispersed",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="each epoch this share of the clustered members, the farthest from their cluster's trimmed mean, "
        "become outliers: the label-free counterpart of --oracle-drop-misplaced (default 0: none)",
    )
    parser.add_argument(
        "--drop-view",
        choices=VIEWS,
        default="current",
        help="with --drop-dispersed or --oracle-ranked: rank by the distances in this epoch's features, in the first epoch's "
        "(pre-trained, centred per camera), or by the sum of both, each standardised (default current)",
    )
    parser.add_argument(
        "--drop-other-passes",
        type=int,
        default=0,
        metavar="GAP",
        help="each epoch, in each cluster and under each camera, the members of every pass but the nearest "
        "become outliers; a pass is a run of frames with no step over GAP, read from Market-style file names "
        "(label-free, from time stamps; default 0: none)",
    )
    args = parser.parse_args()
    if args.drop_other_passes < 0:
        parser.error(f"--drop-other-passes must be a frame count >= 0, got {args.drop_other_passes}")
    if sum(map(bool, (args.drop_dispersed, args.oracle_drop_misplaced, args.drop_other_passes))) > 1:
        parser.error(
            "--drop-dispersed, --oracle-drop-misplaced and --drop-other-passes choose the dropped members differently: give one"
        )
    if not 0 <= args.drop_dispersed < 1:
        parser.error(f"--drop-dispersed must be in [0, 1), got {args.drop_dispersed}")
    for option in ("recall", "precision"):
        value = getattr(args, f"oracle_{option}")
        if not 0 < value <= 1:
            parser.error(f"--oracle-{option} must be in (0, 1], got {value}")
        if value < 1 and not args.oracle_drop_misplaced:
            parser.error(f"--oracle-{option} sets the oracle's quality: give --oracle-drop-misplaced too")
    if args.oracle_ranked and not args.oracle_drop_misplaced:
        parser.error("--oracle-ranked changes how the oracle picks: give --oracle-drop-misplaced too")
    if args.drop_view != "current" and not (args.drop_dispersed or args.oracle_ranked):
        parser.error("--drop-view changes a ranking: give --drop-dispersed SHARE or --oracle-ranked too")
    return args


def main() -> None:
    args = parse_args()
    logging.getLogger("robustreid").addHandler(logging.StreamHandler())
    overrides = [*args.overrides, *([f"data.root={args.data_root}"] if args.data_root else [])]
    start = time.perf_counter()
    results = {
        v: {"settings": VARIANTS[v], "runs": runs, **summarise(runs)}
        for v, runs in run_all(args, overrides).items()
    }
    headline = {v: f"{r['mAP']['mean']:.1f}±{r['mAP']['std']:.1f}" for v, r in results.items()}
    print(headline, flush=True)
    write_result(
        args.name,
        "python benchmarks/ablation.py " + shlex.join(sys.argv[1:]),
        time.perf_counter() - start,
        {"seeds": args.seeds, "config": args.config, "overrides": args.overrides, "variants": results},
        summary={"mAP mean±std": headline},
    )


if __name__ == "__main__":
    main()
