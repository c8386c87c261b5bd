"""SAA against simple robust estimators on real Market-1501 features: the robust method's inner loop.

Reads the training features that one Market-1501 CPU protocol run clustered
(``benchmarks/_feature_dumps.py``: epoch 0 = ImageNet, a middle and the last epoch)
with the protocol's own pseudo-labels. The true identities are read to score only.
``first_view`` is the label-free drop's ranking of ``ablation.py --drop-view both``: the
trimmed distance in the dump's features plus the same in the run's epoch-0 (pre-trained)
features centred per camera, each standardised (the trimmed mean's prototypes);
``first_view_only`` is ``--drop-view first``, the epoch-0 distance alone.
Two rows read a second clustering instead of a distance: ``consensus``, the share of a
member's cluster that was clustered with it in the previous dump (a mistake is a newcomer
among strangers), and ``reliability``, the share that stays clustered with it at an eps
``TIGHTER`` below the config's (SpCL's compactness: a mistake hangs on by a loose link).

* ``mistakes``: what kind of mistakes the clustering makes. An impure cluster is a
  *merge* when two or more identities hold at least 25 % of it each, else it has
  *intruders*; and how the clusters split by camera.
* ``auc_within`` / ``auc_all``: ROC AUC of each dispersion score for the members
  whose identity is not their cluster's majority; within each impure cluster
  (averaged: the ranking HPS sees) and over all members. ``auc_far``: the same among the
  ``FAR_SHARE`` of members farthest from their cluster's trimmed mean, the ones a distance
  drop picks: whether a score tells the far mistakes from the far rightly placed members.
* ``error_pure`` / ``error_impure``: mean cosine distance from each cluster's
  prototype to its majority identity's centre (all its samples in the dump).
* ``skipped_misplaced`` / ``skipped_right``: the share of misplaced and of rightly placed
  members whose dispersion is above the quantile the third design's HPS never picks from
  (``NOISE_QUANTILE`` of ``robustreid.config.variants``): what it avoids and what it gives
  up. ``camera_share_skipped_right`` / ``camera_share_kept_right``: the mean share of their
  cluster that the rightly placed members' own camera holds, skipped against kept (low:
  a view from a camera the cluster rarely has, the cross-camera positive training needs).

Every estimator gives a prototype per cluster and a dispersion per member
(``robustreid.memory.estimators``), the SAA too (trained on the dump's clusters
with its objective, per seed). ``camera_centred`` is a candidate of this bench only:
the trimmed estimate ranked with each camera's mean removed. A design is scored here
in minutes, before any end-to-end run.

    python benchmarks/saa_real_features.py [--run market1501_cpu_v5_seed2] [--saa-steps 200] [--seeds 0 1] \
        [--config configs/market1501_cpu_v5.yaml]

Writes benchmarks/results/saa_real_features.json (``summary`` per dump) and a row in docs/results.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402
from _feature_dumps import FeatureDump, add_dump_arguments, dump_dir, existing_dumps  # noqa: E402
from _oracle_labels import Clustered, dispersion  # noqa: E402
from robustreid.clustering.camera_bias import centre_per_camera  # noqa: E402
from robustreid.clustering.pseudo_labels import graph_labels, jaccard_distance  # noqa: E402
from robustreid.clustering.settings import ClusterConfig  # noqa: E402
from robustreid.config.schema import load_config  # noqa: E402
from robustreid.config.variants import NOISE_QUANTILE  # noqa: E402
from robustreid.memory.diagnostics import identity_centres, majority_identity  # noqa: E402
from robustreid.memory.estimators import (  # noqa: E402
    TRIM_KEEP,
    ClusterSets,
    Estimate,
    mean_estimate,
    mode_estimate,
    trimmed_estimate,
    within_cluster_rank,
)
from robustreid.memory.saa import SelfAttentionAggregator, aggregate_clusters, train_saa  # noqa: E402
from robustreid.memory.settings import ESTIMATORS, SAAConfig  # noqa: E402

MERGE_SHARE = 0.25  # an identity holding at least this share of a cluster is one side of a merge
SAA_OBJECTIVES = ("split_half", "planted", "merge")
FALLBACK_PROTOTYPES, FALLBACK_DISPERSION = "mean", "trimmed"  # what the variant trimmed_hps reads
MODE_TEMPERATURES = (0.03, 0.05, 0.2)
TRIM_KEEPS = (0.6, 0.9)
FAR_SHARE = 0.3  # the far members: about what the label-free drops of ablation.py pick from
TIGHTER = 0.05  # the reliability row's eps below the config's; SpCL checks at 0.02, which parts fewer members


@dataclass
class Scored:
    """A dump's clustered members and the ground truth its scores need."""

    sets: ClusterSets
    misplaced: np.ndarray  # (members,) identity differs from the cluster's majority identity
    centres: torch.Tensor  # (clusters, D) the majority identity's centre
    impure: np.ndarray  # (clusters,)
    member_ids: np.ndarray
    member_cams: np.ndarray
    camera_share: np.ndarray  # (members,) the share of its cluster that a member's camera holds
    far: np.ndarray  # (members,) among the FAR_SHARE farthest from their trimmed mean

    @classmethod
    def from_dump(cls, dump: FeatureDump) -> Scored:
        member = dump.labels >= 0
        labels = dump.labels[member]
        num_clusters = int(labels.max()) + 1
        majority = majority_identity(dump.labels, dump.pids, num_clusters)
        misplaced = dump.pids[member] != majority[labels]
        ids, centres = identity_centres(torch.from_numpy(dump.features), dump.pids)
        sets = ClusterSets.build(
            torch.from_numpy(dump.features), torch.from_numpy(dump.labels), torch.from_numpy(dump.camids)
        )
        impure = np.bincount(labels, weights=misplaced, minlength=num_clusters) > 0
        distance = trimmed_estimate(sets)[1].numpy()
        return cls(
            sets,
            misplaced,
            centres[np.searchsorted(ids, majority)],
            impure,
            dump.pids[member],
            dump.camids[member],
            group_share(labels, dump.camids[member]),
            distance >= np.quantile(distance, 1 - FAR_SHARE),
        )

    def score(self, prototypes: torch.Tensor, dispersion: torch.Tensor) -> dict[str, float]:
        error = (1 - (F.normalize(prototypes, dim=1) * self.centres).sum(1)).numpy()
        dispersion = dispersion.numpy()
        labels = self.sets.labels.numpy()
        within = [
            roc_auc_score(self.misplaced[labels == c], dispersion[labels == c])
            for c in np.flatnonzero(self.impure)
        ]
        return {
            "auc_within": round(float(np.mean(within)), 4),
            "auc_all": round(float(roc_auc_score(self.misplaced, dispersion)), 4),
            "auc_far": round(float(roc_auc_score(self.misplaced[self.far], dispersion[self.far])), 4),
            "error_pure": round(float(error[~self.impure].mean()), 4),
            "error_impure": round(float(error[self.impure].mean()), 4),
            **self.skipped(dispersion),
        }

    def skipped(self, dispersion: np.ndarray) -> dict[str, float]:
        """What HPS's skip of the most dispersed members avoids (misplaced) and gives up (rightly placed)."""
        skipped = dispersion > np.quantile(dispersion, NOISE_QUANTILE)
        right = ~self.misplaced
        figures = {
            "skipped_misplaced": skipped[self.misplaced],
            "skipped_right": skipped[right],
            "camera_share_skipped_right": self.camera_share[skipped & right],
            "camera_share_kept_right": self.camera_share[~skipped & right],
        }
        return {
            key: round(float(values.mean()), 4) if values.size else None for key, values in figures.items()
        }

    def oracle(self) -> dict[str, float]:
        """The best any re-weighting of members can do: the mean of the majority identity's members (reads labels)."""
        prototypes = self.sets.weighted_prototypes(torch.from_numpy(~self.misplaced).float())
        return self.score(prototypes, torch.from_numpy(self.misplaced).float())

    def mistakes(self) -> dict[str, float]:
        """Merges against intruders, and cameras, over the impure clusters."""
        labels = self.sets.labels.numpy()
        merges = intruder_same_camera = intruders = single_camera = single_camera_impure = 0
        for c in range(len(self.impure)):
            mine = labels == c
            single = len(np.unique(self.member_cams[mine])) == 1
            single_camera += single
            if not self.impure[c]:
                continue
            single_camera_impure += single
            _, counts = np.unique(self.member_ids[mine], return_counts=True)
            merges += int((counts >= MERGE_SHARE * mine.sum()).sum() >= 2)
            wrong = mine & self.misplaced
            majority_cams = set(self.member_cams[mine & ~self.misplaced])
            intruders += int(wrong.sum())
            intruder_same_camera += sum(cam in majority_cams for cam in self.member_cams[wrong])
        impure = int(self.impure.sum())
        return {
            "clusters": len(self.impure),
            "members": len(labels),
            "outliers": self.sets.outliers,
            "impure_clusters": impure,
            "purity": round(1 - float(self.misplaced.mean()), 4),
            "merge_share_of_impure": round(merges / max(impure, 1), 3),
            "single_camera_clusters": single_camera,
            "single_camera_share_of_impure": round(single_camera_impure / max(impure, 1), 3),
            "misplaced_sharing_a_majority_camera": round(intruder_same_camera / max(intruders, 1), 3),
        }


