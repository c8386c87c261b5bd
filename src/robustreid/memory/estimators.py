"""Label-free robust estimators of a cluster: a prototype per cluster and a dispersion per member.

The robust modules need two things from a cluster of features: a prototype close to
the identity most of its members belong to (CSA's job), and a dispersion that ranks
the members the clustering put there by mistake highest (what HPS reads). Each
estimator here gives both from the same view of the cluster, so a prototype and the
dispersion measured against it always agree. They are the baselines the SAA is
measured against on real features (``benchmarks/saa_real_features.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: Neighbours per member for the neighbourhood scores.
NEIGHBOURS = 10
#: The trimmed mean keeps this share of each cluster, the members nearest its running mean.
TRIM_KEEP = 0.8
#: Rounds of trimming and of the two-way split.
ROUNDS = 3
#: Temperature of the mode's weights: a member at cosine distance 0.1 more than another weighs e^-1 as much.
MODE_TEMPERATURE = 0.1
#: Rows per block of the neighbour search (bounds its memory).
BLOCK = 2048


@dataclass
class ClusterSets:
    """An epoch's clustered members: L2-normalised features, cluster ids 0..C-1, cameras."""

    features: torch.Tensor  # (M, D)
    labels: torch.Tensor  # (M,)
    cameras: torch.Tensor | None = None  # (M,)
    outliers: int = 0

    @classmethod
    def build(
        cls, features: torch.Tensor, labels: torch.Tensor, cameras: torch.Tensor | None = None
    ) -> ClusterSets:
        """From every sample of an epoch; outliers (label -1) are dropped and counted."""
        keep = labels >= 0
        return cls(
            F.normalize(features[keep].float(), dim=1),
            labels[keep].long(),
            cameras[keep] if cameras is not None else None,
            int((~keep).sum()),
        )

    @property
    def num_clusters(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    def weighted_prototypes(self, weights: torch.Tensor) -> torch.Tensor:
        """L2-normalised weighted mean per cluster (a cluster with zero total weight falls back to its mean)."""
        counts = torch.bincount(self.labels, minlength=self.num_clusters)
        totals = torch.zeros(self.num_clusters, device=weights.device).index_add_(0, self.labels, weights)
        weights = torch.where(totals[self.labels] > 0, weights, torch.ones_like(weights))
        sums = torch.zeros(self.num_clusters, self.features.shape[1], device=weights.device).index_add_(
            0, self.labels, weights[:, None] * self.features
        )
        return F.normalize(sums / counts.clamp(min=1)[:, None], dim=1)

    def distance_to(self, prototypes: torch.Tensor) -> torch.Tensor:
        """Each member's cosine distance to its cluster's prototype."""
        return 1 - (self.features * prototypes[self.labels]).sum(1)

    def neighbour_share(self, k: int = NEIGHBOURS) -> torch.Tensor:
        """Per member, the share of its ``k`` nearest other members that belong to its cluster."""
        shares = []
        for start in range(0, len(self.labels), BLOCK):
            block = self.features[start : start + BLOCK] @ self.features.t()
            rows = torch.arange(start, start + len(block), device=block.device)
            block[rows - start, rows] = float("-inf")  # not its own neighbour
            nearest = block.topk(min(k, len(self.labels) - 1), dim=1).indices
            shares.append((self.labels[nearest] == self.labels[rows, None]).float().mean(1))
        return torch.cat(shares)


Estimate = tuple[torch.Tensor, torch.Tensor]  # prototypes (C, D), dispersion (M,)
#: What :data:`~robustreid.memory.settings.ESTIMATORS` names: a cluster's prototypes and dispersion.
Estimator = Callable[[ClusterSets], Estimate]


def mean_estimate(sets: ClusterSets) -> Estimate:
    """Cluster Contrast: the mean, and the distance to it."""
    prototypes = sets.weighted_prototypes(torch.ones(len(sets.labels), device=sets.features.device))
    return prototypes, sets.distance_to(prototypes)


def medoid_estimate(sets: ClusterSets) -> Estimate:
    """The member with the largest summed cosine to its cluster (the one nearest the mean's direction)."""
    mean, to_mean = mean_estimate(sets)
    best = torch.full((sets.num_clusters,), float("inf"), device=to_mean.device).scatter_reduce(
        0, sets.labels, to_mean, "amin"
    )
    is_medoid = to_mean == best[sets.labels]
    prototypes = sets.weighted_prototypes(is_medoid.float())
    return prototypes, sets.distance_to(prototypes)


def trimmed_estimate(sets: ClusterSets, keep: float = TRIM_KEEP) -> Estimate:
    """The mean of the ``keep`` share of members nearest the running mean, re-trimmed ``ROUNDS`` times."""
    prototypes, distance = mean_estimate(sets)
    for _ in range(ROUNDS):
        inside = within_cluster_rank(distance, sets.labels) < keep
        prototypes = sets.weighted_prototypes(inside.float())
        distance = sets.distance_to(prototypes)
    return prototypes, distance


def mode_estimate(sets: ClusterSets, temperature: float = MODE_TEMPERATURE) -> Estimate:
    """The cluster's densest direction: mean shift from the mean, members weighted by exp(cos / temperature).

    In a merge the majority's side is the denser one, so the prototype walks towards
    it; a pure cluster's mode is near its mean. A high temperature gives back the mean.
    """
    prototypes, distance = mean_estimate(sets)
    for _ in range(ROUNDS):
        prototypes = sets.weighted_prototypes(torch.exp(-distance / temperature))
        distance = sets.distance_to(prototypes)
    return prototypes, distance


def neighbour_estimate(sets: ClusterSets) -> Estimate:
    """Members weighted by the share of their nearest neighbours inside their cluster; dispersion 1 - share.

    A misplaced member's own neighbours live in the cluster it came from: the cluster's
    context decides, which a view of the members alone cannot.
    """
    share = sets.neighbour_share()
    return sets.weighted_prototypes(share), 1 - share


def margin_estimate(sets: ClusterSets) -> Estimate:
    """Dispersion: the cosine to the nearest *other* cluster's mean minus the cosine to the own mean.

    A member that looks more like a neighbouring cluster than like its own is the
    clustering's likeliest mistake; members with a negative margin make the prototype.
    """
    means, _ = mean_estimate(sets)
    similarity = sets.features @ means.t()
    own = similarity.gather(1, sets.labels[:, None]).squeeze(1)
    similarity.scatter_(1, sets.labels[:, None], float("-inf"))
    margin = similarity.max(1).values - own
    return sets.weighted_prototypes((margin < 0).float()), margin


def split_estimate(sets: ClusterSets) -> Estimate:
    """The larger side of a two-way spherical k-means split of each cluster; distance to its mean."""
    larger = torch.ones(len(sets.labels), dtype=torch.bool, device=sets.features.device)
    for c in range(sets.num_clusters):
        rows = (sets.labels == c).nonzero().squeeze(1)
        if len(rows) >= 4:
            larger[rows] = _larger_side(sets.features[rows])
    prototypes = sets.weighted_prototypes(larger.float())
    return prototypes, sets.distance_to(prototypes)


def _larger_side(members: torch.Tensor) -> torch.Tensor:
    """Two-means on the sphere, seeded by the member farthest from the mean and the one farthest from it."""
    mean = F.normalize(members.mean(0), dim=0)
    first = members[(members @ mean).argmin()]
    centres = torch.stack([first, members[(members @ first).argmin()]])
    for _ in range(ROUNDS):
        side = (members @ centres.t()).argmax(1)
        for s in (0, 1):
            if (side == s).any():
                centres[s] = F.normalize(members[side == s].mean(0), dim=0)
    side = (members @ centres.t()).argmax(1)
    return side == side.bincount(minlength=2).argmax()


def within_cluster_rank(values: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each value's rank within its cluster, scaled to [0, 1): 0 for the smallest."""
    order = torch.argsort(values)
    order = order[torch.argsort(labels[order], stable=True)]
    counts = torch.bincount(labels)
    first = torch.cumsum(counts, 0) - counts
    rank = torch.empty(len(values), device=values.device)
    rank[order] = (torch.arange(len(values), device=values.device) - first[labels[order]]).float()
    return rank / counts[labels].float()
