"""Training on data shaped like a user's own: Market-1501's clustering settings against ``auto``.

Each case trains one config twice, with the clustering settings fixed (Market-1501's
k1 30 / k2 6 / min_samples 4 / eps 0.6 camera-blind, or the config's own) and with every
one of them ``auto`` (the camera penalty too), and reports mAP / Rank-1 before and
after training, the last epoch's clusters and settings, the epochs in which ``auto``
derived settings because the collapse guard rejected the reference's (or the kept ones),
and ``settings_changes``: in how many epochs after epoch 2 the settings differed from the
epoch before's (a run whose settings settle has few). ``--eval-every 1`` evaluates every
epoch, and each run reports how well each label-free score (stability, cross-camera share)
tracks mAP and which epoch it would pick (``label_free_selection``):

* ``few_images``: the synthetic set shaped like the folder that collapsed in a user's
  trial (500 people, 4 images each, 2 cameras), trained with configs/folder.yaml;
* ``market_like``: the default synthetic set with the demo config (configs/synthetic.yaml);
* ``market1501``: the Market-1501 CPU protocol, with ``--market-root`` (about an hour each).

With ``--seeds``, each case and setting is trained once per seed and reported with the
mean and spread of its accuracy. Writes benchmarks/results/<name>.json (default
own_data) and a docs/results.md row.
``--resume`` reuses finished runs under runs/bench/<name>/, so a case's two runs may
be made by separate invocations (``--settings fixed``, then ``--settings fixed auto``).
It reads back whatever finished run the folder holds, whichever code made it: after a
change to the clustering, use a new ``--name`` or train again without it.

    python benchmarks/own_data.py --seeds 1 2 3
    python benchmarks/own_data.py --name own_data_market1501 --cases market1501 \
        --market-root ../shared/datasets/market1501 --resume
    python benchmarks/own_data.py --name own_data_few_images --cases few_images \
        --settings fixed auto derived_fixed --resume
    python benchmarks/own_data.py --name own_data_settle --cases few_images --settings auto --seeds 1 2 3

``derived_fixed`` trains with the settings ``auto`` derived on that case (:data:`DERIVED_FIXED`),
fixed for the whole run.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scipy.stats import spearmanr  # noqa: E402

from _common import mean_and_spread, write_result  # noqa: E402
from robustreid.config import load_config  # noqa: E402
from robustreid.engine.run import train_and_report  # noqa: E402
from robustreid.engine.run_dir import RunDir  # noqa: E402

MARKET_SETTINGS = [
    "cluster.eps=0.6",
    "cluster.k1=30",
    "cluster.k2=6",
    "cluster.min_samples=4",
    "cluster.camera_penalty=0",
]
AUTO_SETTINGS = [
    "cluster.eps=auto",
    "cluster.k1=auto",
    "cluster.k2=auto",
    "cluster.min_samples=auto",
    "cluster.camera_penalty=auto",
]
#: The settings ``auto`` derived on a case, fixed for the whole run (few_images, seed 1, measured
#: when ``auto`` still alternated between the reference's settings and derived ones).
DERIVED_FIXED = {
    "few_images": [
        "cluster.eps=0.75",
        "cluster.k1=4",
        "cluster.k2=1",
        "cluster.min_samples=2",
        "cluster.camera_penalty=0.08",
    ],
}
CASES = {
    "few_images": (
        "configs/folder.yaml",
        ["data.name=synthetic", "data.options.size=few_images", "eval.before_training=true"],
        MARKET_SETTINGS,
    ),
    "market_like": ("configs/synthetic.yaml", [], []),  # the demo's own (hand-set) settings
    "market1501": ("configs/market1501_cpu.yaml", ["eval.before_training=true"], []),
}
LAST_EPOCH_KEYS = (
    "num_clusters",
    "num_outliers",
    "purity",
    "cluster_k1",
    "cluster_k2",
    "cluster_min_samples",
    "cluster_eps",
    "identity_size",
    "cluster_camera_penalty",
    "cluster_auto",
    "cross_camera_share",
    "stability",
    "collapse",
)
#: What ``settings_changes`` compares between consecutive epochs: the values clustered with (``derived``
#: then ``kept`` with the same values is no change).
SETTINGS_KEYS = ("cluster_k1", "cluster_k2", "cluster_min_samples", "cluster_eps", "cluster_camera_penalty")
#: The label-free scores a checkpoint could be picked by, tested against mAP where query/gallery exist.
LABEL_FREE_SCORES = ("stability", "cross_camera_share")
#: Epochs up to this one may change settings while the features leave ImageNet's; later ones should not.
LAST_SETTLING_EPOCH = 2


def run_case(
    name: str,
    case: str,
    settings: str,
    seed: int,
    market_root: str | None,
    eval_every: int | None,
    resume: bool,
) -> dict:
    """Train one case with ``fixed``, ``auto`` or ``derived_fixed`` settings and one seed; its before/after figures."""
    config, overrides, fixed = CASES[case]
    clustering = {"fixed": fixed, "auto": AUTO_SETTINGS, "derived_fixed": DERIVED_FIXED.get(case)}[settings]
    root = [f"data.root={market_root}"] if case == "market1501" else []
    output = RunDir(f"runs/bench/{name}/{case}_{settings}_seed{seed}")
    cfg = load_config(
        config,
        [
            *overrides,
            *root,
            *clustering,
            f"seed={seed}",
            f"output_dir={output.path}",
            *([f"eval.every={eval_every}"] if eval_every is not None else []),
        ],
    )
    summary = output.read_json(RunDir.SUMMARY)
    if not (resume and summary and summary["epochs"] == cfg.optim.epochs):
        summary = train_and_report(cfg, resume=resume and output.has_checkpoint)
    records = output.read_metrics()
    last = records[-1]
    return {
        "config": config,
        "seed": seed,
        "initial_mAP": _pct(summary["before"], "mAP"),
        "initial_rank1": _pct(summary["before"], "rank1"),
        "mAP": _pct(summary["after"], "mAP"),
        "rank1": _pct(summary["after"], "rank1"),
        "wall_s": summary["wall_s"],
        "last_epoch": {k: last[k] for k in LAST_EPOCH_KEYS if k in last},
        # with auto: the epochs whose reference (or kept) settings the collapse guard rejected
        "derived_epochs": [r["epoch"] for r in records if r.get("cluster_auto") == "derived"],
        "settings_changes": settings_changes(records),
        "label_free_selection": {score: label_free_selection(records, score) for score in LABEL_FREE_SCORES},
    }


def label_free_selection(records: list[dict], score: str) -> dict | None:
    """Does ``score`` track mAP? Its Spearman correlation with mAP over the evaluated epochs, and the
    mAP of the epoch it would pick against the last epoch's and the best one's (None: too few epochs)."""
    scored = [r for r in records if "mAP" in r and r.get(score) is not None]
    if len(scored) < 3:
        return None
    picked = max(scored, key=lambda r: (r[score], r["epoch"]))
    return {
        "epochs": len(scored),
        "spearman": round(float(spearmanr([r[score] for r in scored], [r["mAP"] for r in scored])[0]), 3),
        "picked_epoch": picked["epoch"],
        "picked_mAP": round(100 * picked["mAP"], 2),
        "last_mAP": round(100 * scored[-1]["mAP"], 2),
        "best_mAP": round(100 * max(r["mAP"] for r in scored), 2),
    }


def settings_changes(records: list[dict]) -> int:
    """The epochs after :data:`LAST_SETTLING_EPOCH` whose settings (the values, not their source) differ from
    the epoch before's: ``auto`` alternating between the reference's and derived ones changes
    them every epoch."""
    settings = [(r["epoch"], tuple(r.get(key) for key in SETTINGS_KEYS)) for r in records]
    return sum(
        1 for (_, before), (epoch, now) in pairwise(settings) if epoch > LAST_SETTLING_EPOCH and now != before
    )


def over_seeds(runs: list[dict]) -> dict:
    """The runs of one case and setting, with the mean and (population) spread of their accuracy."""
    figures = {}
    for key in ("initial_mAP", "initial_rank1", "mAP", "rank1"):
        values = [r[key] for r in runs if r[key] is not None]
        if values:
            figures[key], figures[f"{key}_std"] = mean_and_spread(values, 2)
    return figures | {"seeds": [r["seed"] for r in runs], "runs": runs}


def _pct(metrics: dict | None, key: str) -> float | None:
    return round(100 * metrics[key], 2) if metrics and metrics.get(key) is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", default="own_data", help="result name (benchmarks/results/<name>.json)")
    parser.add_argument("--cases", nargs="+", default=["few_images", "market_like"], choices=list(CASES))
    parser.add_argument(
        "--settings", nargs="+", default=["fixed", "auto"], choices=["fixed", "auto", "derived_fixed"]
    )
    parser.add_argument("--market-root", help="Market-1501 for the market1501 case")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument(
        "--eval-every",
        type=int,
        help="evaluate every N epochs (default: the config's); 1 tests the label-free selection on every epoch",
    )
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    if "derived_fixed" in args.settings and not set(args.cases) <= set(DERIVED_FIXED):
        parser.error(f"--settings derived_fixed is known for the cases {', '.join(DERIVED_FIXED)} only")
    logging.getLogger("robustreid").addHandler(logging.StreamHandler())
    start = time.perf_counter()
    results = {
        case: {
            settings: over_seeds(
                [
                    run_case(args.name, case, settings, seed, args.market_root, args.eval_every, args.resume)
                    for seed in args.seeds
                ]
            )
            for settings in args.settings
        }
        for case in args.cases
    }
    summary = {
        f"{case}.{settings}": f"{r.get('initial_mAP')}->{r['mAP']}"
        + (f"±{r['mAP_std']}" if len(r["seeds"]) > 1 else "")
        for case, pair in results.items()
        for settings, r in pair.items()
    }
    changes = {
        f"{case}.{settings}": "/".join(str(run["settings_changes"]) for run in r["runs"])
        for case, pair in results.items()
        for settings, r in pair.items()
    }
    print(summary, flush=True)
    write_result(
        args.name,
        "python benchmarks/own_data.py " + shlex.join(sys.argv[1:]),
        time.perf_counter() - start,
        {"cases": results},
        summary={"mAP before->after": summary, "settings changes after epoch 2 (per seed)": changes},
    )


if __name__ == "__main__":
    main()