def group_share(labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per member, the share of its cluster's members in its own group (a camera, or a cluster
    of a second clustering)."""
    _, inverse, counts = np.unique(
        np.stack([labels, groups]), axis=1, return_inverse=True, return_counts=True
    )
    return counts[inverse.ravel()] / np.bincount(labels)[labels]


class SavedScores:
    """SAA scores kept beside the dump, one per (objective, steps, seed): a rerun trains only what is new."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.scores = json.loads(path.read_text()) if path.exists() else {}

    def get(self, key: str) -> dict[str, float] | None:
        return self.scores.get(key)

    def put(self, key: str, scores: dict[str, float]) -> dict[str, float]:
        self.scores[key] = scores
        self.path.write_text(json.dumps(self.scores, indent=1))
        return scores


def score_saa(scored: Scored, objective: str, seed: int, steps: int) -> dict[str, float]:
    """A fresh SAA trained on the dump's clusters, then scored like the estimators (distance dispersion)."""
    options = SAAConfig(objective=objective)
    torch.manual_seed(seed)
    sets = scored.sets
    saa = SelfAttentionAggregator(sets.features.shape[1], options.width, options.heads, options.layers)
    optimizer = torch.optim.Adam(saa.parameters(), lr=options.lr)
    train_saa(
        saa,
        optimizer,
        sets.features,
        sets.labels,
        sets.num_clusters,
        steps,
        objective,
        **options.objective_options(),
    )
    with torch.no_grad():
        prototypes, _ = aggregate_clusters(
            saa, sets.features, sets.labels, sets.num_clusters, options.max_set_size
        )
    dispersion = 1 - (sets.features * prototypes[sets.labels]).sum(1)
    return scored.score(prototypes, dispersion)


