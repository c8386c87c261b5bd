"""DukeMTMC-reID (Zheng et al., ICCV 2017): 1,404 identities + distractors, 8 cameras."""

from __future__ import annotations

from pathlib import Path

from robustreid.data.base import ReidDataset
from robustreid.data.datasets.market_style import load_market_style, one_based_cameras

BASES = ("DukeMTMC-reID", "dukemtmcreid/DukeMTMC-reID", "")
CAMERAS = one_based_cameras(8)


def load_dukemtmcreid(root: Path | None) -> ReidDataset:
    return load_market_style("dukemtmcreid", root, BASES, CAMERAS)
