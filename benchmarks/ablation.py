"""Ablation of the paper's modules: prototype init x memory update, same data, budget and seeds.

Variants (memory.init / memory.update): baseline mean/mean, Cluster Contrast hard
mean/hard, CSA only csa/mean, HPS only mean+saa/hps (SAA trained by CSA, mean
prototypes), full csa/hps. For each: mAP, Rank-1, pseudo-label purity/NMI of the
last epoch, and seconds per epoch spent initialising the memory (where CSA's SAA
training happens). Mean and spread over seeds.

    python benchmarks/ablation.py --name ablation_synthetic --config configs/ablation_synthetic.yaml --seeds 1 2 3
"""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

from robustreid.engine.config import load_config  # noqa: E402
from robustreid.engine.report import train_and_report  # noqa: E402
from robustreid.engine.trainer import read_metrics  # noqa: E402

VARIANTS = {
    "baseline": ("mean", "mean"),
    "cc_hard": ("mean", "hard"),
    "csa": ("csa", "mean"),
    "hps": ("mean+saa", "hps"),
    "full": ("csa", "hps"),
}


def run_variant(name: str, config: str, init: str, update: str, seed: int, data_root: str | None) -> dict:
    overrides = [f"memory.init={init}", f"memory.update={update}", f"seed={seed}",
                 f"output_dir=runs/bench/{name}/{init}_{update}_seed{seed}"]
    if data_root:
        overrides.append(f"data.root={data_root}")
    cfg = load_config(config, overrides)
    train_and_report(cfg)
    records = read_metrics(cfg.output_dir)
    last = records[-1]
    return {"mAP": 100 * last["mAP"], "rank1": 100 * last["rank1"], "purity": last.get("purity"),
            "nmi": last.get("nmi"),
            "init_s_per_epoch": float(np.mean([r.get("time_memory_init", 0.0) for r in records]))}


def summarise(runs: list[dict]) -> dict:
    """Mean and (population) standard deviation over seeds of every figure."""
    keys = [k for k in runs[0] if runs[0][k] is not None]
    return {k: {"mean": round(float(np.mean([r[k] for r in runs])), 3),
                "std": round(float(np.std([r[k] for r in runs])), 3)} for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--data-root")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    logging.getLogger("robustreid").addHandler(logging.StreamHandler())
    start = time.perf_counter()
    results = {}
    for variant in args.variants:
        init, update = VARIANTS[variant]
        runs = [run_variant(args.name, args.config, init, update, seed, args.data_root) for seed in args.seeds]
        results[variant] = {"init": init, "update": update, "runs": runs, **summarise(runs)}
        print(variant, results[variant]["mAP"], flush=True)
    headline = {v: f"{r['mAP']['mean']:.1f}±{r['mAP']['std']:.1f}" for v, r in results.items()}
    write_result(args.name, "python benchmarks/ablation.py " + shlex.join(sys.argv[1:]), time.perf_counter() - start,
                 {"seeds": args.seeds, "config": args.config, "variants": results},
                 summary={"mAP mean±std": headline})


if __name__ == "__main__":
    main()
