"""Helpers that lay out tiny data sets in tmp_path: parsers only read names, so files can be empty."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

MakeFiles = Callable[[Path, Iterable[str]], Path]


@pytest.fixture
def make_files() -> MakeFiles:
    def make(folder: Path, names: Iterable[str]) -> Path:
        for name in names:
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        return folder

    return make


@pytest.fixture
def market_root(tmp_path: Path, make_files: MakeFiles) -> Path:
    """A Market-1501 archive layout with junk, distractors and Thumbs.db files."""
    base = tmp_path / "Market-1501-v15.09.15"
    make_files(
        base / "bounding_box_train",
        ["0002_c1s1_000451_03.jpg", "0002_c2s1_000551_01.jpg", "0007_c6s1_000001_00.jpg", "Thumbs.db"],
    )
    make_files(base / "query", ["0002_c3s1_000101_00.jpg", "0007_c1s1_000201_00.jpg", "Thumbs.db"])
    make_files(
        base / "bounding_box_test",
        [
            "0002_c4s1_000301_00.jpg",
            "0007_c5s1_000401_00.jpg",
            "0000_c1s1_000001_00.jpg",
            "-1_c2s1_000002_00.jpg",
            "-1_c3s1_000003_00.jpg",
            "readme.txt",
        ],
    )
    return tmp_path
