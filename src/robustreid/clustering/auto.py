"""``auto`` clustering settings: the reference's values until they fail on this data, then derived from it.

Market-1501's settings (k1=30, min_samples=4, eps=0.6: :data:`REFERENCE`) fit about 17
images per person; on a user's folder with 4 images per person they merge everyone into a
few clusters. ``auto`` uses the reference's values (camera-blind) for as long as the collapse
guard (``clustering/labeler.py``) finds their clustering sound, or their median cluster no
larger than one person's images can be (the identity size below, times the cameras). The
first time it finds it degenerate with larger clusters, or (with camera ids) at the very first
clustering when the median cluster is larger than that even though the guard passes it, ``auto`` derives each
setting from the features alone, never from labels, and
keeps the derived settings for the rest of the run, deriving them again only when the guard
fails those. Trying the reference's values every epoch instead made ``auto`` alternate on a
few-images folder: they passed the guard in some epochs (merged clusters, 2-4 % as many as
images, as on Market-1501) and failed it in others. Keeping derived settings after a single
failure split the demo set's people (12 images each, over 5 cameras), whose median reference
cluster stays within the bound: hence the bound. What is derived:

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

import numpy as np
import scipy.sparse as sp

from robustreid.clustering.settings import AUTO, ClusterConfig

SEARCH = 30  # neighbours searched to estimate the identity size
K1_PER_IDENTITY_SIZE = 2.0
K1_RANGE = (4, 30)
K2_PER_K1 = 1 / 5
MIN_SAMPLES_PER_K1 = 1 / 7.5


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
