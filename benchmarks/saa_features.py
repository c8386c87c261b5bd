"""SAA at the feature level: are its prototypes closer to the true identities than the mean, and do its
weights find the clustering's mistakes? Decides the default ``memory.saa.objective`` and ``dispersion``.

Features: ``make_features.py`` of the reference fixture (N = 3,000, 174 identities,
look-alike groups, camera shifts, 5% noise, d = 2048). Pseudo-labels:
``robustreid.clustering.cluster_pseudo_labels`` (k1 = 30, k2 = 6, min_samples = 4) at
eps 0.6 (the reference labels: adjusted Rand index against them is reported) and at
a looser eps 0.7 (more clustering mistakes). Ground truth is read only to score.

For each condition, the mean prototypes and, per objective and training seed, a
fresh SAA (the SAAConfig defaults: width 256, 4 heads, 1 layer, sets of at most
64, Adam 1e-3) trained for 0 / 25 / 50 / 100 steps on the clustered members:

* ``dist_*``: mean cosine distance from a cluster's prototype to its identity
  centre, the normalised mean of *all* samples of the cluster's majority identity;
  over all clusters, pure ones and impure ones. On a pure cluster that holds its
  whole identity the mean is this centre by construction, so only impure clusters
  can show a gain.
* ``auc_weight``: ROC AUC of low SAA weight (weight x cluster size, the ``weight``
  dispersion) for the members whose identity is not their cluster's majority.
* ``auc_distance``: the same for the cosine distance to the prototype (the
  ``distance`` dispersion); for the mean, the distance to the mean.
* ``auc_*_within``: the same AUCs computed inside each impure cluster and averaged:
  HPS ranks members within a class, so this is the ranking it sees; the global
  AUCs also compare members of different clusters (the noise-skip threshold does).
* ``agreement_gain``: the pooling's learned agreement gain, averaged over heads
  (> 0: members that agree with their cluster weigh more).

    python benchmarks/saa_features.py [--steps 0 25 50 100] [--seeds 0 1]

Writes benchmarks/results/saa_features.json and a row in docs/results.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import adjusted_rand_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from robustreid.clustering import cluster_pseudo_labels
from robustreid.memory.diagnostics import identity_centres, majority_identity
from robustreid.memory.saa import SelfAttentionAggregator, aggregate_clusters, train_saa
from robustreid.memory.settings import SAAConfig
from robustreid.memory.strategies import mean_prototypes

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "pseudo_labels"
N, IDS, FEATURE_SEED = 3000, 174, 0
CONDITIONS = {"eps0.6": 0.6, "eps0.7": 0.7}
OBJECTIVES = ("split_half", "planted")
SUMMARY_KEYS = (
    "dist_all",
    "dist_impure",
    "auc_weight",
    "auc_weight_within",
    "auc_distance",
    "auc_distance_within",
)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    features, identities = load_features()
    conditions, rows = {}, []
    for name, eps in CONDITIONS.items():
        labels = cluster_pseudo_labels(features, eps=eps)
        clustered = Clustered.from_labels(features, labels, identities)
        conditions[name] = clustered.summary() | reference_agreement(labels, eps)
        rows.append({"condition": name, "method": "mean", "steps": 0, "seed": None, **score_mean(clustered)})
        for objective in OBJECTIVES:
            for seed in args.seeds:
                scored = score_saa(clustered, objective, seed, args.steps)
                rows += [{"condition": name, **row} for row in scored]
        print_rows([r for r in rows if r["condition"] == name])
    figures = {"conditions": conditions, "summary": summary_at(rows, max(args.steps)), "rows": rows}
    command = "python benchmarks/saa_features.py " + shlex.join(sys.argv[1:])
    print(write_result("saa_features", command.strip(), time.perf_counter() - started, figures))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps",
        type=int,
        nargs="+",
        default=[0, 25, 50, 100],
        help="SAA training steps at which to score (one run per seed, scored on the way)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    return parser.parse_args()


def load_features() -> tuple[np.ndarray, np.ndarray]:
    spec = importlib.util.spec_from_file_location("make_features", REFERENCE / "make_features.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_feats(N, IDS, seed=FEATURE_SEED)


def reference_agreement(labels: np.ndarray, eps: float) -> dict:
    """ARI against the fixture's reference labels, which exist for eps 0.6 only."""
    if eps != 0.6:
        return {}
    reference = np.load(REFERENCE / "labels_N3000_seed0.npy")
    return {"ari_vs_reference": round(adjusted_rand_score(reference, labels), 4)}


