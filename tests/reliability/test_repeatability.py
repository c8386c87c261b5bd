"""Repeatability: the same config and seed on the same machine give the same pseudo-labels and metrics."""

from __future__ import annotations

import numpy as np


def test_same_seed_same_machine_gives_identical_labels_and_metrics(
    tmp_path, reference_run, tiny_config, train_seeded
):
    again = train_seeded(tiny_config(tmp_path))
    assert len(again.labels) == len(reference_run.records) == 2
    assert all((labels >= 0).any() for labels in reference_run.labels)  # real clusters, not all outliers
    for first, second in zip(reference_run.labels, again.labels, strict=True):
        np.testing.assert_array_equal(first, second)
    assert again.records == reference_run.records
