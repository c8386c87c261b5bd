"""What the time stamps in Market-style file names say about clustering mistakes, on real features.

Reads the dumps of one protocol run (``benchmarks/_feature_dumps.py``) and the recording and
frame of each training image (``0002_c1s1_000451_03.jpg``: recording 1, frame 451); the true
identities are read to score only. Three questions, each a candidate use of time:

* ``pairs``: among each image's ``NEIGHBOURS`` camera-debiased nearest neighbours (the pairs the
  clustering links), the share of pairs across cameras, in one pass under a camera (one recording,
  frames at most ``PASS_GAP`` apart) and in another pass, and how often each pair is one person.
  Most people walk past a camera once: is another pass under one camera a different person?
* ``other_passes``: the label-free drop of ``ablation.py --drop-other-passes GAP``: its precision
  (share of the dropped that are misplaced) and recall (share of the misplaced it drops).
* ``tracklets``: the tracklets ``cluster.tracklet_weight`` links (``robustreid.clustering.tracklets``):
  how many, how many join two images or more, and their purity (the share of images of their
  tracklet's majority identity).
* ``tracklet_means``: the run's clustering with ``cluster.tracklet_weight`` at 0, 0.5 and 1: clusters,
  clustered images, purity, ARI over the clustered, and how many identities are the majority of a cluster.

    python benchmarks/time_stamps_features.py --run market1501_converged_v3_cc_hard \\
        --dumps early=5 middle=10 last=19 --config configs/market1501_converged_v3.yaml \\
        --data-root ../shared/datasets/market1501

Writes benchmarks/results/time_stamps_features.json and a row in docs/results.md.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402
from _feature_dumps import FeatureDump, add_dump_arguments, existing_dumps  # noqa: E402
from _oracle_labels import Clustered, other_passes  # noqa: E402
from robustreid.clustering.camera_bias import debiased_neighbours  # noqa: E402
from robustreid.clustering.tracklets import tracklets  # noqa: E402
from robustreid.config.schema import load_config  # noqa: E402
from robustreid.data.datasets.market_style import time_stamps  # noqa: E402
from robustreid.engine.builder import build_clusterer, build_dataset  # noqa: E402
from robustreid.memory.diagnostics import misplaced_members  # noqa: E402

NEIGHBOURS = 15
PASS_GAP = 2000  # frames: the pass the pair kinds and the drop use
DROP_GAPS = (100, 500, 2000)
TRACKLET_WEIGHTS = (0.0, 0.5, 1.0)


def pair_kinds(dump: FeatureDump, stamps: np.ndarray) -> dict[str, dict[str, float]]:
    """Per kind of neighbour pair: its share of the pairs and the share that is one person."""
    _, (_, index), _ = debiased_neighbours(dump.features, dump.camids, NEIGHBOURS + 1, "auto")
    first = np.repeat(np.arange(len(index)), NEIGHBOURS)
    second = index[:, 1:].ravel()
    one_person = dump.pids[first] == dump.pids[second]
    same_camera = dump.camids[first] == dump.camids[second]
    same_pass = (
        same_camera
        & (stamps[first, 0] == stamps[second, 0])
        & (np.abs(stamps[first, 1] - stamps[second, 1]) <= PASS_GAP)
    )
    kinds = {"cross_camera": ~same_camera, "same_pass": same_pass, "other_pass": same_camera & ~same_pass}
    return {
        kind: {"share": round(float(mask.mean()), 3), "one_person": round(float(one_person[mask].mean()), 3)}
        for kind, mask in kinds.items()
    }


def drop_quality(dump: FeatureDump, stamps: np.ndarray) -> dict[str, dict[str, float]]:
    """The other-passes drop's precision and recall at each gap."""
    wrong = misplaced_members(dump.labels, dump.pids)
    out = {}
    for gap in DROP_GAPS:
        dropped = other_passes(stamps, gap)(Clustered(dump.labels, dump.features, dump.camids))
        out[f"gap_{gap}"] = {
            "dropped": int(dropped.sum()),
            "precision": round(float(wrong[dropped].mean()), 3),
            "recall": round(float(wrong[dropped].sum() / wrong.sum()), 3),
        }
    return out


def tracklet_quality(dump: FeatureDump, stamps: np.ndarray) -> dict[str, float]:
    """The linked tracklets of the dump: their count, how many join several images, and their purity."""
    ids = tracklets(dump.features, dump.camids, stamps)
    sizes = np.bincount(ids)
    return {
        "tracklets": len(sizes),
        "of_two_or_more": int((sizes > 1).sum()),
        "purity": round(float(1 - misplaced_members(ids, dump.pids).mean()), 4),
    }


def clustering_quality(dump: FeatureDump, stamps: np.ndarray, config: str) -> dict[str, dict[str, float]]:
    """The run's clustering of the dump with each tracklet weight."""
    out = {}
    for weight in TRACKLET_WEIGHTS:
        cluster = load_config(config, [f"cluster.tracklet_weight={weight}"]).cluster
        labels, figures = build_clusterer(cluster, stamps)(dump.features, dump.camids)
        clustered = labels >= 0
        wrong = misplaced_members(labels, dump.pids)
        out[f"weight_{weight}"] = {
            "clusters": int(labels.max()) + 1,
            "clustered": int(clustered.sum()),
            "purity": round(float(1 - wrong.sum() / clustered.sum()), 3),
            "ari": round(float(adjusted_rand_score(dump.pids[clustered], labels[clustered])), 3),
            "identities_holding_a_cluster": len(np.unique(dump.pids[clustered & ~wrong])),
            "tracklets": figures.get("tracklets"),
        }
    return out


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    cfg = load_config(args.config, [f"data.root={args.data_root}"] if args.data_root else [])
    dataset = build_dataset(cfg.data)
    stamps = time_stamps([item.path for item in dataset.train], "this bench")
    identities = dataset.train_pids_for_diagnostics()
    dumps = {}
    for name, epoch, path in existing_dumps(args.run, args.dumps):
        dump = FeatureDump.load(path)
        if not np.array_equal(dump.pids, identities):
            raise SystemExit(f"{path}: its images are not --config {args.config}'s training images")
        dumps[name] = {
            "epoch": epoch,
            "pairs": pair_kinds(dump, stamps),
            "other_passes": drop_quality(dump, stamps),
            "tracklets": tracklet_quality(dump, stamps),
            "tracklet_means": clustering_quality(dump, stamps, args.config),
        }
        print(name, dumps[name], flush=True)
    command = "python benchmarks/time_stamps_features.py " + shlex.join(sys.argv[1:])
    print(write_result(args.name, command, time.perf_counter() - started, {"run": args.run, "dumps": dumps}))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_dump_arguments(parser, "time_stamps_features")
    parser.add_argument("--config", required=True, help="the run's config: its data set and clustering")
    parser.add_argument("--data-root", help="where the data set lies (overrides data.root)")
    return parser.parse_args()


if __name__ == "__main__":
    main()
