"""calibrate: the largest threshold whose false-match rate stays within the target, as brute force finds it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from robustreid.cli.main import main
from robustreid.errors import ConfigError
from robustreid.search.calibrate import calibrate_threshold


def brute_force_threshold(distances, positive, negative, target_fmr):
    negatives = np.sort(distances[negative])
    threshold = np.nextafter(negatives[int(target_fmr * len(negatives))], np.float32(-np.inf))
    return threshold, np.mean(negatives <= threshold), np.mean(distances[positive] <= threshold)


@pytest.fixture
def labelled_features():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 16))
    q_pids, g_pids = np.repeat(np.arange(6), 2), np.concatenate([np.repeat(np.arange(6), 5), [-1, -1]])
    q_cams, g_cams = np.tile([0, 1], 6), rng.integers(0, 3, len(g_pids))

    def features(pids):
        x = np.where(pids[:, None] >= 0, centres[pids], 0) + 0.8 * rng.normal(size=(len(pids), 16))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    return features(q_pids), features(g_pids), q_pids, g_pids, q_cams, g_cams


@pytest.mark.parametrize("target_fmr", [0.01, 0.1, 0.3])
def test_threshold_matches_brute_force_in_any_chunking(labelled_features, target_fmr):
    qf, gf, q_pids, g_pids, q_cams, g_cams = labelled_features
    distances = 1 - qf @ gf.T
    labelled = g_pids[None] >= 0
    positive = (q_pids[:, None] == g_pids[None]) & (q_cams[:, None] != g_cams[None]) & labelled
    negative = (q_pids[:, None] != g_pids[None]) & labelled
    expected, fmr, tmr = brute_force_threshold(distances, positive, negative, target_fmr)
    for chunk_size in (1, 5, 256):
        result = calibrate_threshold(*labelled_features, target_fmr=target_fmr, chunk_size=chunk_size)
        assert result.threshold == pytest.approx(float(expected), abs=0)
        assert result.false_match_rate == pytest.approx(fmr) and result.false_match_rate <= target_fmr
        assert result.true_match_rate == pytest.approx(tmr)
        assert (result.num_negative_pairs, result.num_positive_pairs) == (negative.sum(), positive.sum())
        assert result.negative_counts.sum() == negative.sum()


def test_target_outside_zero_one_is_refused(labelled_features):
    with pytest.raises(ConfigError, match="between 0 and 1"):
        calibrate_threshold(*labelled_features, target_fmr=1.5)


def test_calibrate_command_prints_the_threshold_and_draws_histograms(checkpoint, data_root, tmp_path, capsys):
    png, report = tmp_path / "calibration.png", tmp_path / "calibration.json"
    argv = ["calibrate", "--checkpoint", str(checkpoint), "--dataset", "market1501", "--data-root"]
    assert (
        main([*argv, str(data_root), "--target-fmr", "0.05", "--png", str(png), "--json", str(report)]) == 0
    )
    result = json.loads(report.read_text())
    assert f"threshold {result['threshold']:.4f}" in capsys.readouterr().out
    assert 0 < result["threshold"] < 2 and result["false_match_rate"] <= 0.05
    with Image.open(png) as picture:
        assert picture.size[0] > 100 and picture.getextrema() != ((255, 255),) * 3
