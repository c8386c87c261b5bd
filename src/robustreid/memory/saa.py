"""SAA, the self-attention aggregation module: a cluster's member features -> prototype + member weights.

A cluster is a *set*: the module has no position encoding, so permuting the
members permutes the weights and leaves the prototype unchanged. Members are
first contextualised by multi-head self-attention (each member sees the rest of
its cluster, which is what lets the module judge how typical it is), then pooled
by attention with a learned query.

Two design choices keep the module safe to use from the first epoch:

* The prototype is a weighted mean of the *input* features, not a vector in the
  attention's hidden space: it stays in the space the encoder's features live in,
  which is what ClusterNCE compares them to, and the weights are interpretable
  (HPS reads them as a dispersion degree).
* The pooling query and agreement gain start at zero, so an untrained module gives
  every member the same weight: its prototype is exactly the cluster mean. Training
  moves away from the mean only where its objective rewards it.

Clusters larger than ``max_set_size`` are cut into random near-equal chunks: every
member still gets a weight (HPS needs one per sample) and memory stays bounded.
The training objectives (which CSA runs every epoch) are named in
:data:`~robustreid.memory.settings.SAA_OBJECTIVES`; the per-sample dispersion degrees HPS
can read are in :data:`~robustreid.memory.settings.DISPERSION`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from robustreid.memory.settings import SAA_OBJECTIVES, SAAConfig

#: Scale of the agreement term: a gain of 1 weighs members like a softmax of their cosine
#: to the set at this temperature (the ClusterNCE one), so a small gain already matters.
AGREEMENT_TEMPERATURE = 0.05


class SelfAttentionAggregator(nn.Module):
    """Permutation-invariant set aggregator: (B, M, D) members -> (B, D) prototypes, (B, M) weights."""

    def __init__(self, feature_dim: int, width: int = 256, heads: int = 4, layers: int = 1) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"SAA width {width} must be divisible by its number of heads {heads}")
        self.heads = heads
        # No bias and a LayerNorm: unit-norm inputs give tiny projections, which a bias (or the
        # attention's output) would swamp, erasing what distinguishes one member from another.
        self.project = nn.Sequential(nn.Linear(feature_dim, width, bias=False), nn.LayerNorm(width))
        layer = nn.TransformerEncoderLayer(
            width,
            heads,
            dim_feedforward=2 * width,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.pool_keys = nn.Linear(width, width)
        self.pool_query = nn.Parameter(torch.zeros(heads, width // heads))
        # How strongly a member's agreement with its set (cosine to the mean hidden state) raises its
        # weight: the one-parameter path to "members that agree with the rest weigh more".
        self.agreement_gain = nn.Parameter(torch.zeros(heads))

    def forward(self, members: torch.Tensor, padding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """L2-normalised prototypes (B, D) and member weights (B, M), zero on padding, summing to 1.

        ``padding`` is True at the slots that hold no member (PyTorch's key-padding convention);
        every set needs at least one member.
        """
        weights = self.member_weights(members, padding)
        prototypes = F.normalize(torch.einsum("bm,bmd->bd", weights, members), dim=1)
        return prototypes, weights

    def member_weights(self, members: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """Attention-pooling weights, averaged over the pooling heads."""
        hidden = self.norm(self.encoder(self.project(members), src_key_padding_mask=padding))
        real = (~padding).unsqueeze(-1).to(hidden.dtype)
        set_state = (hidden * real).sum(1) / real.sum(1)
        agreement = F.cosine_similarity(hidden, set_state.unsqueeze(1), dim=-1)
        batch, slots, width = hidden.shape
        keys = self.pool_keys(hidden).view(batch, slots, self.heads, width // self.heads)
        logits = (
            torch.einsum("bmhd,hd->bhm", keys, self.pool_query) / math.sqrt(width // self.heads)
            + self.agreement_gain[:, None] * agreement.unsqueeze(1) / AGREEMENT_TEMPERATURE
        )
        logits = logits.masked_fill(padding.unsqueeze(1), float("-inf"))
        return logits.softmax(dim=-1).mean(dim=1)


@dataclass
class SAAState:
    """The SAA that CSA trains each epoch (warm-started) and its optimiser.

    :meth:`state_dict` holds only tensors and plain values, so a checkpoint that
    carries it loads with ``torch.load(weights_only=True)``.
    """

    module: SelfAttentionAggregator
    optimizer: torch.optim.Optimizer
    losses: list[float] | None = None  # the SAA objective over the last epoch's steps

    @classmethod
    def new(cls, feature_dim: int, options: SAAConfig, device: torch.device | str = "cpu") -> SAAState:
        """An untrained SAA (it aggregates by the mean) and its optimiser."""
        module = SelfAttentionAggregator(feature_dim, options.width, options.heads, options.layers).to(device)
        return cls(module, torch.optim.Adam(module.parameters(), lr=options.lr))

    def state_dict(self) -> dict[str, object]:
        return {
            "module": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "losses": self.losses,
        }

    @classmethod
    def from_state_dict(
        cls, saved: dict[str, object], options: SAAConfig, device: torch.device | str = "cpu"
    ) -> SAAState:
        feature_dim = saved["module"]["project.0.weight"].shape[1]
        state = cls.new(feature_dim, options, device)
        state.module.load_state_dict(saved["module"])
        state.optimizer.load_state_dict(saved["optimizer"])
        state.losses = saved["losses"]
        return state


# ---------------------------------------------------------------- sets of members
@dataclass
class PackedSets:
    """Clusters as a padded batch of sets; ``positions`` maps each slot back to a feature row."""

    members: torch.Tensor  # (B, M, D)
    padding: torch.Tensor  # (B, M) bool, True where there is no member
    positions: torch.Tensor  # (B, M) row in the source features, -1 on padding
    cluster: torch.Tensor  # (B,) cluster id of each set


def random_rank_within_cluster(labels: torch.Tensor, num_clusters: int) -> torch.Tensor:
    """For each sample, its position 0..n_c-1 in a random order of its cluster's members.

    One random rank serves every random split: ``rank < k`` is a uniform random
    subset of k members per cluster, ``rank < n_c / 2`` a random half.
    """
    shuffled = torch.randperm(len(labels), device=labels.device)
    order = shuffled[torch.argsort(labels[shuffled], stable=True)]
    counts = torch.bincount(labels, minlength=num_clusters)
    first = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(labels)
    rank[order] = torch.arange(len(labels), device=labels.device) - first[labels[order]]
    return rank


def pack_clusters(
    features: torch.Tensor, labels: torch.Tensor, num_clusters: int, max_set_size: int
) -> PackedSets:
    """Every member in exactly one set; a cluster over ``max_set_size`` is cut into random even chunks."""
    counts = torch.bincount(labels, minlength=num_clusters)
    chunks = torch.div(counts + max_set_size - 1, max_set_size, rounding_mode="floor")
    chunk_len = torch.div(counts + chunks - 1, chunks.clamp(min=1), rounding_mode="floor")
    rank = random_rank_within_cluster(labels, num_clusters)
    set_id = (torch.cumsum(chunks, 0) - chunks)[labels] + rank % chunks[labels]  # dealt round-robin
    slot = rank // chunks[labels]
    positions = torch.full(
        (int(chunks.sum()), int(chunk_len.max())), -1, dtype=torch.long, device=labels.device
    )
    positions[set_id, slot] = torch.arange(len(labels), device=labels.device)
    padding = positions < 0
    members = features[positions.clamp(min=0)].masked_fill(padding.unsqueeze(-1), 0.0)
    cluster = torch.repeat_interleave(torch.arange(num_clusters, device=labels.device), chunks)
    return PackedSets(members, padding, positions, cluster)


def aggregate_clusters(
    saa: SelfAttentionAggregator,
    features: torch.Tensor,
    labels: torch.Tensor,
    num_clusters: int,
    max_set_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SAA prototypes (C, D) of whole clusters and each sample's weight within its cluster (N,).

    The chunks of a large cluster are combined in proportion to their sizes, so the
    weights of a cluster's members sum to 1 and uniform weights give the plain mean.
    A cluster without members gets a zero prototype.
    """
    packed = pack_clusters(features, labels, num_clusters, max_set_size)
    _, set_weights = saa(packed.members, packed.padding)
    real = ~packed.padding
    counts = torch.bincount(labels, minlength=num_clusters)
    share = real.sum(1) / counts[packed.cluster]
    weights = torch.zeros(len(labels), dtype=set_weights.dtype, device=features.device)
    weights = weights.index_put((packed.positions[real],), (set_weights * share[:, None])[real])
    prototypes = torch.zeros(num_clusters, features.shape[1], dtype=weights.dtype, device=features.device)
    prototypes = prototypes.index_add(0, labels, weights[:, None] * features)
    return F.normalize(prototypes, dim=1), weights


# ---------------------------------------------------------------- objectives
ObjectiveFn = Callable[..., torch.Tensor]

#: Planted outliers come from one of this many most similar clusters: clustering
#: errors are look-alikes, not random people, so those are the mistakes to learn.
PLANT_FROM_NEAREST = 5


def split_half_loss(
    saa: SelfAttentionAggregator,
    features: torch.Tensor,
    labels: torch.Tensor,
    num_clusters: int,
    **options: float,
) -> torch.Tensor:
    """Aggregate a random half of each cluster; its prototype must classify the other half (ClusterNCE).

    The hope: a prototype that leans towards a misplaced member classifies the
    held-out members worse, so down-weighting such members pays. Measured, it does
    the opposite: the cross-entropy is dominated by the hardest held-out members, and
    a prototype leaning towards the atypical members serves those best, so SAA learns
    to *up*-weight them (benchmarks/saa_features.py, docs/method.md).
    """
    nothing_planted = {"planted_fraction": 0.0, "merge_share": 0.0, "planted_loss_weight": 0.0}
    return _look_alike_loss(saa, features, labels, num_clusters, **{**options, **nothing_planted})


def planted_outlier_loss(
    saa: SelfAttentionAggregator,
    features: torch.Tensor,
    labels: torch.Tensor,
    num_clusters: int,
    **options: float,
) -> torch.Tensor:
    """Split-half, with a member of a similar cluster planted into a fraction of the aggregated halves.

    Besides the split-half ClusterNCE (now on partly contaminated sets), the planted
    members' weights are pushed towards zero by -log(1 - w): a direct lesson in what
    a clustering mistake looks like, which split-half alone does not give.
    """
    return _look_alike_loss(saa, features, labels, num_clusters, **{**options, "merge_share": 0.0})


def merged_look_alikes_loss(
    saa: SelfAttentionAggregator,
    features: torch.Tensor,
    labels: torch.Tensor,
    num_clusters: int,
    **options: float,
) -> torch.Tensor:
    """Fuse a fraction of the aggregated halves with a minority of a look-alike cluster; recover the majority.

    The clustering mistakes we measure are merges of two look-alike identities, not
    single intruders (docs/method.md section 8). Each chosen set gets ``merge_share``
    x its own size of members from one of its most similar clusters; the fused set's
    prototype must still classify the majority's held-out members, and the minority's
    total weight is pushed towards zero.
    """
    return _look_alike_loss(saa, features, labels, num_clusters, **options)


def _look_alike_loss(
    saa: SelfAttentionAggregator,
    features: torch.Tensor,
    labels: torch.Tensor,
    num_clusters: int,
    *,
    max_set_size: int,
    temperature: float,
    planted_fraction: float,
    planted_loss_weight: float,
    merge_share: float,
    **_: object,
) -> torch.Tensor:
    """Split-half ClusterNCE on sets given look-alike members, plus -log(1 - their total weight) per set.

    The one mechanism behind the three objectives: ``planted_fraction`` 0 plants nothing
    (split-half), ``merge_share`` 0 plants one member (planted), above 0 a minority (merge).
    """
    rank = random_rank_within_cluster(labels, num_clusters)
    aggregated, held_out = _split(rank, labels, num_clusters, max_set_size)
    donors, receivers = _plant_look_alikes(
        features, labels, num_clusters, rank, planted_fraction, merge_share
    )
    set_rows = torch.cat([aggregated.nonzero().squeeze(1), donors])
    set_labels = torch.cat([labels[aggregated], receivers])
    prototypes, weights = aggregate_clusters(saa, features[set_rows], set_labels, num_clusters, max_set_size)
    nce = _cluster_nce(features[held_out], labels[held_out], prototypes, temperature)
    if not len(donors):
        return nce
    planted_weights = weights[int(aggregated.sum()) :]
    receiving, per_receiver = torch.unique(receivers, return_inverse=True)
    total = torch.zeros(len(receiving), dtype=weights.dtype, device=weights.device)
    total = total.index_add(0, per_receiver, planted_weights)
    return nce - planted_loss_weight * torch.log1p(-total.clamp(max=1 - 1e-6)).mean()


def _split(
    rank: torch.Tensor, labels: torch.Tensor, num_clusters: int, max_set_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks of the aggregated half (at most ``max_set_size`` per cluster) and the held-out half.

    The aggregated half gets the odd member, so a single-member cluster still has a prototype.
    """
    counts = torch.bincount(labels, minlength=num_clusters)[labels]
    half = torch.div(counts + 1, 2, rounding_mode="floor")
    return rank < half.clamp(max=max_set_size), rank >= half


def _plant_look_alikes(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_clusters: int,
    rank: torch.Tensor,
    planted_fraction: float,
    merge_share: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of donor members and the clusters they are planted into (one donor cluster per receiver).

    ``merge_share`` 0 plants one random member of the donor; above 0, that share of the
    receiver's aggregated half (at least one, at most the donor's size), a merge.
    """
    device = features.device
    counts = torch.bincount(labels, minlength=num_clusters)
    present = counts > 0
    if int(present.sum()) < 2 or planted_fraction <= 0:
        nothing = torch.empty(0, dtype=torch.long, device=device)
        return nothing, nothing
    means = F.normalize(
        torch.zeros(num_clusters, features.shape[1], device=device).index_add(0, labels, features), dim=1
    )
    similarity = (means @ means.t()).fill_diagonal_(float("-inf"))
    similarity[:, ~present] = float("-inf")
    nearest = similarity.topk(min(PLANT_FROM_NEAREST, int(present.sum()) - 1), dim=1).indices
    chosen = (torch.rand(num_clusters, device=device) < planted_fraction) & present
    receivers = chosen.nonzero().squeeze(1)
    donor_clusters = nearest[receivers, torch.randint(nearest.shape[1], (len(receivers),), device=device)]
    row_of = torch.full((num_clusters, int(counts.max())), -1, dtype=torch.long, device=device)
    row_of[labels, rank] = torch.arange(len(labels), device=device)
    if merge_share <= 0:
        donor_rank = (torch.rand(len(receivers), device=device) * counts[donor_clusters]).long()
        return row_of[donor_clusters, donor_rank], receivers
    aggregated_size = torch.div(counts + 1, 2, rounding_mode="floor")[receivers]
    size = (merge_share * aggregated_size).long().clamp(min=1)
    size = torch.minimum(size, counts[donor_clusters])
    receivers, donor_clusters = receivers.repeat_interleave(size), donor_clusters.repeat_interleave(size)
    slot = torch.arange(len(receivers), device=device) - (torch.cumsum(size, 0) - size).repeat_interleave(
        size
    )
    return row_of[donor_clusters, slot], receivers  # rank is a random order: the first ranks, a random subset


def _cluster_nce(
    queries: torch.Tensor, targets: torch.Tensor, prototypes: torch.Tensor, temperature: float
) -> torch.Tensor:
    return F.cross_entropy(queries @ prototypes.t() / temperature, targets)


# ---------------------------------------------------------------- dispersion
DispersionFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def dispersion_from_weight(
    features: torch.Tensor, labels: torch.Tensor, prototypes: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """1 - weight x cluster size: 0 for an average member, towards 1 for one SAA ignores."""
    counts = torch.bincount(labels, minlength=len(prototypes))
    return 1 - weights * counts[labels]


def dispersion_from_distance(
    features: torch.Tensor, labels: torch.Tensor, prototypes: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Cosine distance to the cluster's SAA prototype."""
    return 1 - (features * prototypes[labels]).sum(dim=1)


# ---------------------------------------------------------------- training
def train_saa(
    saa: SelfAttentionAggregator,
    optimizer: torch.optim.Optimizer,
    features: torch.Tensor,
    labels: torch.Tensor,
    num_clusters: int,
    steps: int,
    objective: str,
    **objective_options: float,
) -> list[float]:
    """``steps`` optimiser steps of ``objective`` on fixed features; returns the losses.

    Cheap because it sees features, not images. Runs with gradients enabled even
    inside a ``no_grad`` caller (the memory initialises prototypes under no_grad).
    """
    loss_fn = SAA_OBJECTIVES.get(objective)
    saa.train()
    losses = []
    with torch.enable_grad():
        for _ in range(steps):
            loss = loss_fn(saa, features, labels, num_clusters, **objective_options)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    saa.eval()
    return losses
