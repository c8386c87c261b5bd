"""Direct transfer: ImageNet-initialised backbones evaluated on Market-1501 without any training.

The starting point every unsupervised run must beat. For each backbone and input size:
query/gallery extraction speed, mAP, Rank-1. Data is read from ../shared (never copied).
With ``--save-train-features`` it also writes the training-set features of the first
configuration, the real-feature input of ``benchmarks/pseudo_labels.py --features``.

    python benchmarks/direct_transfer.py --data-root ../shared/datasets/market1501
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402
from robustreid.data import load_dataset  # noqa: E402
from robustreid.data.images import ImageDataset  # noqa: E402
from robustreid.data.transforms import build_test_transform  # noqa: E402
from robustreid.evaluation import evaluate_features  # noqa: E402
from robustreid.inference.features import extract_features, labels_of  # noqa: E402
from robustreid.models import build_model  # noqa: E402


def measure(dataset, backbone: str, height: int, width: int) -> dict:
    model = build_model(backbone).eval()
    features, speeds = [], []
    for items in (dataset.query, dataset.gallery):
        images = ImageDataset([it.path for it in items], height, width, build_test_transform(), preload=False)
        start = time.perf_counter()
        features.append(extract_features(model, images, batch_size=128).numpy())
        speeds.append(len(items) / (time.perf_counter() - start))
    (q_pids, q_cams), (g_pids, g_cams) = labels_of(dataset.query), labels_of(dataset.gallery)
    metrics = evaluate_features(features[0], features[1], q_pids, g_pids, q_cams, g_cams)
    return {
        "backbone": backbone,
        "size": f"{height}x{width}",
        "mAP": round(100 * metrics["mAP"], 2),
        "rank1": round(100 * float(metrics["cmc"][0]), 2),
        "extract_img_per_s": round(float(np.mean(speeds)), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", default="../shared/datasets/market1501")
    parser.add_argument("--backbones", nargs="+", default=["efficientnet_lite0", "efficientnet_lite2"])
    parser.add_argument("--sizes", nargs="+", default=["128x64", "256x128"])
    parser.add_argument(
        "--save-train-features", metavar="NPY", help="also save train features of the first config"
    )
    args = parser.parse_args()
    dataset = load_dataset("market1501", args.data_root)
    start = time.perf_counter()
    rows = []
    for backbone in args.backbones:
        for size in args.sizes:
            height, width = map(int, size.split("x"))
            rows.append(measure(dataset, backbone, height, width))
            print(rows[-1], flush=True)
    if args.save_train_features:
        height, width = map(int, args.sizes[0].split("x"))
        images = ImageDataset(dataset.train_paths, height, width, build_test_transform(), preload=False)
        np.save(args.save_train_features, extract_features(build_model(args.backbones[0]), images).numpy())
    summary = {f"{r['backbone']}@{r['size']}": f"{r['mAP']}/{r['rank1']}" for r in rows}
    write_result(
        "direct_transfer_market1501",
        "python benchmarks/direct_transfer.py " + shlex.join(sys.argv[1:]),
        time.perf_counter() - start,
        {
            "mAP": rows[0]["mAP"],
            "rank1": rows[0]["rank1"],
            "primary": f"{args.backbones[0]}@{args.sizes[0]}",
            "runs": rows,
        },
        summary={"mAP/rank1": summary},
    )


if __name__ == "__main__":
    main()
