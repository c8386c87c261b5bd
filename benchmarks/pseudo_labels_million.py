"""Pseudo-labels at a million images: the approximate kNN (cluster.knn=approximate) against the exact one.

For each size, in a fresh subprocess so that its peak memory is its own: synthetic
identity-structured features (d = 1280, EfficientNet-Lite2's size), then the pseudo-labels
with the approximate search (candidates from k-means lists over the 128 principal dimensions,
each list's queries scanning the lists its members probe in one matrix product, ranked by exact
similarity, the probes calibrated to 0.99 recall),
timed by phase: kNN, the rest of the Jaccard distance, DBSCAN. The peak memory they add is
the growth of the process' RSS high-water mark (``VmHWM`` in /proc/self/status), reset to
the RSS after the features are made (``/proc/self/clear_refs``), so that their generation's
temporaries do not hide it; numpy's and faiss' allocations are invisible to tracemalloc. Up to ``--exact-up-to`` samples the same
pipeline also runs with the exact search, and the ARI between the two labellings says what
the approximation changes; at every size the approximate neighbours of 10,000 random
queries are compared with their exact ones (a search of those rows only), the recall of
the k1 nearest.

The features: people of 5 to 40 images each, in look-alike triples whose centres share a
common direction, each image taken by one of 6 cameras that shifts it by its own offset,
plus noise; rows in random order. What tells people apart (their centres, the shared
directions, the camera offsets) varies along few dimensions, as in trained re-ID features: its
variance along dimension i falls as i^-1.5, so that half of the features' variance lies in
their first 13 principal components (Market-1501's trained Lite0 features: 20), while each
image's own noise is isotropic. Centres spread evenly over all 1280 dimensions, as an earlier
generator drew them, need 197 components for half the variance, and in so many effective
dimensions an inverted file cannot keep a person's images in a few lists. They are generated
in chunks straight into one float32 array (the library searches float32), and their generation
is not timed.

    python benchmarks/pseudo_labels_million.py
    python benchmarks/pseudo_labels_million.py --sizes 5000 20000 --exact-up-to 20000 --name scratch

Writes benchmarks/results/<name>.json (default pseudo_labels_million.json) and a row in
docs/results.md: for each size up to --exact-up-to ``N<size>: {approx_s, exact_s,
ari_vs_exact}``, above it ``N<size>: {total_s, extra_rss_gb, recall_k1_sample}``; and
``runs[]`` with every phase's time, the peak memory and the cluster figures of each size.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, write_result  # noqa: E402

DIM = 1280
IMAGES_PER_PERSON = (5, 40)
LOOKALIKES = 3  # people per look-alike group, whose centres share a common direction
LOOKALIKE_WEIGHT = 0.8  # the shared direction's weight against each person's own (unit) direction
CAMERAS = 6
CAMERA_SHIFT = 0.3  # norm of a camera's offset
NOISE = 0.7  # norm of an image's own noise
SPECTRUM_EXPONENT = 1.5  # the variance of people's centres and camera offsets along dimension i: i^-1.5
CHUNK = 20_000  # rows generated at a time
RECALL_QUERIES = 10_000
K1, K2, EPS, MIN_SAMPLES = 30, 6, 0.6, 4  # the reference's settings
GB = 1e9


def main() -> None:
    args = parse_args()
    if args.worker:
        logging.basicConfig(level=logging.INFO, format="%(message)s")  # the calibrated probes, on stderr
        print(json.dumps(measure(args.worker, args.exact_up_to)))
        return
    started = time.perf_counter()
    runs = [run_worker(n, args.exact_up_to) for n in args.sizes]
    print_table(runs)
    summary = {f"N{run['n']}": headline(run) for run in runs}
    command = "python " + shlex.join(sys.argv)
    figures = summary | {"runs": runs}  # every phase's time, the memory and the cluster figures per size
    path = write_result(args.name, command, time.perf_counter() - started, figures, summary=summary)
    print(f"wrote {path}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[100_000, 1_000_000])
    parser.add_argument(
        "--exact-up-to", type=int, default=100_000, help="largest N that also runs the exact search"
    )
    parser.add_argument("--name", default="pseudo_labels_million", help="the result's name")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def run_worker(n: int, exact_up_to: int) -> dict:
    """One size in a fresh process: the high-water mark of this one would carry over to it."""
    command = [sys.executable, __file__, "--worker", str(n), "--exact-up-to", str(exact_up_to)]
    done = subprocess.run(command, check=False, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"worker for N={n} failed (its error is above)")
    return json.loads(done.stdout.splitlines()[-1])


def identity_features(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, DIM) unit float32 features of synthetic people, and their ids (see the module's doc)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(IMAGES_PER_PERSON[0], IMAGES_PER_PERSON[1] + 1, size=n // IMAGES_PER_PERSON[0] + 1)
    ids = rng.permutation(np.repeat(np.arange(len(sizes)), sizes)[:n])
    people = int(ids.max()) + 1
    shared = identity_directions(rng, people // LOOKALIKES + 1)
    own = identity_directions(rng, people)
    centres = unit_rows(LOOKALIKE_WEIGHT * shared[np.arange(people) // LOOKALIKES] + own)
    shifts = CAMERA_SHIFT * identity_directions(rng, CAMERAS)
    features = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, CHUNK):
        rows = slice(start, start + CHUNK)
        noise = rng.standard_normal((len(ids[rows]), DIM), dtype=np.float32) * (NOISE / np.sqrt(DIM))
        cameras = rng.integers(0, CAMERAS, size=len(ids[rows]))
        features[rows] = unit_rows(centres[ids[rows]] + shifts[cameras] + noise)
    return features, ids


def identity_directions(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` random unit directions whose variance along dimension i falls as i^-SPECTRUM_EXPONENT."""
    scale = np.arange(1, DIM + 1, dtype=np.float32) ** (-SPECTRUM_EXPONENT / 2)
    return unit_rows(rng.standard_normal((count, DIM), dtype=np.float32) * scale)


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def reset_peak_rss() -> None:
    """Lower the high-water mark to the current RSS (Linux >= 4.0): what follows peaks on its own."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss_bytes() -> int:
    """The process' RSS high-water mark (VmHWM), which counts numpy's and faiss' allocations alike."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status: this benchmark reads Linux's")


