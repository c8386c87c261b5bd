"""Clustering settings, fixed or ``auto``: the reference's values until they fail on this data.

Market-1501's settings (k1=30, min_samples=4, eps=0.6: :data:`REFERENCE`) fit about 17
images per person; on a user's folder with 4 images per person they merge everyone into a
few clusters. ``auto`` uses the reference's values (camera-blind) for as long as the collapse
guard (``clustering/labeler.py``) finds their clustering sound. The first time it finds it
degenerate, ``auto`` derives each setting from the features alone, never from labels, and
keeps the derived settings for the rest of the run, deriving them again only when the guard
fails those. Trying the reference's values every epoch instead made ``auto`` alternate on a
few-images folder: they passed the guard in some epochs (merged clusters, 2-4 % as many as
images, as on Market-1501) and failed it in others. The price, not measured yet: where the
reference's values fail the guard in a single early epoch (the demo set did in some seeds), the
rest of the run keeps derived settings, which split people who have many images. What is derived:

* the *identity size* s: the median, over samples, of where the similarity to a
  sample's ranked neighbours drops the most (see :func:`identity_size`), among its
  :data:`SEARCH` nearest. Measured on three data sets, ImageNet and trained features alike
  (benchmarks/identity_size.py), it reads 2 to 3: about one person's images in one camera,
  not the whole person (4 to 17). Settings derived from it alone make small clusters, which
  suits folders with a handful of images per person and over-splits Market-1501-sized
  identities (11.8 mAP against the reference's 23.2); hence the reference first;
* ``k1`` = 2 s (clamped to 4..30), because the k-reciprocal encoding works when the
  neighbourhood reaches about twice past the true set (Market-1501: s ~ 15, k1 = 30);
  ``k2`` = k1 / 5 and ``min_samples`` = k1 / 7.5, the reference's ratios (30 / 6 / 4);
* ``eps``: the Jaccard distance below which lie as many pairs as the data has
  same-person pairs if identities have size s (N (s - 1) / 2); MMT- and SSG-style code
  takes the mean of a fixed share of the smallest distances instead.

Any fixed value keeps working as before and wins over ``auto``, in the reference's
settings, the derived ones and the kept ones alike.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from robustreid.errors import ConfigError

AUTO = "auto"
SEARCH = 30  # neighbours searched to estimate the identity size
K1_PER_IDENTITY_SIZE = 2.0
K1_RANGE = (4, 30)
K2_PER_K1 = 1 / 5
MIN_SAMPLES_PER_K1 = 1 / 7.5
#: The reference implementation's settings (Cluster Contrast on Market-1501): the defaults, and
#: ``auto``'s settings until the collapse guard first rejects them
REFERENCE = {"eps": 0.6, "min_samples": 4, "k1": 30, "k2": 6}


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
    # exact | approximate (a faiss IVF index, recall >= 0.99) | auto (approximate above
    # APPROXIMATE_ABOVE samples): how the neighbours are searched (clustering/neighbours.py).
    # exact by default: on synthetic features at N = 100,000 the recall calibration scanned every
    # list, slower than the exact search (docs/scaling.md)
    knn: str = "exact"
    # with camera ids: lower same-camera similarities by this much when ranking neighbours, after
    # centring each camera's features (clustering/camera_bias.py); 0 = camera-blind, as the reference
    camera_penalty: float | int | str = 0.0  # an int (0) is a float too
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


def identity_size(similarities: np.ndarray) -> float:
    """Median, over samples, of 1 + the rank of the neighbour after which similarity drops the most.

    ``similarities``: (N, K) cosine similarities to the nearest neighbours, sorted, each
    row starting with the sample itself. A person's images are each other's closest
    neighbours and the first other person is clearly farther, so the largest drop
    along a sample's ranked neighbours falls right after its own identity's images.
    """
    others = similarities[:, 1:]
    drops = others[:, :-1] - others[:, 1:]
    return float(np.median(2 + drops.argmax(axis=1)))


def neighbourhood_settings(config: ClusterConfig, size: float | None) -> tuple[int, int, int]:
    """(k1, k2, min_samples): fixed values as given, ``auto`` ones from the identity size."""
    k1 = config.k1 if config.k1 != AUTO else int(np.clip(round(K1_PER_IDENTITY_SIZE * size), *K1_RANGE))
    k2 = config.k2 if config.k2 != AUTO else max(1, round(k1 * K2_PER_K1))
    min_samples = config.min_samples if config.min_samples != AUTO else max(2, round(k1 * MIN_SAMPLES_PER_K1))
    return int(k1), int(k2), int(min_samples)


def upper_pair_distances(distances: np.ndarray | sp.csr_matrix) -> np.ndarray:
    """The distances of the pairs i < j: all of a dense matrix, the stored ones of a sparse graph."""
    if sp.issparse(distances):
        return sp.triu(distances, k=1).tocoo().data
    return distances[np.triu_indices(len(distances), k=1)]


def eps_from_distances(pairs: np.ndarray, num_samples: int, size: float, scale: float = 1.0) -> float:
    """The distance below which lie N (s - 1) / 2 pairs, as many as same-person pairs if every
    person has s images (times ``scale``), kept in [0.05, 0.95].

    The mean of those pairs (MMT's and SSG's rule, with a fixed share of the pairs) sits
    in the middle of the same-person distances and splits people in half; their upper
    end links them (measured on planted identities: ARI 0.1 against 1.0). Pairs that a
    sparse graph does not store are at distance 1.
    """
    wanted = max(1, int(num_samples * max(size - 1, 1) / 2))
    stored = np.sort(pairs)
    boundary = stored[wanted - 1] if wanted <= len(stored) else 1.0
    return float(np.clip(scale * boundary, 0.05, 0.95))
