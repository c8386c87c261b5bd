"""Clustering settings on real Market-1501 features: which levers deserve an end-to-end run.

Re-clusters the training features that one Market-1501 CPU protocol run clustered
(``benchmarks/_feature_dumps.py``: epoch 0 = ImageNet, a middle and the last epoch) with
other settings (``cluster.k1``, ``cluster.eps``, ``cluster.camera_penalty``), and scores each clustering
against the true identities, read for scoring only: clusters, outliers, purity, NMI and
the ARI over the clustered images. These are proxies. A model trained on other
pseudo-labels has other features, so a setting is judged by the final mAP of a protocol
run (benchmarks/train_protocol.py); this bench only says which settings are worth that
hour. Seconds per dump.

    python benchmarks/cluster_settings_real_features.py [--run market1501_cpu_v5_seed2] \
        [--k1 30] [--eps 0.6 0.5 0.45 0.4] [--camera-penalty 0 auto] [--dumps imagenet middle last]

Writes benchmarks/results/<--name>.json (default cluster_settings_real_features) and a row in
docs/results.md; each setting's key is ``k1_<k1>_eps<eps>_camera<penalty>``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402
from _feature_dumps import REGENERATE, FeatureDump, add_dump_arguments, dump_dir, dump_epochs  # noqa: E402
from robustreid.clustering import PseudoLabeler, pseudo_label_stats  # noqa: E402
from robustreid.clustering.settings import ClusterConfig  # noqa: E402


def score_settings(dump: FeatureDump, k1: int, eps: float, camera_penalty: float | str) -> dict:
    """Cluster ``dump`` with these settings (the rest as the protocol's) and score it against the identities."""
    config = ClusterConfig(k1=k1, eps=eps, camera_penalty=camera_penalty)
    labels, _ = PseudoLabeler(config)(dump.features, dump.camids)
    clustered = labels >= 0
    stats = pseudo_label_stats(labels, dump.pids)
    return {
        "clusters": stats["num_clusters"],
        "outliers": int((~clustered).sum()),
        "purity": round(stats["purity"], 3),
        "nmi": round(stats["nmi"], 3),
        "ari_clustered": round(float(adjusted_rand_score(dump.pids[clustered], labels[clustered])), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_dump_arguments(parser, "cluster_settings_real_features")
    parser.add_argument("--k1", type=int, nargs="+", default=[30])
    parser.add_argument("--eps", type=float, nargs="+", default=[0.6, 0.5, 0.45, 0.4])
    parser.add_argument("--camera-penalty", nargs="+", default=["0", "auto"])
    args = parser.parse_args()
    folder, epochs = dump_dir(args.run), dump_epochs(args.dumps)
    missing = [f"epoch_{e:02d}.npz" for e in epochs.values() if not (folder / f"epoch_{e:02d}.npz").exists()]
    if missing:
        sys.exit(f"no feature dumps {', '.join(missing)} in {folder}; make them with:\n  {REGENERATE}")
    start = time.perf_counter()
    penalties = [p if p == "auto" else float(p) for p in args.camera_penalty]
    figures = {
        name: {
            f"k1_{k1}_eps{eps}_camera{penalty}": score_settings(dump, k1, eps, penalty)
            for penalty in penalties
            for k1 in args.k1
            for eps in args.eps
        }
        for name, epoch in epochs.items()
        for dump in [FeatureDump.load(folder / f"epoch_{epoch:02d}.npz")]
    }
    summary = {
        f"{name}.{setting}": f"{row['clusters']} clusters, purity {row['purity']}"
        for name, rows in figures.items()
        for setting, row in rows.items()
        if setting.endswith("camera0.0") and name != "imagenet"
    }
    write_result(
        args.name,
        "python benchmarks/cluster_settings_real_features.py " + shlex.join(sys.argv[1:]),
        time.perf_counter() - start,
        {"run": args.run, "dumps": epochs, "settings": figures},
        summary=summary,
    )
    print(summary)


if __name__ == "__main__":
    main()