def measure(n: int, exact_up_to: int) -> dict:
    """One size, in this process: the approximate pipeline, its recall, and the exact pipeline where asked."""
    from sklearn.metrics import adjusted_rand_score

    from robustreid.clustering import cluster_pseudo_labels, knn, pseudo_label_stats
    from robustreid.clustering.neighbours import neighbour_recall

    features, ids = identity_features(n)
    cluster_pseudo_labels(features[:500])  # compiles or loads the numba kernels, starts thread pools
    knn(features[:2000], K1, backend="ivf")  # loads faiss
    run: dict = {"n": n, "dim": DIM}
    reset_peak_rss()
    baseline = peak_rss_bytes()
    approximate = pipeline(features, "ivf")
    run |= {f"approx_{key}": value for key, value in approximate["times"].items()}
    run["extra_rss_gb"] = round((peak_rss_bytes() - baseline) / GB, 3)
    run |= {
        k: round(v, 4) if isinstance(v, float) else v
        for k, v in pseudo_label_stats(approximate["labels"], ids).items()
    }
    queries = np.sort(np.random.default_rng(1).choice(n, size=min(n, RECALL_QUERIES), replace=False))
    started = time.perf_counter()
    exact_of_queries = knn(features, K1, backend="torch", rows=queries)[1]
    run["recall_queries_exact_s"] = round(time.perf_counter() - started, 3)
    run["recall_k1_sample"] = round(neighbour_recall(approximate["indices"][queries], exact_of_queries), 5)
    if n <= exact_up_to:
        exact = pipeline(features, "auto")
        run |= {f"exact_{key}": value for key, value in exact["times"].items()}
        run["ari_vs_exact"] = round(float(adjusted_rand_score(exact["labels"], approximate["labels"])), 5)
    return run


def pipeline(features: np.ndarray, backend: str) -> dict:
    """kNN with ``backend``, the Jaccard distance on it, DBSCAN: labels, neighbour indices and times."""
    from robustreid.clustering import dbscan_labels, jaccard_distance_sparse, knn

    started = time.perf_counter()
    neighbours = knn(features, K1, backend=backend)
    knn_done = time.perf_counter()
    distances = jaccard_distance_sparse(features, K1, K2, neighbours=neighbours)
    jaccard_done = time.perf_counter()
    labels = dbscan_labels(distances, EPS, MIN_SAMPLES)
    finished = time.perf_counter()
    times = {
        "knn_s": knn_done - started,
        "jaccard_s": jaccard_done - knn_done,
        "dbscan_s": finished - jaccard_done,
        "s": finished - started,
    }
    return {"labels": labels, "indices": neighbours[1], "times": {k: round(v, 3) for k, v in times.items()}}


def headline(run: dict) -> dict:
    """Exact against approximate where the exact search ran; the approximate one's cost and recall above."""
    if "exact_s" in run:
        return {"approx_s": run["approx_s"], "exact_s": run["exact_s"], "ari_vs_exact": run["ari_vs_exact"]}
    return {
        "total_s": run["approx_s"],
        "extra_rss_gb": run["extra_rss_gb"],
        "recall_k1_sample": run["recall_k1_sample"],
    }


if __name__ == "__main__":
    main()
