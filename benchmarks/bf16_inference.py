"""bf16 against fp32 inference on real Market-1501: same pseudo-labels, same mAP, how much faster.

Extracts the training, query and gallery features twice, in fp32 and under bf16
autocast, with an ImageNet Lite0 or a trained ``--checkpoint``. Reports the speed of
each, the pseudo-labels of each (the protocol's clustering settings, the adjusted
Rand index between them and the cluster counts), and the mAP / Rank-1 of each.
``runtime.inference_dtype: auto`` turns bf16 on only where this shows it equal
(ARI >= 0.99, mAP within 0.3). Writes benchmarks/results/<name>.json.

    python benchmarks/bf16_inference.py --data-root ../shared/datasets/market1501
    python benchmarks/bf16_inference.py --data-root ../shared/datasets/market1501 \\
        --checkpoint runs/bench/market1501_cpu_baseline/model_best.pth --name bf16_inference_trained
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402
from robustreid.clustering import cluster_pseudo_labels  # noqa: E402
from robustreid.config import load_config  # noqa: E402
from robustreid.data import load_dataset  # noqa: E402
from robustreid.data.images import ImageDataset  # noqa: E402
from robustreid.data.transforms import build_test_transform  # noqa: E402
from robustreid.evaluation import evaluate_features  # noqa: E402
from robustreid.inference.checkpoint import load_model  # noqa: E402
from robustreid.inference.features import extract_features, labels_of  # noqa: E402
from robustreid.models import build_model  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--checkpoint", help="a trained model (default: ImageNet Lite0)")
    parser.add_argument("--config", default="configs/market1501_cpu.yaml", help="image size and clustering")
    parser.add_argument("--name", default="bf16_inference")
    args = parser.parse_args()
    start = time.perf_counter()
    cfg = load_config(args.config)
    model = (
        load_model(args.checkpoint).model if args.checkpoint else build_model(cfg.model.backbone).eval()
    ).to(memory_format=torch.channels_last)
    dataset = load_dataset("market1501", args.data_root)
    splits = {
        name: ImageDataset(
            [it.path for it in dataset.split(name)], cfg.data.height, cfg.data.width, build_test_transform()
        )
        for name in ("train", "query", "gallery")
    }
    q_pids, q_cams = labels_of(dataset.query)
    g_pids, g_cams = labels_of(dataset.gallery)
    c = cfg.cluster
    runs = {}
    for name, dtype in DTYPES.items():
        timer = time.perf_counter()
        features = {
            split: extract_features(model, images, cfg.eval.batch_size, dtype=dtype, desc=f"{name} {split}")
            for split, images in splits.items()
        }
        seconds = time.perf_counter() - timer
        labels = cluster_pseudo_labels(
            features["train"].numpy(), eps=c.eps, min_samples=c.min_samples, k1=c.k1, k2=c.k2
        )
        metrics = evaluate_features(
            features["query"].numpy(), features["gallery"].numpy(), q_pids, g_pids, q_cams, g_cams
        )
        runs[name] = {
            "features": features,
            "labels": labels,
            "extract_s": seconds,
            "img_s": sum(len(s) for s in splits.values()) / seconds,
            "mAP": 100 * float(metrics["mAP"]),
            "rank1": 100 * float(metrics["cmc"][0]),
        }
        print(
            f"{name}: {runs[name]['img_s']:.0f} img/s, {int(labels.max()) + 1} clusters, "
            f"mAP {runs[name]['mAP']:.2f} R1 {runs[name]['rank1']:.2f}",
            flush=True,
        )
    fp32, bf16 = runs["fp32"], runs["bf16"]
    cosine = (fp32["features"]["train"] * bf16["features"]["train"]).sum(1)
    figures = {
        "model": args.checkpoint or f"ImageNet {cfg.model.backbone}",
        "size": f"{cfg.data.height}x{cfg.data.width}",
        "ari_bf16_vs_fp32": round(float(adjusted_rand_score(fp32["labels"], bf16["labels"])), 4),
        "min_feature_cosine": round(float(cosine.min()), 5),
        "speedup": round(bf16["img_s"] / fp32["img_s"], 2),
        "mAP_diff": round(bf16["mAP"] - fp32["mAP"], 3),
        **{
            name: {
                "img_s": round(r["img_s"], 1),
                "clusters": int(r["labels"].max()) + 1,
                "outliers": int((r["labels"] < 0).sum()),
                "mAP": round(r["mAP"], 2),
                "rank1": round(r["rank1"], 2),
            }
            for name, r in runs.items()
        },
    }
    command = "python benchmarks/bf16_inference.py " + shlex.join(sys.argv[1:])
    write_result(args.name, command, time.perf_counter() - start, figures)
    print({k: v for k, v in figures.items()})


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
