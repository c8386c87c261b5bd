"""The real Market-1501, when present: the counts every paper reports."""

import os
from pathlib import Path

import pytest

from robustreid.data import load_dataset

MARKET_ROOT = Path(
    os.environ.get(
        "MARKET1501_ROOT", Path(__file__).resolve().parents[3] / "shared" / "datasets" / "market1501"
    )
)

pytestmark = [
    pytest.mark.market,
    pytest.mark.skipif(not MARKET_ROOT.is_dir(), reason=f"Market-1501 not found at {MARKET_ROOT}"),
]


def test_market1501_has_the_published_split_sizes() -> None:
    ds = load_dataset("market1501", MARKET_ROOT)
    assert (len(ds.train), len({it.pid for it in ds.train})) == (12936, 751)
    assert (len(ds.query), len({it.pid for it in ds.query})) == (3368, 750)
    assert len(ds.gallery) == 15913
    assert {it.camid for it in ds.train + ds.query + ds.gallery} == set(range(6))
    assert sum(it.pid == 0 for it in ds.gallery) == 2798  # distractors kept as negatives
