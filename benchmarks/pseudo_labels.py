"""Pseudo-label speed and memory: the sparse fast path, against the dense oracle where it fits.

For each size, in a fresh subprocess so that its peak RSS is its own: the time
of the kNN, of the rest of the Jaccard distance and of DBSCAN; the peak RSS
increase over the process before the call (``ru_maxrss`` after minus before;
the features are loaded and the numba kernels compiled before the baseline);
clusters, outliers, and purity/NMI against the generator's identities. Up to
``--dense-max`` samples it also runs the dense oracle in the same process:
ARI of its labels against the fast path's, largest distance difference, and
the dense-to-fast time ratio; up to ``--faiss-max`` it times the faiss-cpu
kNN for comparison with the default backend. The fast path's CPU time (all
threads) is recorded next to its wall time, with the load average: on a shared
machine the wall time says more about the neighbours than about the code.

Synthetic features come from ``make_features.py`` of the reference fixture
(identities of varying size, look-alike groups, camera shifts, 5% noise), at
Market-1501 (12,936), MSMT17 (32,621) and 100,000 samples, d = 2048; their
generation is not timed. Targets on 2 CPU cores: N = 12,936 in <= 3.6 s with
<= 0.6 GB extra and the oracle's labels; N = 100,000 in < 2 min with < 6 GB.

    python benchmarks/pseudo_labels.py
    python benchmarks/pseudo_labels.py --sizes 3000:174 12936:751
    python benchmarks/pseudo_labels.py --features market_train.npy [--true-ids ids.npy]

Writes benchmarks/results/pseudo_labels.json (``pseudo_labels_<stem>.json``
with --features) and a row in docs/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO.parent / "shared" / "reference" / "pseudo_labels" / "make_features.py"
DEFAULT_SIZES = ("3000:174", "12936:751", "32621:1041", "100000:3000")
GB = 1e9


def main() -> None:
    args = parse_args()
    if args.worker:
        print(json.dumps(measure(args)))
        return
    started = time.perf_counter()
    if args.features:
        runs = [run_worker(args, args.features, args.true_ids)]
        name = f"pseudo_labels_{args.features.stem}"
    else:
        runs = [run_synthetic(args, *map(int, size.split(":"))) for size in args.sizes]
        name = "pseudo_labels"
    print_table(runs)
    summary = {f"N{run['n']}": headline(run) for run in runs}
    command = "python " + shlex.join(sys.argv)
    path = write_result(
        name, command, time.perf_counter() - started, {"summary": summary, "runs": runs}, summary=summary
    )
    print(f"wrote {path}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, metavar="N:IDS")
    parser.add_argument(
        "--features", type=Path, help="an (N, d) .npy of real features instead of synthetic ones"
    )
    parser.add_argument(
        "--true-ids", type=Path, help="an (N,) .npy of identities for purity/NMI (with --features)"
    )
    parser.add_argument("--generator", type=Path, default=GENERATOR, help="make_features.py of the fixture")
    parser.add_argument(
        "--dense-max", type=int, default=12936, help="largest N that also runs the dense oracle"
    )
    parser.add_argument(
        "--faiss-max", type=int, default=12936, help="largest N that also times faiss-cpu kNN"
    )
    parser.add_argument("--k1", type=int, default=30)
    parser.add_argument("--k2", type=int, default=6)
    parser.add_argument("--eps", type=float, default=0.6)
    parser.add_argument("--min-samples", type=int, default=4)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def run_synthetic(args: argparse.Namespace, n: int, n_ids: int) -> dict:
    """Generate with the fixture's own CLI, in another process, then measure in a third.

    Linux carries the RSS high-water mark of a process across fork/exec into
    ``ru_maxrss``; generating 100,000 x 2048 features here would raise every
    worker's baseline above its own peak.
    """
    with tempfile.TemporaryDirectory() as folder:
        stem = Path(folder) / "features"
        options = ["--N", n, "--ids", n_ids, "--seed", 0, "--out", stem]
        subprocess.run([sys.executable, args.generator, *map(str, options)], check=True, capture_output=True)
        features, true_ids = stem.with_suffix(".npy"), stem.with_name("features_gt.npy")
        return {"ids": n_ids, **run_worker(args, features, true_ids)}


def run_worker(args: argparse.Namespace, features: Path, true_ids: Path | None) -> dict:
    options = ["--k1", args.k1, "--k2", args.k2, "--eps", args.eps, "--min-samples", args.min_samples]
    options += ["--dense-max", args.dense_max, "--faiss-max", args.faiss_max, "--features", features]
    options += ["--true-ids", true_ids] if true_ids else []
    command = [sys.executable, __file__, "--worker", *map(str, options)]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"worker for {features} failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def cpu_seconds() -> float:
    """User + system time of all this process' threads: less sensitive than wall time to shared CPUs."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(args: argparse.Namespace) -> dict:
    """One size, in this process: the fast path, then the oracle and faiss where asked."""
    from sklearn.metrics import adjusted_rand_score

    from robustreid.clustering import (
        cluster_pseudo_labels,
        dbscan_labels,
        jaccard_distance_dense,
        jaccard_distance_sparse,
        knn,
        pseudo_label_stats,
    )

    features = np.load(args.features)
    true_ids = np.load(args.true_ids) if args.true_ids else None
    n = len(features)
    cluster_pseudo_labels(features[:500])  # compiles or loads the numba kernels, starts thread pools
    run: dict = {"n": n, "dim": features.shape[1], "load_avg_1min": round(os.getloadavg()[0], 2)}

    baseline, cpu_before = peak_rss_bytes(), cpu_seconds()
    started = time.perf_counter()
    neighbours = knn(features, min(args.k1, n))
    knn_done = time.perf_counter()
    distances = jaccard_distance_sparse(features, args.k1, args.k2, neighbours=neighbours)
    jaccard_done = time.perf_counter()
    labels = dbscan_labels(distances, args.eps, args.min_samples)
    finished = time.perf_counter()
    run |= {
        "knn_s": round(knn_done - started, 3),
        "jaccard_s": round(jaccard_done - knn_done, 3),
        "dbscan_s": round(finished - jaccard_done, 3),
        "total_s": round(finished - started, 3),
        "total_cpu_s": round(cpu_seconds() - cpu_before, 3),
        "extra_rss_gb": round((peak_rss_bytes() - baseline) / GB, 3),
        "stored_pairs_per_sample": round(distances.nnz / n, 1),
        **rounded(pseudo_label_stats(labels, true_ids)),
    }
    if n <= args.faiss_max:
        started = time.perf_counter()
        _, faiss_indices = knn(features, min(args.k1, n), backend="faiss")
        run["knn_faiss_cpu_s"] = round(time.perf_counter() - started, 3)
        same = np.sort(faiss_indices, axis=1) == np.sort(neighbours[1], axis=1)
        run["faiss_same_neighbour_sets"] = round(float(same.all(axis=1).mean()), 5)
    if n <= args.dense_max:
        started = time.perf_counter()
        dense = jaccard_distance_dense(features, args.k1, args.k2)
        dense_labels = dbscan_labels(dense, args.eps, args.min_samples)
        dense_s = time.perf_counter() - started
        stored = distances.tocoo()
        run |= {
            "dense_total_s": round(dense_s, 3),
            "dense_over_fast": round(dense_s / run["total_s"], 1),
            "dense_extra_rss_gb": round((peak_rss_bytes() - baseline) / GB, 3),
            "ari_vs_dense": round(float(adjusted_rand_score(dense_labels, labels)), 6),
            "max_distance_diff_vs_dense": float(np.abs(dense[stored.row, stored.col] - stored.data).max()),
            "dense_below_1_all_stored": bool(
                np.count_nonzero(dense[stored.row, stored.col] < 1) == np.count_nonzero(dense < 1)
            ),
        }
    return run


def rounded(stats: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in stats.items()}


def headline(run: dict) -> dict:
    keys = ("total_s", "extra_rss_gb", "num_clusters", "ari_vs_dense", "dense_over_fast")
    return {k: run[k] for k in keys if k in run}


if __name__ == "__main__":
    main()
