"""Can ``auto`` read the identity size from the features? Estimates against the true size.

``cluster.*=auto`` derives k1, k2, min_samples and eps from an estimate of how many images
one person has (``robustreid.clustering.auto.identity_size``: where the similarity along
a sample's ranked neighbours drops the most). This script measures, on the training images
of each data set, without training or with a trained model (``--model``):

* the true mean number of images per identity (read only to score);
* ``precision@k``: the share of a sample's k nearest neighbours that are the same person,
  which says how much identity structure the features hold at all;
* ``largest_drop``: the shipped estimate, camera-blind and camera-debiased (``auto`` penalty);
* ``rank_scaled_drop``: the same with each drop multiplied by its rank. For the top order
  statistics of a distribution with an exponential tail, k times the k-th spacing is
  i.i.d. (Rényi), so without identity structure this estimate lands anywhere in the
  searched ranks (median near the middle), and only a real boundary makes one rank win;
  the plain largest drop falls on the first ranks whatever the data.
* ``rank_scaled_spread``: the share of samples whose rank-scaled estimate lies within
  +-1 of its median; with no structure it is about 3 / (searched ranks), ~0.1.

    python benchmarks/identity_size.py --market-root ../shared/datasets/market1501
    python benchmarks/identity_size.py --cases market1501 --market-root ... --model runs/x/model_last.pth

Writes benchmarks/results/identity_size.json (or ``--name``) and a docs/results.md row.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402
from robustreid.clustering.auto import SEARCH, identity_size  # noqa: E402
from robustreid.clustering.camera_bias import debiased_neighbours  # noqa: E402
from robustreid.clustering.neighbours import knn  # noqa: E402
from robustreid.clustering.settings import AUTO  # noqa: E402
from robustreid.config import load_config  # noqa: E402
from robustreid.data.images import ImageDataset  # noqa: E402
from robustreid.data.transforms import build_test_transform  # noqa: E402
from robustreid.engine.builder import build_dataset  # noqa: E402
from robustreid.inference.checkpoint import load_model  # noqa: E402
from robustreid.inference.features import extract_features  # noqa: E402
from robustreid.models.factory import build_model_from_config  # noqa: E402

CASES = {
    "few_images": ("configs/folder.yaml", ["data.name=synthetic", "data.options.size=few_images"]),
    "market_like": ("configs/synthetic.yaml", []),
    "market1501": ("configs/market1501_cpu.yaml", []),
}
PRECISION_AT = (1, 4, 8, 16)


def rank_scaled_sizes(similarities: np.ndarray) -> np.ndarray:
    """Per sample, 1 + the rank of the neighbour after which the rank-scaled drop is largest."""
    others = similarities[:, 1:]
    drops = (others[:, :-1] - others[:, 1:]) * np.arange(1, others.shape[1])
    return 2 + drops.argmax(axis=1)


def estimates(similarities: np.ndarray, indices: np.ndarray, identities: np.ndarray) -> dict:
    same = identities[indices[:, 1:]] == identities[:, None]
    scaled = rank_scaled_sizes(similarities)
    median = float(np.median(scaled))
    return {
        "largest_drop": identity_size(similarities),
        "rank_scaled_drop": median,
        "rank_scaled_spread": round(float((np.abs(scaled - median) <= 1).mean()), 3),
        **{f"precision@{k}": round(float(same[:, :k].mean()), 3) for k in PRECISION_AT},
    }


def measure(case: str, market_root: str | None, model_path: str | None) -> dict:
    config, overrides = CASES[case]
    cfg = load_config(config, [*overrides, *([f"data.root={market_root}"] if market_root else [])])
    dataset = build_dataset(cfg.data)
    model = load_model(model_path).model if model_path else build_model_from_config(cfg.model).eval()
    images = ImageDataset(dataset.train_paths, cfg.data.height, cfg.data.width, build_test_transform(), False)
    features = extract_features(model, images, cfg.eval.batch_size, device=torch.device("cpu")).numpy()
    identities, cameras = dataset.train_pids_for_diagnostics(), dataset.train_camids
    k = SEARCH  # as many neighbours (the sample itself first) as auto reads
    _, debiased, penalty = debiased_neighbours(features, cameras, k, AUTO)
    return {
        "images": len(identities),
        "true_mean_size": round(len(identities) / len(np.unique(identities)), 2),
        "camera_blind": estimates(*knn(features, k), identities),
        "camera_debiased": estimates(*debiased, identities) | {"camera_penalty": penalty},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", default="identity_size")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--market-root", help="Market-1501, for the market1501 case")
    parser.add_argument("--model", help="a trained model file (default: the config's ImageNet start)")
    args = parser.parse_args()
    cases = [c for c in args.cases if c != "market1501" or args.market_root]
    start = time.perf_counter()
    results = {c: measure(c, args.market_root if c == "market1501" else None, args.model) for c in cases}
    summary = {
        f"{c}.{view}": f"true {r['true_mean_size']}, drop {r[view]['largest_drop']}, "
        f"scaled {r[view]['rank_scaled_drop']}, p@1 {r[view]['precision@1']}"
        for c, r in results.items()
        for view in ("camera_blind", "camera_debiased")
    }
    print(summary, flush=True)
    write_result(
        args.name,
        "python benchmarks/identity_size.py " + shlex.join(sys.argv[1:]),
        time.perf_counter() - start,
        {"model": args.model or "ImageNet", "cases": results},
        summary=summary,
    )


if __name__ == "__main__":
    main()
