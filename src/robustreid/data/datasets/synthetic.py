"""The procedural data set, generated on first use into a cache folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustreid.data.base import ReidDataset
from robustreid.data.datasets.market_style import load_market_folders, one_based_cameras
from robustreid.data.synthetic import DEFAULT_NUM_CAMERAS, generate_synthetic, synthetic_cache_dir
from robustreid.errors import ConfigError

#: Shapes of data to test on (``data.options.size``): Market-1501's (the default), and
#: the user-shaped folder that Market's clustering settings fail on.
SIZES: dict[str, dict[str, Any]] = {
    "market_like": {},  # 200 people, 8-16 images each, over 6 cameras
    "few_images": {"num_train_ids": 500, "images_per_id": (4, 4), "num_cameras": 2},  # 4 images, 2 cameras
    "many_people": {"num_train_ids": 500},  # Market-like images per person, 2.5x the people
}


def load_synthetic(root: Path | None = None, size: str = "market_like", **params: Any) -> ReidDataset:
    """Generate (once) under ``root`` or the cache folder, then read it like Market-1501.

    ``size`` picks a shape from :data:`SIZES`; ``params`` (those of
    :func:`robustreid.data.synthetic.generate_synthetic`) override it.
    """
    if size not in SIZES:
        raise ConfigError(f"unknown synthetic size {size!r}; available: {', '.join(SIZES)}")
    params = {"num_cameras": DEFAULT_NUM_CAMERAS, **SIZES[size], **params}
    folder = generate_synthetic(root or synthetic_cache_dir(), **params)
    return load_market_folders("synthetic", folder, one_based_cameras(params["num_cameras"]))
