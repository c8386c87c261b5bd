"""benchmarks/own_data.py: how settling settings and the label-free selection are counted."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from own_data import label_free_selection, settings_changes  # noqa: E402

REFERENCE = {"cluster_k1": 30, "cluster_k2": 6, "cluster_min_samples": 4, "cluster_eps": 0.6}
DERIVED = {"cluster_k1": 4, "cluster_k2": 1, "cluster_min_samples": 2, "cluster_eps": 0.745}


def test_alternating_settings_change_every_epoch_after_epoch_2():
    records = [{"epoch": e, **(REFERENCE if e % 2 else DERIVED)} for e in range(10)]
    assert settings_changes(records) == 7  # epochs 3..9


def test_settings_kept_from_epoch_1_never_change_even_as_their_source_reads_kept():
    records = [
        {"epoch": e, "cluster_auto": source, **(REFERENCE if e == 0 else DERIVED)}
        for e, source in enumerate(["reference", "derived"] + ["kept"] * 8)
    ]
    assert settings_changes(records) == 0


def test_a_late_switch_counts_once():
    records = [{"epoch": e, **(REFERENCE if e < 5 else DERIVED)} for e in range(10)]
    assert settings_changes(records) == 1


def test_a_score_that_falls_as_map_rises_picks_the_worst_epoch():
    records = [
        {"epoch": e, "mAP": 0.1 * e, "stability": 0.5 + 0.05 * e, "cross_camera_share": 1 - 0.1 * e}
        for e in range(1, 6)
    ]
    assert label_free_selection(records, "stability") == {
        "epochs": 5,
        "spearman": 1.0,
        "picked_epoch": 5,
        "picked_mAP": 50.0,
        "last_mAP": 50.0,
        "best_mAP": 50.0,
    }
    falling = label_free_selection(records, "cross_camera_share")
    assert falling["spearman"] == -1.0 and falling["picked_epoch"] == 1 and falling["picked_mAP"] == 10.0


def test_fewer_than_three_evaluated_epochs_cannot_say():
    records = [{"epoch": e, "mAP": 0.1, "stability": 0.9} for e in range(2)] + [
        {"epoch": 2, "stability": 0.9}
    ]
    assert label_free_selection(records, "stability") is None
