"""Small feature sets with known structure, shared by the clustering tests."""

from __future__ import annotations

import numpy as np
import pytest


def unit_rows(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def blobs(
    n_ids: int, per_id: int, spread: float, dim: int = 64, n_noise: int = 0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Unit features of ``n_ids`` identities around random centres, plus noise rows (id -1), shuffled."""
    rng = np.random.default_rng(seed)
    centres = unit_rows(rng.standard_normal((n_ids, dim)))
    noise = spread * rng.standard_normal((n_ids * per_id, dim)) / np.sqrt(dim)
    samples = np.repeat(centres, per_id, axis=0) + noise
    features = np.concatenate([samples, rng.standard_normal((n_noise, dim))])
    ids = np.concatenate([np.repeat(np.arange(n_ids), per_id), np.full(n_noise, -1)])
    order = rng.permutation(len(ids))
    return unit_rows(features[order]), ids[order]


def identities(n: int, dim: int = 64, spread: float = 0.6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit features of people with 5 to 40 images each, in look-alike triples whose centres share
    a common part, shuffled: (features, ids). The structure the approximate search must keep."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 41, size=n // 5 + 1)
    ids = np.repeat(np.arange(len(sizes)), sizes)[:n]
    looks = unit_rows(rng.standard_normal((len(sizes) // 3 + 1, dim)))[np.arange(len(sizes)) // 3]
    centres = unit_rows(looks + unit_rows(rng.standard_normal((len(sizes), dim))))
    features = unit_rows(centres[ids] + spread * rng.standard_normal((n, dim)) / np.sqrt(dim))
    order = rng.permutation(n)
    return features[order], ids[order]


def doubled(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """Every row twice, shuffled: pairs at distance exactly 0.

    Doubling *every* row keeps the copies of a row adjacent in all rankings, so
    no neighbourhood boundary (k1, k1/2 + 1, k2 are even) can fall between two
    equal similarities; a single copy could sit on a boundary, where which of
    two equal candidates gets in is arbitrary and differs between the paths.
    """
    return np.random.default_rng(seed).permutation(np.repeat(features, 2, axis=0))


FEATURE_SETS = {
    "blobs": lambda: blobs(n_ids=25, per_id=12, spread=0.9, n_noise=30)[0],
    "duplicates": lambda: doubled(blobs(n_ids=12, per_id=7, spread=0.9, seed=1)[0]),
    "tiny_below_k1": lambda: blobs(n_ids=3, per_id=4, spread=0.5, seed=2)[0],
    "one_dense_blob": lambda: blobs(n_ids=1, per_id=150, spread=0.6, seed=3)[0],
}


@pytest.fixture
def make_blobs():
    """The :func:`blobs` generator, for tests that need their own sets."""
    return blobs


@pytest.fixture
def planted_identities():
    """The :func:`identities` generator."""
    return identities


@pytest.fixture
def duplicated_features() -> np.ndarray:
    return FEATURE_SETS["duplicates"]()


@pytest.fixture(params=sorted(FEATURE_SETS))
def feature_set(request) -> tuple[str, np.ndarray]:
    return request.param, FEATURE_SETS[request.param]()
