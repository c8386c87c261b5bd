"""benchmarks/_oracle_labels.py: the clusterers drop exactly the members their chooser names."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from _oracle_labels import (  # noqa: E402
    Clustered,
    DropRule,
    MembersDropped,
    misplaced,
    most_dispersed,
    other_passes,
)


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


TRUE_IDS = np.array([7, 7, 7, 9, 9, 9, 9, 7, 5, 5])
LABELS = np.array([0, 0, 0, 0, 1, 1, 1, 1, -1, 1])  # cluster 0: 7,7,7,9; cluster 1: 9,9,9,7,5
PATHS = [f"{pid:04d}_c1s1_{100 * i:06d}_01.jpg" for i, pid in enumerate(TRUE_IDS)]


def test_the_oracle_drops_the_members_of_another_identity_and_keeps_the_rest():
    oracle = MembersDropped(FixedClusterer(LABELS), misplaced(TRUE_IDS), TRUE_IDS)
    cleaned, figures = oracle(np.eye(10, 4, dtype=np.float32))
    np.testing.assert_array_equal(cleaned, [0, 0, 0, -1, 1, 1, 1, -1, -1, -1])
    assert figures["num_clusters"] == 2  # the wrapped clusterer's figures pass through
    assert figures["oracle_dropped"] == 3
    assert figures["oracle_purity_before"] == pytest.approx(6 / 9)
    assert figures["oracle_dropped_misplaced"] == 1.0


def test_an_imperfect_oracle_misses_a_fixed_share_and_adds_right_members_to_its_precision():
    labels = np.repeat(np.arange(50), 8)  # 50 clusters of 8: 6 of the majority identity, 2 misplaced
    true_ids = np.where(np.arange(400) % 8 < 6, labels, 1000 + np.arange(400))
    wrong = np.arange(400) % 8 >= 6
    features = np.zeros((400, 4), dtype=np.float32)

    def dropped(recall: float, precision: float) -> np.ndarray:
        oracle = MembersDropped(FixedClusterer(labels), misplaced(true_ids, recall, precision), true_ids)
        return oracle(features)[0] < 0

    half = dropped(0.5, 1.0)
    assert not half[~wrong].any() and 0.4 < half[wrong].mean() < 0.6
    np.testing.assert_array_equal(dropped(0.5, 1.0), half)  # the same members every epoch
    noisy = dropped(0.5, 0.5)
    np.testing.assert_array_equal(noisy & wrong, half)  # the same misplaced ones, plus as many right ones
    assert noisy[~wrong].sum() == half.sum()
    np.testing.assert_array_equal(dropped(1.0, 1.0), wrong)


def test_a_ranked_oracle_picks_the_most_dispersed_of_the_kinds_it_ranks():
    rng = np.random.default_rng(0)
    features = np.eye(1, 8, dtype=np.float32).repeat(20, axis=0) + 0.02 * rng.normal(size=(20, 8)).astype(
        np.float32
    )
    features[[1, 12]] += 0.8 * np.eye(2, 8, k=3, dtype=np.float32)  # a far right member, a far misplaced one
    labels = np.zeros(20, dtype=int)
    true_ids = np.where(np.arange(20) < 12, 0, 1)  # 12-19 misplaced: 12 far, the rest near
    noisy_half = {"recall": 0.25, "precision": 0.5}  # 2 of the 8 misplaced, and 2 right members

    def dropped(ranked: tuple[str, ...]) -> list[int]:
        oracle = MembersDropped(
            FixedClusterer(labels), misplaced(true_ids, **noisy_half, ranked=ranked), true_ids
        )
        return np.flatnonzero(oracle(features)[0] < 0).tolist()

    both = dropped(("misplaced", "right"))
    assert len(both) == 4 and {1, 12} <= set(both)  # the farthest of each kind first
    assert 12 in dropped(("misplaced",)) and 1 not in dropped(("misplaced",))  # right ones at random: 2 of 12
    random = dropped(())
    assert len(random) == 2 * len(set(random) & set(range(12, 20)))  # still at the precision asked


def test_the_label_free_chooser_drops_the_members_far_from_their_cluster():
    rng = np.random.default_rng(0)
    centres = np.repeat(np.eye(2, 8, dtype=np.float32), 10, axis=0)  # two clusters of 10
    features = centres + 0.05 * rng.normal(size=centres.shape).astype(np.float32)
    features[[3, 14]] = np.eye(2, 8, k=5, dtype=np.float32)  # one stray member in each
    labels = np.repeat([0, 1], 10)
    true_ids = np.where(np.isin(np.arange(20), [3, 14]), 99, labels)
    dropping = MembersDropped(FixedClusterer(labels), most_dispersed(0.1), true_ids)
    cleaned, figures = dropping(features)
    assert np.flatnonzero(cleaned < 0).tolist() == [3, 14]  # the 10 % farthest: the strays
    assert figures["oracle_dropped_misplaced"] == 1.0


def test_the_first_view_finds_a_stray_the_trained_features_hide():
    rng = np.random.default_rng(0)
    centres = np.repeat(np.eye(2, 8, dtype=np.float32), 10, axis=0)  # two clusters of 10
    labels = np.repeat([0, 1], 10)
    true_ids = np.where(np.isin(np.arange(20), [3, 14]), 99, labels)
    first = centres + 0.05 * rng.normal(size=centres.shape).astype(np.float32)
    first[[3, 14]] = np.eye(2, 8, k=5, dtype=np.float32)  # strays in the pre-trained features
    trained = centres + 0.05 * rng.normal(size=centres.shape).astype(np.float32)
    trained[[6, 17]] += 0.25 * rng.normal(size=(2, 8)).astype(np.float32)  # right, but noisy once trained
    trained[[3, 14]] += 0.3 * np.eye(2, 8, k=5, dtype=np.float32)  # the strays, pulled in by training
    for view, dropped in [("current", [6, 17]), ("both", [3, 14]), ("first", [3, 14])]:
        dropping = MembersDropped(
            FixedClusterer(labels), most_dispersed(0.1, view), true_ids, view != "current"
        )
        dropping(first)  # the first epoch: the view it keeps
        cleaned, _ = dropping(trained)
        assert np.flatnonzero(cleaned < 0).tolist() == dropped


@pytest.mark.parametrize(
    ("rule", "keeps"),
    [(DropRule(oracle=True), False), (DropRule(share=0.1), False), (DropRule(share=0.1, view="first"), True)],
)
def test_its_state_is_the_wrapped_clusterers_and_the_first_view_if_its_rule_reads_it(rule, keeps):
    first = np.arange(40, dtype=np.float32).reshape(10, 4)
    dropping = MembersDropped(
        FixedClusterer(LABELS), rule.chooser(TRUE_IDS, PATHS), TRUE_IDS, rule.reads_first_view
    )
    dropping(first)
    restored = MembersDropped(
        FixedClusterer(LABELS), rule.chooser(TRUE_IDS, PATHS), TRUE_IDS, rule.reads_first_view
    )
    restored.load_state_dict(dropping.state_dict())
    assert restored.clusterer.calls == 1
    assert (restored.first_features is not None) == keeps
    if keeps:
        np.testing.assert_array_equal(restored.first_features, first)


@pytest.mark.parametrize(
    ("flags", "handed"),
    [
        (["--oracle-drop-misplaced"], DropRule(oracle=True)),
        (["--drop-dispersed", "0.2"], DropRule(share=0.2)),
        (["--drop-dispersed", "0.1", "--drop-view", "both"], DropRule(share=0.1, view="both")),
        (["--drop-dispersed", "0.3", "--drop-view", "first"], DropRule(share=0.3, view="first")),
        (
            ["--oracle-drop-misplaced", "--oracle-ranked", "right", "--drop-view", "both"],
            DropRule(oracle=True, view="both", ranked=("right",)),
        ),
        (
            ["--oracle-drop-misplaced", "--oracle-recall", "0.5", "--oracle-precision", "0.6"],
            DropRule(oracle=True, recall=0.5, precision=0.6),
        ),
        (["--drop-other-passes", "500"], DropRule(passes_gap=500)),
    ],
)
def test_ablation_hands_the_drop_options_to_every_run(monkeypatch, flags, handed):
    import ablation

    calls = []
    monkeypatch.setattr(ablation, "run_variant", lambda *args: calls.append(args) or {"seed": args[3]})
    argv = [
        "ablation.py",
        "--name",
        "n",
        "--config",
        "c.yaml",
        "--variants",
        "cc_hard",
        "--seeds",
        "1",
        "2",
        *flags,
    ]
    monkeypatch.setattr(sys, "argv", argv)
    ablation.run_all(ablation.parse_args(), [])
    assert [call[-1] for call in calls] == [handed, handed]


def test_the_first_view_needs_a_share_to_drop(monkeypatch, capsys):
    import ablation

    argv = ["ablation.py", "--name", "n", "--config", "c.yaml", "--drop-view", "first"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit):
        ablation.parse_args()
    assert "give --drop-dispersed SHARE or --oracle-ranked too" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--oracle-recall", "0.5"],
            "--oracle-recall sets the oracle's quality: give --oracle-drop-misplaced too",
        ),
        (
            ["--oracle-drop-misplaced", "--oracle-precision", "0"],
            "--oracle-precision must be in (0, 1], got 0.0",
        ),
        (
            ["--oracle-ranked", "misplaced"],
            "--oracle-ranked changes how the oracle picks: give --oracle-drop-misplaced too",
        ),
        (["--drop-other-passes", "-5"], "--drop-other-passes must be a frame count >= 0, got -5"),
        (
            ["--drop-other-passes", "500", "--drop-dispersed", "0.1"],
            "choose the dropped members differently: give one",
        ),
    ],
)
def test_the_drop_options_are_checked(monkeypatch, capsys, flags, message):
    import ablation

    monkeypatch.setattr(sys, "argv", ["ablation.py", "--name", "n", "--config", "c.yaml", *flags])
    with pytest.raises(SystemExit):
        ablation.parse_args()
    assert message in capsys.readouterr().err


def test_other_passes_drop_every_pass_under_a_camera_but_the_nearest():
    labels = np.array([0, 0, 0, 0, 0, 0, 0, -1, 1, 1])
    cameras = np.array([0, 0, 0, 0, 0, 0, 1, 0, 0, 0])
    stamps = np.array(
        [[1, 0], [1, 50], [1, 90], [1, 900], [1, 950], [2, 60], [1, 5000], [1, 900], [1, 0], [1, 50]]
    )
    a, b = [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]
    features = np.array([a, a, a, b, b, b, a, b, b, b], dtype=np.float32)
    chosen = other_passes(stamps, gap=100)(Clustered(labels, features, cameras))
    # frames 900-950 are a second pass (step 810 > 100), recording 2 a third; camera 1 and cluster 1
    # have one pass each, and the outlier is never chosen
    assert np.flatnonzero(chosen).tolist() == [3, 4, 5]
    assert not other_passes(stamps, gap=1000)(Clustered(labels, features, cameras))[[3, 4]].any()
    assert not other_passes(stamps, gap=100)(Clustered(labels, features, None)).any()  # no cameras: no passes