def score_first_view(
    scored: Scored, dump: FeatureDump, first_features: np.ndarray, view: str
) -> dict[str, float]:
    """A ranking of the label-free drop that reads the first view, with the trimmed mean's prototypes."""
    prototypes, _ = trimmed_estimate(scored.sets)
    epoch = Clustered(dump.labels, dump.features, dump.camids, first_features)
    return scored.score(prototypes, dispersion(epoch, view))


def co_membership(labels: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Per clustered member, the share of its cluster that ``other`` (a second clustering of the
    same samples) also puts in the member's cluster; 0 where ``other`` calls the member an outlier."""
    member = labels >= 0
    return np.where(other[member] >= 0, group_share(labels[member], other[member]), 0.0)


def score_second_clustering(scored: Scored, dump: FeatureDump, other: np.ndarray) -> dict[str, float]:
    """Low co-membership with a second clustering as the dispersion, with the mean's prototypes."""
    together = torch.from_numpy(co_membership(dump.labels, other))
    return scored.score(mean_estimate(scored.sets)[0], 1 - together)


def tighter_labels(dump: FeatureDump, cluster: ClusterConfig) -> np.ndarray:
    """The dump's features clustered camera-blind at ``TIGHTER`` below the config's eps."""
    distances = jaccard_distance(dump.features, cluster.k1, cluster.k2, cluster.method)
    return graph_labels(distances, float(cluster.eps) - TIGHTER, cluster.min_samples, cluster.method)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    dumps, summary = {}, {}
    cluster = load_config(args.config).cluster
    if cluster.any_auto:
        raise SystemExit(
            f"--config {args.config}: the reliability row needs fixed cluster settings, not auto"
        )
    previous = None
    for name, epoch, path in existing_dumps(args.run, args.dumps):
        dump = FeatureDump.load(path)
        scored = Scored.from_dump(dump)
        rows = {}
        for estimator, estimate in estimators().items():
            rows[estimator] = scored.score(*estimate(scored.sets))
            print(name, estimator, rows[estimator], flush=True)
        first = dump_dir(args.run) / "epoch_00.npz"
        if first.exists():
            first_features = FeatureDump.load(first).features
            for row, view in [("first_view", "both"), ("first_view_only", "first")]:
                rows[row] = score_first_view(scored, dump, first_features, view)
                print(name, row, rows[row], flush=True)
        others = {"reliability": tighter_labels(dump, cluster)}
        if previous is not None:
            others["consensus"] = previous.labels
        for row, other in others.items():
            rows[row] = score_second_clustering(scored, dump, other)
            print(name, row, rows[row], flush=True)
        previous = dump
        rows["oracle_majority"] = scored.oracle()
        saved = SavedScores(path.with_suffix(".scores.json"))
        for objective in args.objectives:
            runs = [
                saved.get(f"saa_{objective}_steps{args.saa_steps}_seed{seed}")
                or saved.put(
                    f"saa_{objective}_steps{args.saa_steps}_seed{seed}",
                    score_saa(scored, objective, seed, args.saa_steps),
                )
                for seed in args.seeds
            ]
            rows[f"saa_{objective}"] = {k: round(float(np.mean([r[k] for r in runs])), 4) for k in runs[0]}
            print(name, f"saa_{objective}", rows[f"saa_{objective}"], flush=True)
        dumps[name] = {"epoch": epoch, "mistakes": scored.mistakes(), "estimators": rows}
        summary[name] = summarise(rows)
    figures = {
        "run": args.run,
        "saa_steps": args.saa_steps,
        "seeds": args.seeds,
        "summary": summary,
        "dumps": dumps,
    }
    command = "python benchmarks/saa_real_features.py " + shlex.join(sys.argv[1:])
    print(write_result(args.name, command.strip(), time.perf_counter() - started, figures))


def estimators() -> dict[str, Callable[[ClusterSets], tuple[torch.Tensor, torch.Tensor]]]:
    """Every registered estimator at its default, and the parametric ones across their parameter."""
    swept = {f"mode_t{t}": partial(mode_estimate, temperature=t) for t in MODE_TEMPERATURES} | {
        f"trimmed_k{k}": partial(trimmed_estimate, keep=k) for k in TRIM_KEEPS
    }
    registered = {name: ESTIMATORS.get(name) for name in ESTIMATORS.names()}
    return registered | swept | {"camera_centred": camera_centred_estimate}


def camera_centred_estimate(sets: ClusterSets) -> Estimate:
    """The trimmed estimate, ranked on features with each camera's mean direction removed.

    Real clustering mistakes carry camera structure: people under one camera's light and
    background look alike, so an intruder sits near a cluster's mean by its camera, not
    by its identity. Without that shared direction the distance ranks identity. The
    prototype is the kept members' mean in the features the memory holds.
    """
    if sets.cameras is None:
        return trimmed_estimate(sets)
    centred = centre_per_camera(sets.features.cpu().numpy(), sets.cameras.cpu().numpy())
    _, distance = trimmed_estimate(ClusterSets(torch.from_numpy(centred), sets.labels.cpu()))
    distance = distance.to(sets.features.device)
    inside = within_cluster_rank(distance, sets.labels) < TRIM_KEEP
    return sets.weighted_prototypes(inside.float()), distance


def summarise(rows: dict[str, dict[str, float]]) -> dict[str, object]:
    """The issue's bar: what ships against the best label-free baseline and the mean.

    No SAA met the bar, so the fallback ships (``trimmed_hps``): its figures stand in for
    ``saa_*`` (prototypes from :data:`FALLBACK_PROTOTYPES`, dispersion from
    :data:`FALLBACK_DISPERSION`), and the best trained SAA's are kept as ``saa_module_*``.
    """
    saa = {k: v for k, v in rows.items() if k.startswith("saa_")}
    baselines = {k: v for k, v in rows.items() if not k.startswith(("saa_", "oracle"))}
    best_baseline = max(baselines, key=lambda k: baselines[k]["auc_within"])
    prototypes, dispersion = rows[FALLBACK_PROTOTYPES], rows[FALLBACK_DISPERSION]
    out: dict[str, object] = {
        "fallback": f"trimmed_hps: {FALLBACK_PROTOTYPES} prototypes, {FALLBACK_DISPERSION} dispersion",
        "saa_auc_within": dispersion["auc_within"],
        "saa_error_impure": prototypes["error_impure"],
        "saa_error_pure": prototypes["error_pure"],
        "best_baseline": best_baseline,
        "best_baseline_auc_within": baselines[best_baseline]["auc_within"],
        "mean_error_impure": rows["mean"]["error_impure"],
        "mean_error_pure": rows["mean"]["error_pure"],
        "oracle_error_impure": rows["oracle_majority"]["error_impure"],
    }
    if saa:
        module = max(saa, key=lambda k: saa[k]["auc_within"])
        out |= {"saa_module": module} | {f"saa_module_{k}": v for k, v in saa[module].items()}
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_dump_arguments(parser, "saa_real_features")
    parser.add_argument(
        "--config",
        default="configs/market1501_cpu_v5.yaml",
        help="the run's config, whose clustering the reliability row tightens",
    )
    parser.add_argument("--saa-steps", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--objectives", nargs="*", default=list(SAA_OBJECTIVES))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    return parser.parse_args()


if __name__ == "__main__":
    main()
