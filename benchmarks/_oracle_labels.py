"""Clusterers that turn chosen members into outliers: what keeping clustering mistakes out is worth.

Every robust memory of docs/method.md rests on finding the members a cluster holds by
mistake, and no label-free score finds them well on real features (AUC 0.75-0.80 within
impure clusters, docs/experiments/saa_real_features.md). Wrapped around the trainer's own
clusterer, :class:`MembersDropped` runs each epoch's real clustering as usual, then makes
the members a *chooser* picks outliers, so they sit out of the prototypes, the ClusterNCE
and every memory update. :class:`DropRule` names the chooser:

* :func:`misplaced` is the oracle: the members whose true identity is not their cluster's
  majority identity. No rule that skips suspected mistakes can do more; the gap to the
  plain clustering is the headroom such rules compete for. With a ``recall`` below 1 it
  misses a fixed part of them, and with a ``precision`` below 1 it also drops rightly
  placed members: an imperfect detector of known quality, to learn how good a label-free
  one must be. With ``ranked`` it picks the misplaced or the right members as a distance
  ranking would, to learn which of its choices cost accuracy.
* :func:`most_dispersed` is the label-free rule at the same place: the given share of all
  members farthest from their cluster's trimmed mean (the best dispersion of §3). Its
  ``view`` says in which features: this epoch's, the ones the first epoch clustered (the
  pre-trained backbone's, centred per camera: a witness that training has not bent towards
  the clustering's own mistakes, nor towards the drop's own earlier picks), or both.

The true identities are read by the benchmark, for the oracle and to report what was
dropped, and reach the library only as the cleaned labels (``benchmarks/ablation.py
--oracle-drop-misplaced`` / ``--drop-dispersed``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from robustreid.clustering import Clusterer
from robustreid.clustering.camera_bias import centre_per_camera
from robustreid.data.datasets.market_style import time_stamps
from robustreid.memory.diagnostics import misplaced_members
from robustreid.memory.estimators import ClusterSets, trimmed_estimate


@dataclass(frozen=True)
class Clustered:
    """What a chooser reads of one epoch: its pseudo-labels and features, the cameras, and the
    features the first epoch clustered (the pre-trained backbone's; kept only for a rule that reads them)."""

    labels: np.ndarray
    features: np.ndarray
    cameras: np.ndarray | None
    first_features: np.ndarray | None = None


#: one epoch -> the members to drop, a boolean mask over all samples
Chooser = Callable[[Clustered], np.ndarray]


def misplaced(
    true_ids: np.ndarray,
    recall: float = 1.0,
    precision: float = 1.0,
    ranked: tuple[str, ...] = (),
    view: str = "current",
) -> Chooser:
    """The oracle chooser (reads the true identities): the misplaced members, or a ``recall`` share of
    them with rightly placed members added until ``precision`` of the dropped are misplaced.

    Which members it misses and which right ones it adds are fixed for the run (one uniform draw
    per sample, seed 0), as a detector's blind spots are, and the same on a resumed run. With
    ``"misplaced"`` or ``"right"`` in ``ranked`` it picks those members as the label-free drop
    would instead, the most dispersed first (:func:`dispersion` in ``view``): at one quality, what
    a distance ranking's choice of members costs.
    """
    draw = np.random.default_rng(0).random(len(true_ids))

    def choose(epoch: Clustered) -> np.ndarray:
        clustered = epoch.labels >= 0
        wrong = misplaced_members(epoch.labels, true_ids)
        if not clustered.any():
            return wrong
        spread = _per_sample(dispersion(epoch, view), clustered) if ranked else None
        if "misplaced" in ranked:
            found = _most(wrong, spread, round(recall * wrong.sum()))
        else:
            found = wrong & (draw < recall)
        extra = round(found.sum() * (1 - precision) / precision)
        return found | _most(clustered & ~wrong, spread if "right" in ranked else -draw, extra)

    return choose


def _per_sample(score: torch.Tensor, clustered: np.ndarray) -> np.ndarray:
    """A score over the clustered members, spread over all samples (-inf for the outliers)."""
    full = np.full(len(clustered), -np.inf)
    full[clustered] = score.numpy()
    return full


def _most(among: np.ndarray, priority: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` samples of the mask ``among`` with the highest ``priority`` (ties: the first)."""
    index = np.flatnonzero(among)
    chosen = np.zeros(len(among), dtype=bool)
    chosen[index[np.argsort(-priority[index], kind="stable")[:count]]] = True
    return chosen


#: where :func:`dispersion` measures: this epoch's features, the first epoch's, or both
VIEWS = ("current", "first", "both")


def most_dispersed(share: float, view: str = "current") -> Chooser:
    """The label-free chooser: the ``share`` of clustered members ranked highest by :func:`dispersion`."""

    def choose(epoch: Clustered) -> np.ndarray:
        clustered = epoch.labels >= 0
        chosen = np.zeros(len(epoch.labels), dtype=bool)
        if clustered.any():
            score = dispersion(epoch, view)
            chosen[clustered] = (score > torch.quantile(score, 1 - share)).numpy()
        return chosen

    return choose


def dispersion(epoch: Clustered, view: str = "current") -> torch.Tensor:
    """Per clustered member: its distance to its cluster's trimmed mean, standardised over the
    members, in this epoch's features, the first epoch's centred per camera, or the sum of both.

    The pre-trained features have not been trained towards the clustering's own mistakes, nor
    towards a drop's earlier picks, and without each camera's light and background they rank
    identity (``benchmarks/saa_real_features.py`` scores them as the rows ``first_view`` and
    ``first_view_only``).
    """
    views = []
    if view in ("current", "both"):
        views.append(epoch.features)
    if view in ("first", "both"):
        first = epoch.first_features
        views.append(first if epoch.cameras is None else centre_per_camera(first, epoch.cameras))
    return sum(_standardised(_trimmed_distance(features, epoch.labels)) for features in views)


def _trimmed_distance(features: np.ndarray, labels: np.ndarray) -> torch.Tensor:
    """Each clustered member's cosine distance to its cluster's trimmed mean."""
    return trimmed_estimate(ClusterSets.build(torch.from_numpy(features), torch.from_numpy(labels)))[1]


def _standardised(values: torch.Tensor) -> torch.Tensor:
    return (values - values.mean()) / values.std().clamp(min=1e-12)


def other_passes(stamps: np.ndarray, gap: int) -> Chooser:
    """The label-free chooser from time stamps (``stamps``: recording and frame per sample): in each
    cluster, under each camera, the members of every pass but the one nearest the cluster's trimmed mean.

    A pass is a run of a camera's frames in one recording with no step longer than ``gap``. Most
    people walk past a camera once, and a merge of two people shows as two passes under a camera
    the two share, whatever their features say: on real features the distances cannot tell a
    far mistake from a far right member, the time can. The pass kept is the nearest on average,
    so the majority's view stays.
    """

    def choose(epoch: Clustered) -> np.ndarray:
        clustered = np.flatnonzero(epoch.labels >= 0)
        chosen = np.zeros(len(epoch.labels), dtype=bool)
        if not len(clustered) or epoch.cameras is None:
            return chosen
        cameras = epoch.cameras[clustered]
        recording, frame = stamps[clustered, 0], stamps[clustered, 1]
        group = np.unique(np.stack([epoch.labels[clustered], cameras]), axis=1, return_inverse=True)[
            1
        ].ravel()
        order = np.lexsort((frame, recording, group))
        starts = np.ones(len(order), dtype=bool)
        starts[1:] = (
            (np.diff(group[order]) != 0) | (np.diff(recording[order]) != 0) | (np.diff(frame[order]) > gap)
        )
        passes = np.empty(len(order), dtype=np.int64)
        passes[order] = np.cumsum(starts) - 1
        closeness = _pass_closeness(epoch, clustered, passes)
        pass_group = np.zeros(len(closeness), dtype=np.int64)
        pass_group[passes] = group
        nearest = np.full(group.max() + 1, -1)
        for index in np.argsort(closeness, kind="stable"):  # the nearest pass of a group is written last
            nearest[pass_group[index]] = index
        chosen[clustered] = passes != nearest[group]
        return chosen

    return choose


def _pass_closeness(epoch: Clustered, clustered: np.ndarray, passes: np.ndarray) -> np.ndarray:
    """Per pass, the cosine of its members' mean to their cluster's trimmed mean (a long pass weighs as one view)."""
    sets = ClusterSets.build(torch.from_numpy(epoch.features), torch.from_numpy(epoch.labels))
    prototypes = trimmed_estimate(sets)[0]
    sums = torch.zeros(int(passes.max()) + 1, sets.features.shape[1]).index_add_(
        0, torch.from_numpy(passes), sets.features
    )
    cluster = torch.zeros(len(sums), dtype=torch.long)
    cluster[torch.from_numpy(passes)] = sets.labels
    return (F.normalize(sums, dim=1) * prototypes[cluster]).sum(1).numpy()


@dataclass(frozen=True)
class DropRule:
    """Which members each epoch loses: the misplaced ones (``oracle``, at a ``recall`` and
    ``precision``, picking the ``ranked`` kinds of member by dispersion), a ``share`` of the most
    dispersed (either ranks in the features ``view`` names), or the other passes under a camera
    (``passes_gap`` frames apart at least; the time stamps come with :meth:`chooser`)."""

    oracle: bool = False
    share: float = 0.0
    view: str = "current"
    recall: float = 1.0
    precision: float = 1.0
    ranked: tuple[str, ...] = ()
    passes_gap: int = 0

    def __bool__(self) -> bool:
        return self.oracle or self.share > 0 or self.passes_gap > 0

    def chooser(self, true_ids: np.ndarray, paths: Sequence[str]) -> Chooser:
        if self.oracle:
            return misplaced(true_ids, self.recall, self.precision, self.ranked, self.view)
        if self.passes_gap:
            return other_passes(time_stamps(paths, "--drop-other-passes"), self.passes_gap)
        return most_dispersed(self.share, self.view)

    @property
    def reads_first_view(self) -> bool:
        return self.view != "current"


class MembersDropped:
    """The trainer's clusterer (``robustreid.clustering.Clusterer``) with the chosen members made outliers.

    Its state is the wrapped clusterer's and, with ``keep_first_view``, the first epoch's
    features, so a resumed run continues as any other. Beside the wrapped figures it reports
    the real clustering's purity before the cleaning, how many members it dropped, and which
    share of them were misplaced (the chooser's precision).
    """

    def __init__(
        self, clusterer: Clusterer, choose: Chooser, true_ids: np.ndarray, keep_first_view: bool = False
    ) -> None:
        self.clusterer, self.choose, self.true_ids = clusterer, choose, np.asarray(true_ids)
        self.keep_first_view = keep_first_view
        self.first_features: np.ndarray | None = None

    def __call__(
        self, features: np.ndarray, cameras: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if self.keep_first_view and self.first_features is None:
            self.first_features = features.copy()
        labels, figures = self.clusterer(features, cameras)
        dropped = self.choose(Clustered(labels, features, cameras, self.first_features)) & (labels >= 0)
        wrong = misplaced_members(labels, self.true_ids)
        return np.where(dropped, -1, labels), figures | {
            "oracle_dropped": int(dropped.sum()),
            "oracle_purity_before": 1 - wrong.sum() / max(int((labels >= 0).sum()), 1),
            "oracle_dropped_misplaced": float(wrong[dropped].mean()) if dropped.any() else None,
        }

    def state_dict(self) -> dict[str, Any]:
        first = None if self.first_features is None else torch.from_numpy(self.first_features)
        return {"clusterer": self.clusterer.state_dict(), "first_features": first}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.clusterer.load_state_dict(state["clusterer"])
        first = state["first_features"]
        self.first_features = None if first is None else first.numpy()