@dataclass
class Clustered:
    """The clustered members (outliers dropped) and what the scores need from the ground truth."""

    features: torch.Tensor  # (members, D)
    labels: torch.Tensor  # (members,) cluster ids
    misplaced: np.ndarray  # (members,) identity differs from the cluster's majority identity
    identity_centres: torch.Tensor  # (clusters, D) of each cluster's majority identity, over all samples
    impure: np.ndarray  # (clusters,) holds a misplaced member
    outliers: int

    @property
    def num_clusters(self) -> int:
        return len(self.impure)

    @classmethod
    def from_labels(cls, features: np.ndarray, labels: np.ndarray, identities: np.ndarray) -> Clustered:
        member = labels >= 0
        member_labels = labels[member]
        majority = majority_identity(labels, identities, labels.max() + 1)
        misplaced = identities[member] != majority[member_labels]
        all_features = torch.from_numpy(features)
        ids, centres = identity_centres(all_features, identities)
        impure = np.bincount(member_labels, weights=misplaced, minlength=len(majority)) > 0
        return cls(
            all_features[torch.from_numpy(member)],
            torch.from_numpy(member_labels),
            misplaced,
            centres[np.searchsorted(ids, majority)],
            impure,
            int((~member).sum()),
        )

    def summary(self) -> dict:
        return {
            "clusters": self.num_clusters,
            "outliers": self.outliers,
            "members": len(self.labels),
            "misplaced_members": int(self.misplaced.sum()),
            "impure_clusters": int(self.impure.sum()),
        }

    def score(self, prototypes: torch.Tensor, weights: torch.Tensor | None) -> dict:
        distance = (1 - (prototypes * self.identity_centres).sum(1)).numpy()
        to_prototype = (1 - (self.features * prototypes[self.labels]).sum(1)).numpy()
        scores = {
            "dist_all": distance.mean(),
            "dist_pure": distance[~self.impure].mean(),
            "dist_impure": distance[self.impure].mean(),
            "auc_distance": roc_auc_score(self.misplaced, to_prototype),
            "auc_distance_within": self.auc_within_clusters(to_prototype),
        }
        if weights is not None:
            sizes = torch.bincount(self.labels)[self.labels]
            relative = (weights * sizes).numpy().round(6)  # chunked clusters: 1 +- rounding is a tie
            scores["auc_weight"] = roc_auc_score(self.misplaced, -relative)
            scores["auc_weight_within"] = self.auc_within_clusters(-relative)
        return {k: round(float(v), 5) for k, v in scores.items()}

    def auc_within_clusters(self, dispersion: np.ndarray) -> float:
        """Mean over impure clusters of the AUC inside each: the ranking HPS (per class) sees."""
        labels = self.labels.numpy()
        return float(
            np.mean(
                [
                    roc_auc_score(self.misplaced[labels == c], dispersion[labels == c])
                    for c in np.flatnonzero(self.impure)
                ]
            )
        )


def score_mean(clustered: Clustered) -> dict:
    prototypes = mean_prototypes(clustered.features, clustered.labels, clustered.num_clusters)
    return clustered.score(F.normalize(prototypes, dim=1), None)


def score_saa(clustered: Clustered, objective: str, seed: int, checkpoints: list[int]) -> list[dict]:
    """One SAA per (objective, seed), trained up to the last checkpoint and scored at each."""
    options = SAAConfig(objective=objective)
    torch.manual_seed(seed)
    saa = SelfAttentionAggregator(clustered.features.shape[1], options.width, options.heads, options.layers)
    optimizer = torch.optim.Adam(saa.parameters(), lr=options.lr)
    rows, done, losses, train_s = [], 0, [], 0.0
    for steps in sorted(checkpoints):
        started = time.perf_counter()
        losses += train_saa(
            saa,
            optimizer,
            clustered.features,
            clustered.labels,
            clustered.num_clusters,
            steps - done,
            objective,
            **options.objective_options(),
        )
        done, train_s = steps, train_s + time.perf_counter() - started
        with torch.no_grad():
            prototypes, weights = aggregate_clusters(
                saa, clustered.features, clustered.labels, clustered.num_clusters, options.max_set_size
            )
        rows.append(
            {
                "method": objective,
                "steps": steps,
                "seed": seed,
                **clustered.score(prototypes, weights),
                "agreement_gain": round(float(saa.agreement_gain.detach().mean()), 4),
                "loss_last10": round(float(np.mean(losses[-10:])), 4) if losses else None,
                "train_s": round(train_s, 1),
            }
        )
    return rows


def summary_at(rows: list[dict], steps: int) -> dict:
    """Per condition: the mean's scores and each objective's, averaged over seeds, after ``steps``."""
    summary = {}
    for condition in CONDITIONS:
        mine = [r for r in rows if r["condition"] == condition]
        mean = next(r for r in mine if r["method"] == "mean")
        summary[condition] = {f"mean_{key}": mean[key] for key in SUMMARY_KEYS if key in mean}
        for objective in OBJECTIVES:
            final = [r for r in mine if r["method"] == objective and r["steps"] == steps]
            for key in SUMMARY_KEYS:
                summary[condition][f"{objective}_{key}"] = round(float(np.mean([r[key] for r in final])), 5)
    return summary


def print_rows(rows: list[dict]) -> None:
    keys = (
        "condition",
        "method",
        "steps",
        "seed",
        "dist_all",
        "dist_pure",
        "dist_impure",
        "auc_weight",
        "auc_weight_within",
        "auc_distance",
        "auc_distance_within",
        "agreement_gain",
        "loss_last10",
    )
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(str(row.get(k, "")) for k in keys), flush=True)


if __name__ == "__main__":
    main()
