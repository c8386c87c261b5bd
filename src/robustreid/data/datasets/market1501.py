"""Market-1501 (Zheng et al., ICCV 2015): 1,501 identities, 6 cameras."""

from __future__ import annotations

from pathlib import Path

from robustreid.data.base import ReidDataset
from robustreid.data.datasets.market_style import load_market_style, one_based_cameras

ARCHIVE_FOLDER = "Market-1501-v15.09.15"
BASES = (ARCHIVE_FOLDER, f"market1501/{ARCHIVE_FOLDER}", "")
CAMERAS = one_based_cameras(6)


def load_market1501(root: Path | None) -> ReidDataset:
    """Market-1501 from the unpacked archive; train pids stay raw (they only feed diagnostics)."""
    return load_market_style("market1501", root, BASES, CAMERAS)
