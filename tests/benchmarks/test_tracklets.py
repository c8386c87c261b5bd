"""benchmarks/_tracklets.py: tracklets link alike images of one camera and recording a few frames apart."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from _tracklets import TrackletMeans, tracklets  # noqa: E402

A, B = [1.0, 0.0], [0.0, 1.0]
#                 0 and 1 walk past | 2: far in time | 3: other recording | 4: other camera | 5: unlike
FEATURES = np.array([A, A, A, A, A, B], dtype=np.float32)
CAMERAS = np.array([0, 0, 0, 0, 1, 0])
STAMPS = np.array([[1, 100], [1, 250], [1, 5000], [2, 120], [1, 110], [1, 150]])


def test_a_tracklet_needs_one_camera_and_recording_few_frames_apart_and_alike_features():
    ids = tracklets(FEATURES, CAMERAS, STAMPS, gap=200, similarity=0.5)
    assert ids[0] == ids[1]
    assert len(set(ids.tolist())) == 5  # 0-1 one tracklet; 2, 3, 4 and 5 each alone
    assert len(set(tracklets(FEATURES, CAMERAS, STAMPS, gap=100, similarity=0.5).tolist())) == 6


class Recording:
    """A clusterer that keeps what it was handed and labels every sample 0."""

    def __init__(self) -> None:
        self.seen: np.ndarray | None = None

    def __call__(
        self, features: np.ndarray, cameras: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        self.seen = features
        return np.zeros(len(features), dtype=np.int64), {"num_clusters": 1}

    def state_dict(self) -> dict[str, Any]:
        return {"seen": self.seen is not None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.loaded = state


def test_the_clusterer_sees_each_feature_blended_with_its_tracklets_mean():
    features = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    stamps = np.array([[1, 0], [1, 10], [1, 9000]])
    inner = Recording()
    _, figures = TrackletMeans(inner, stamps, weight=0.5)(features, np.zeros(3, dtype=np.int64))
    mean = (features[0] + features[1]) / np.linalg.norm(features[0] + features[1])
    blended = 0.5 * features[0] + 0.5 * mean
    np.testing.assert_allclose(inner.seen[0], blended / np.linalg.norm(blended), rtol=1e-6)
    np.testing.assert_allclose(inner.seen[2], features[2])  # alone in its tracklet: unchanged
    assert figures == {"num_clusters": 1, "tracklets": 2}
    TrackletMeans(inner, stamps)(features, None)
    assert inner.seen is features  # without cameras there are no tracklets to read


def test_its_state_is_the_wrapped_clusterers():
    inner = Recording()
    wrapped = TrackletMeans(inner, STAMPS)
    wrapped.load_state_dict({"seen": True})
    assert inner.loaded == {"seen": True}
    assert wrapped.state_dict() == {"seen": False}


@pytest.mark.parametrize("weight", ["-0.1", "1.5"])
def test_the_weight_is_checked(monkeypatch, capsys, weight):
    import ablation

    monkeypatch.setattr(
        sys, "argv", ["ablation.py", "--name", "n", "--config", "c.yaml", "--tracklets", weight]
    )
    with pytest.raises(SystemExit):
        ablation.parse_args()
    assert f"--tracklets must be in [0, 1], got {float(weight)}" in capsys.readouterr().err


def test_ablation_hands_the_tracklet_weight_to_every_run(monkeypatch):
    import ablation

    calls = []
    monkeypatch.setattr(ablation, "run_variant", lambda *args: calls.append(args) or {"seed": args[3]})
    argv = ["ablation.py", "--name", "n", "--config", "c.yaml", "--variants", "cc_hard", "--seeds", "1", "2"]
    monkeypatch.setattr(sys, "argv", [*argv, "--tracklets", "0.5"])
    ablation.run_all(ablation.parse_args(), [])
    assert [call[-1] for call in calls] == [0.5, 0.5]
