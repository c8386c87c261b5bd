"""Fixed pseudo-labels: the true training identities with clustering mistakes planted at a known rate.

``benchmarks/controlled_noise.py`` trains on them instead of re-clustering every epoch,
so that a memory's robustness to clustering mistakes is measured at rates it sets, not at
whatever the clustering of the moment makes. The mistakes are the two kinds a real
clustering makes (docs/experiments/saa_real_features.md, on Market-1501 features), each
between people who look alike in the features of the untrained (ImageNet) model:

* a **merge**: an identity and the identity whose centre is nearest to it in one cluster;
  the smaller one's images are the moved ones (they are not the cluster's majority);
* an **intruder**: one image moved into the cluster of the identity whose centre is nearest
  to it (other than its own), one intruder per receiving cluster.

``rate`` is the share of the training images moved, exactly (rounded to an image);
``merge_share`` the share of the impure clusters that are merges (41-47 % on Market-1501),
matched as closely as whole merges allow: a merge moves a whole identity, an intruder one
image, so intruders fill what the merges leave of the rate. Merged identities neither send
nor receive intruders, so every planted cluster is pure, a merge of two identities, or one
identity with one intruder. The identities and intruders are drawn from ``seed``: the same
seed and features give the same labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


class PlantingError(ValueError):
    """The asked rate cannot be planted on this training set (too few identities)."""


@dataclass(frozen=True)
class PlantedLabels:
    """Cluster per training image (0..C-1) and what was planted to make it."""

    labels: np.ndarray
    moved: int  # images not of their cluster's identity: the merged smaller identities' and the intruders
    merges: int
    intruders: int

    @property
    def merge_share(self) -> float:
        """Merges among the impure clusters (each intruder makes one impure cluster)."""
        impure = self.merges + self.intruders
        return self.merges / impure if impure else 0.0

    def figures(self) -> dict[str, float]:
        """What a run records of its planted labels, next to the purity the diagnostics measure."""
        return {
            "planted_moved_share": self.moved / len(self.labels),
            "planted_merges": self.merges,
            "planted_intruders": self.intruders,
            "planted_merge_share": self.merge_share,
        }


def plant_mistakes(
    true_ids: np.ndarray, features: np.ndarray, rate: float, merge_share: float, seed: int
) -> PlantedLabels:
    """The identities of ``true_ids`` (N,) as clusters, with ``rate`` of the images moved (see the module)."""
    rng = np.random.default_rng(seed)
    _, identity = np.unique(true_ids, return_inverse=True)
    features = _unit_rows(features)
    centres = _unit_rows(np.stack([features[identity == i].mean(0) for i in range(identity.max() + 1)]))
    sizes = np.bincount(identity)
    pairs = look_alike_pairs(centres, sizes, rng)
    budget = round(rate * len(true_ids))
    moved_by_merges = np.cumsum([0, *(sizes[smaller] for _, smaller in pairs)])
    merges = merge_count(moved_by_merges, budget, merge_share, len(sizes))
    cluster = np.arange(len(sizes))
    for larger, smaller in pairs[:merges]:
        cluster[smaller] = larger
    labels = cluster[identity]
    merged = np.zeros(len(sizes), dtype=bool)
    merged[[i for pair in pairs[:merges] for i in pair]] = True
    intruders = budget - int(moved_by_merges[merges])
    move_intruders(labels, features, centres, identity, merged, intruders, rng)
    return PlantedLabels(np.unique(labels, return_inverse=True)[1], budget, merges, intruders)


def look_alike_pairs(
    centres: np.ndarray, sizes: np.ndarray, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """Identities paired, each drawn at random with the unpaired one nearest to it, as (larger, smaller)."""
    unpaired = np.ones(len(centres), dtype=bool)
    pairs = []
    for first in rng.permutation(len(centres)):
        if not unpaired[first]:
            continue
        unpaired[first] = False
        if not unpaired.any():
            break
        similarity = np.where(unpaired, centres @ centres[first], -np.inf)
        second = int(np.argmax(similarity))
        unpaired[second] = False
        pairs.append((first, second) if sizes[first] >= sizes[second] else (second, first))
    return pairs


def merge_count(moved_by_merges: np.ndarray, budget: int, merge_share: float, identities: int) -> int:
    """How many of the pairs to merge: the count whose share of the impure clusters is nearest ``merge_share``.

    ``moved_by_merges[m]`` is what the first ``m`` merges move; intruders move the rest of the
    budget, each into a cluster of its own among the unmerged identities, other than its own.
    """
    feasible = [
        m
        for m, moved in enumerate(moved_by_merges)
        if moved <= budget and (budget - moved == 0 or budget - moved < identities - 2 * m)
    ]
    if not feasible:
        raise PlantingError(
            f"{identities} training identities cannot hold {budget} moved images at a merge share of "
            f"{merge_share:g}: ask a lower rate or a higher merge share"
        )

    def distance_to_share(m: int) -> float:
        impure = m + budget - moved_by_merges[m]
        return abs((m / impure if impure else 0.0) - merge_share)

    return min(feasible, key=distance_to_share)


def move_intruders(
    labels: np.ndarray,
    features: np.ndarray,
    centres: np.ndarray,
    identity: np.ndarray,
    merged: np.ndarray,
    count: int,
    rng: np.random.Generator,
) -> None:
    """Move ``count`` images of unmerged identities, each to the nearest unmerged cluster that has no intruder yet."""
    receives = ~merged
    for image in rng.choice(np.flatnonzero(~merged[identity]), count, replace=False):
        candidates = receives.copy()
        candidates[identity[image]] = False
        destination = int(np.argmax(np.where(candidates, centres @ features[image], -np.inf)))
        labels[image], receives[destination] = destination, False


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)


class PlantedClusterer:
    """The trainer's clusterer (``robustreid.clustering.Clusterer``) that returns planted labels every epoch.

    The labels are planted on the first call, from the features the trainer hands it then:
    those of the untrained model, the same for every memory variant of a seed. They are
    saved in the checkpoint, so a resumed run keeps them. The true identities are read
    here, by the benchmark, and reach the library only as these fixed labels.
    """

    def __init__(self, true_ids: np.ndarray, rate: float, merge_share: float, seed: int) -> None:
        self.true_ids, self.rate, self.merge_share, self.seed = true_ids, rate, merge_share, seed
        self.planted: PlantedLabels | None = None

    def __call__(
        self, features: np.ndarray, cameras: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if self.planted is None:
            if len(features) != len(self.true_ids):
                raise PlantingError(
                    f"the trainer has {len(features)} training images, the labels are for {len(self.true_ids)} "
                    "(were unreadable images skipped?)"
                )
            self.planted = plant_mistakes(self.true_ids, features, self.rate, self.merge_share, self.seed)
        return self.planted.labels, self.planted.figures()

    def state_dict(self) -> dict[str, Any]:
        """The planted labels and counts (the trainer saves it after an epoch, so they exist)."""
        p = self.planted
        return {
            "labels": torch.from_numpy(p.labels),
            "moved": p.moved,
            "merges": p.merges,
            "intruders": p.intruders,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.planted = PlantedLabels(
            state["labels"].numpy(), state["moved"], state["merges"], state["intruders"]
        )
