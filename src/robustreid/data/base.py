"""The data contract every data set follows.

A data set is three lists of :class:`ImageItem`. ``pid`` of a training item is
ground truth that an unsupervised trainer must never read: it exists only for
diagnostics (pseudo-label purity / NMI), which is why the trainer receives
``train_paths``/``train_camids`` and the labels separately via
``train_pids_for_diagnostics``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from robustreid.errors import ConfigError

SPLITS = ("train", "query", "gallery")


class ImageItem(NamedTuple):
    path: str
    pid: int  # -1 unknown; 0 distractor in a gallery; never read by unsupervised training
    camid: int  # 0-based camera; -1 when the data has no cameras


@dataclass
class ReidDataset:
    name: str
    train: list[ImageItem] = field(default_factory=list)
    query: list[ImageItem] = field(default_factory=list)
    gallery: list[ImageItem] = field(default_factory=list)

    @property
    def train_paths(self) -> list[str]:
        return [it.path for it in self.train]

    @property
    def train_camids(self) -> np.ndarray:
        return np.array([it.camid for it in self.train], dtype=np.int64)

    def train_pids_for_diagnostics(self) -> np.ndarray:
        """Ground-truth train identities, for purity/NMI diagnostics only."""
        return np.array([it.pid for it in self.train], dtype=np.int64)

    def split(self, name: str) -> list[ImageItem]:
        if name not in SPLITS:
            raise ConfigError(f"unknown split {name!r}; use {', '.join(SPLITS)}")
        return getattr(self, name)

    def split_counts(self, name: str) -> tuple[int, int, int]:
        """(identities, images, cameras) of one split; unknown pids/cameras (-1) are not counted."""
        items = self.split(name)
        ids = {it.pid for it in items if it.pid >= 0}
        cameras = {it.camid for it in items if it.camid >= 0}
        return len(ids), len(items), len(cameras)

    def summary(self) -> str:
        """An ASCII table: ids / images / cameras per split."""
        header = ("split", "ids", "images", "cameras")
        rows = [(name, *map(str, self.split_counts(name))) for name in SPLITS]
        return f"{self.name}\n{format_table(header, rows)}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A ruled ASCII table; the first column is left-aligned (names), the rest right-aligned (numbers)."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    rule = "+".join("-" * (w + 2) for w in widths)

    def format_row(row: Sequence[str]) -> str:
        cells = [
            cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        return f" {' | '.join(cells)} "

    return "\n".join([rule, format_row(header), rule, *map(format_row, rows), rule])
