"""The procedural data set, generated on first use into a cache folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustreid.data.base import ReidDataset
from robustreid.data.datasets.market_style import load_market_folders, one_based_cameras
from robustreid.data.datasets.registry import DATASETS
from robustreid.data.synthetic import DEFAULT_NUM_CAMERAS, generate_synthetic, synthetic_cache_dir


@DATASETS.register("synthetic")
def load_synthetic(
    root: Path | None = None, num_cameras: int = DEFAULT_NUM_CAMERAS, **params: Any
) -> ReidDataset:
    """Generate (once) under ``root`` or the cache folder, then read it like Market-1501.

    ``params`` are those of :func:`robustreid.data.synthetic.generate_synthetic`.
    """
    folder = generate_synthetic(root or synthetic_cache_dir(), num_cameras=num_cameras, **params)
    return load_market_folders("synthetic", folder, one_based_cameras(num_cameras))
