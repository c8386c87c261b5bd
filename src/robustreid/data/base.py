"""The data contract every data set follows.

A data set is three lists of :class:`ImageItem`. ``pid`` of a training item is
ground truth that an unsupervised trainer must never read: it exists only for
diagnostics (pseudo-label purity / NMI), which is why the trainer receives
``train_paths``/``train_camids`` and the labels separately via
``train_pids_for_diagnostics``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np


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
        if name not in ("train", "query", "gallery"):
            raise ValueError(f"unknown split {name!r}; use train, query or gallery")
        return getattr(self, name)

    def summary(self) -> str:
        """An ASCII table: ids / images / cameras per split."""
        rows = [("split", "ids", "images", "cameras")]
        for split in ("train", "query", "gallery"):
            items = self.split(split)
            rows.append((
                split,
                str(len({it.pid for it in items if it.pid >= 0})),
                str(len(items)),
                str(len({it.camid for it in items if it.camid >= 0})),
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        line = "+".join("-" * (w + 2) for w in widths)
        fmt = lambda r: " | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
        body = [f"{self.name}", line, fmt(rows[0]), line, *(fmt(r) for r in rows[1:]), line]
        return "\n".join(body)
