"""``cluster.*`` in the config: each clustering setting, fixed or ``auto``, and the numbers an epoch uses.

How ``auto`` settles on numbers, and why, is :mod:`robustreid.clustering.auto`. This module
imports neither numpy nor torch, so that a config is loaded and checked without them: it
also holds the names ``cluster.method`` and ``cluster.knn`` may take, and the one eps rule.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Literal, get_args

from robustreid.errors import ConfigError

AUTO = "auto"
#: The reference implementation's settings (Cluster Contrast on Market-1501): the defaults, and
#: ``auto``'s settings until the collapse guard first rejects them
REFERENCE = {"eps": 0.6, "min_samples": 4, "k1": 30, "k2": 6}

#: ``cluster.method``: the sparse Jaccard graph or the dense oracle's matrix, clustered by DBSCAN;
#: or the sparse graph's communities (InfoMap)
ClusterMethod = Literal["sparse", "dense", "infomap"]
CLUSTER_METHODS: tuple[str, ...] = get_args(ClusterMethod)
#: ``cluster.knn``: how the neighbours are searched.
KnnSetting = Literal["exact", "approximate", "auto"]
KNN_SETTINGS: tuple[str, ...] = get_args(KnnSetting)


@dataclass
class GuardConfig:
    """``cluster.guard.*``: when an epoch's clustering counts as degenerate (label-free checks)."""

    max_largest_share: float = 0.25  # the largest cluster holds more than this share of clustered images
    max_drop: float = 0.5  # the cluster count falls by more than this fraction from the previous epoch
    max_outlier_share: float = 0.9  # more than this share of images are outliers
    min_clusters_per_image: float = 0.01  # fewer clusters than this times the number of images
    retries: int = (
        2  # with ``auto``: after the reference's or the kept settings fail, re-derive at most this many times
    )


@dataclass
class ClusterConfig:
    """``cluster.*``: k-reciprocal Jaccard (k1, k2) + DBSCAN (eps, min_samples); each may be ``auto``."""

    eps: float | int | str = REFERENCE["eps"]  # an int (eps=1) is a float too
    min_samples: int | str = REFERENCE["min_samples"]
    k1: int | str = REFERENCE["k1"]
    k2: int | str = REFERENCE["k2"]
    # sparse | dense (the step-by-step oracle, small N only) | infomap (InfoMap communities of the
    # sparse Jaccard graph's pairs within eps instead of DBSCAN; clustering/communities.py)
    method: str = "sparse"
    # exact | approximate (candidates from k-means lists over 128 principal dimensions, ranked
    # exactly; recall calibrated to 0.99, up to 64 lists probed) | auto (approximate above
    # APPROXIMATE_ABOVE samples): how the neighbours are searched (clustering/neighbours.py; costs
    # in docs/scaling.md)
    knn: str = "exact"
    # with camera ids: lower same-camera similarities by this much when ranking neighbours, after
    # centring each camera's features (clustering/camera_bias.py); 0 = camera-blind, as the reference
    camera_penalty: float | int | str = 0.0  # an int (0) is a float too
    # with time stamps in the training file names (<pid>_c1s1_000451_01.jpg: camera 1, recording 1,
    # frame 451): cluster each feature blended with its tracklet's mean at this weight, a tracklet
    # being alike images of one camera and recording a few frames apart (clustering/tracklets.py);
    # 0 = off, 1 = the mean alone
    tracklet_weight: float = 0.0
    guard: GuardConfig = field(default_factory=GuardConfig)

    def __post_init__(self) -> None:
        for key in ("eps", "min_samples", "k1", "k2", "camera_penalty"):
            value = getattr(self, key)
            if isinstance(value, str) and value != AUTO:
                raise ConfigError(f"cluster.{key} must be a number or {AUTO!r}, got {value!r}")
        if self.eps != AUTO:
            self.eps = float(self.eps)
        if self.camera_penalty != AUTO:
            self.camera_penalty = float(self.camera_penalty)
        self.tracklet_weight = float(self.tracklet_weight)
        if self.camera_penalty != 0 and self.method == "dense":
            raise ConfigError(
                "cluster.camera_penalty needs cluster.method=sparse: the dense oracle ranks by itself"
            )
        if self.method == "infomap" and importlib.util.find_spec("infomap") is None:
            raise ConfigError(
                "cluster.method=infomap needs the infomap package: pip install 'robustreid[infomap]'"
            )

    @property
    def any_auto(self) -> bool:
        return AUTO in (self.eps, self.min_samples, self.k1, self.k2)


@dataclass(frozen=True)
class ResolvedSettings:
    """The numbers one epoch clusters with."""

    eps: float
    min_samples: int
    k1: int
    k2: int
    identity_size: float | None = None  # the estimate behind ``auto``, when one was made
    camera_penalty: float | None = None  # the penalty used, when the clustering was camera-debiased
    auto: str | None = None  # with ``auto``: "reference", "derived" (this epoch) or "kept" (derived earlier)

    def as_record(self) -> dict[str, float]:
        figures = {"eps": self.eps, "min_samples": self.min_samples, "k1": self.k1, "k2": self.k2}
        figures |= {"camera_penalty": self.camera_penalty} if self.camera_penalty is not None else {}
        figures |= {"auto": self.auto} if self.auto is not None else {}
        return {f"cluster_{k}": v for k, v in figures.items()} | (
            {"identity_size": self.identity_size} if self.identity_size is not None else {}
        )

    def describe(self) -> str:
        """The settings as a log line reads them: ``k1 4 k2 1 min_samples 2 eps 0.745 camera penalty 0.08``."""
        text = f"k1 {self.k1} k2 {self.k2} min_samples {self.min_samples} eps {self.eps:.3f}"
        return text + (
            f" camera penalty {self.camera_penalty:.2f}" if self.camera_penalty is not None else ""
        )


def eps_requirement(eps: float, method: str, method_key: str = "method") -> str | None:
    """What DBSCAN's ``eps`` must be on this distance, or None when it fits: the one eps rule.

    The sparse Jaccard graph stores only the pairs closer than 1 and scikit-learn reads a
    missing pair as "not a neighbour", so an eps of 1 or more would miss pairs that the
    dense matrix links; below 1 both give the same labels. InfoMap links the sparse graph's
    pairs within eps, which must be below 1 too. ``method_key`` is how the caller spells the
    method's setting (``cluster.method`` in a config).
    """
    if method != "dense" and not 0 < eps < 1:
        return (
            f"in (0, 1) with {method_key}={method}, whose Jaccard graph omits pairs at distance 1 "
            f"(use {method_key}=dense for a larger eps)"
        )
    return None if eps > 0 else "> 0"
