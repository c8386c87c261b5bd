"""benchmarks/_oracle_labels.py: the oracle drops exactly each cluster's members of another identity."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from _oracle_labels import MisplacedDropped  # noqa: E402


class FixedClusterer:
    """Returns the same labels every call and keeps a state, like the trainer's clusterer."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels, self.calls = labels, 0

    def __call__(
        self, features: np.ndarray, cameras: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        self.calls += 1
        return self.labels, {"num_clusters": int(self.labels.max()) + 1}

    def state_dict(self) -> dict[str, Any]:
        return {"calls": self.calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.calls = state["calls"]


def test_members_of_another_identity_become_outliers_and_the_rest_is_kept():
    true_ids = np.array([7, 7, 7, 9, 9, 9, 9, 7, 5, 5])
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, -1, 1])  # cluster 0: 7,7,7,9; cluster 1: 9,9,9,7,5
    cleaned, figures = MisplacedDropped(FixedClusterer(labels), true_ids)(np.zeros((10, 4)))
    np.testing.assert_array_equal(cleaned, [0, 0, 0, -1, 1, 1, 1, -1, -1, -1])
    assert figures["num_clusters"] == 2  # the wrapped clusterer's figures pass through
    assert figures["oracle_dropped"] == 3
    assert figures["oracle_purity_before"] == pytest.approx(6 / 9)


def test_its_state_is_the_wrapped_clusterers():
    inner = FixedClusterer(np.array([0, 0, 1, 1]))
    oracle = MisplacedDropped(inner, np.array([1, 1, 2, 2]))
    oracle(np.zeros((4, 2)))
    restored = MisplacedDropped(FixedClusterer(np.array([0, 0, 1, 1])), np.array([1, 1, 2, 2]))
    restored.load_state_dict(oracle.state_dict())
    assert restored.clusterer.calls == 1
