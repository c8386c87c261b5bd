"""Input checks shared by the clustering functions."""

from __future__ import annotations

import numpy as np
import torch

FeatureArray = np.ndarray | torch.Tensor
_UNIT_TOLERANCE = 1e-5  # float32 normalisation leaves norms within ~1e-7 of 1


def normalized_features(features: FeatureArray) -> torch.Tensor:
    """Return ``features`` as float32 rows of unit length, on their own device.

    The Jaccard weights use ``2 - 2 cos`` as the squared euclidean distance and
    the kNN ranks by inner product; both are only right for unit vectors.
    Callers normally pass normalised features already: those are used as given
    (no copy of an N x d array, and bit-for-bit the input the reference saw),
    so this is a guard against a forgotten normalisation.
    """
    x = torch.as_tensor(features)
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D (N, d) array, got shape {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"features must hold at least one non-empty row, got shape {tuple(x.shape)}")
    x = x.detach().float()
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    if not bool(torch.isfinite(norms).all()):  # one pass finds NaN/inf anywhere in a row
        raise ValueError("features contain NaN or infinite values (or rows too large to normalise)")
    if bool(((norms - 1).abs() <= _UNIT_TOLERANCE).all()):
        return x.contiguous()
    return (x / norms.clamp_min(1e-12)).contiguous()
