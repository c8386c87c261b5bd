"""PersonX (Sun & Zheng, CVPR 2019): synthetic 3D persons, Market-style files.

The released subsets keep the raw camera numbers of the full 12-camera rig,
so only six of them occur; they map to 0..5 in rig order.
"""

from __future__ import annotations

from pathlib import Path

from robustreid.data.base import ReidDataset
from robustreid.data.datasets.market_style import load_market_style

BASES = ("PersonX", "subset1", "PersonX/subset1", "")
RAW_CAMERAS = (3, 4, 8, 10, 11, 12)
CAMERAS = {raw: camid for camid, raw in enumerate(RAW_CAMERAS)}


def load_personx(root: Path | None) -> ReidDataset:
    return load_market_style("personx", root, BASES, CAMERAS)
