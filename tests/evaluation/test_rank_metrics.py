"""Ranking metrics: hand-computed cases, a slow per-query reference, and chunking invariance."""

import numpy as np
import pytest
import torch
from sklearn.preprocessing import normalize

from robustreid.evaluation import evaluate_features, evaluate_rank, format_metrics


def rank_one_query(order_pids, order_cams, query_pid=1, query_cam=0, **kwargs):
    """Evaluate one query whose gallery is already listed from closest to farthest."""
    distances = np.arange(1, len(order_pids) + 1, dtype=np.float32)[None]
    return evaluate_rank(distances, [query_pid], order_pids, [query_cam], order_cams, **kwargs)


def reference_metrics(distmat, q_pids, g_pids, q_cams, g_cams, max_rank, camera_filter=True):
    """The textbook protocol, one query at a time in float64 with a stable argsort."""
    aps, inps, cmcs = [], [], []
    for i in range(len(q_pids)):
        order = np.argsort(distmat[i], kind="stable")
        same_pid = g_pids[order] == q_pids[i]
        removed = same_pid & (g_cams[order] == q_cams[i]) if camera_filter else np.zeros_like(same_pid)
        ranks = np.flatnonzero(same_pid[~removed]) + 1
        if len(ranks) == 0:
            continue
        aps.append(np.mean(np.arange(1, len(ranks) + 1) / ranks))
        inps.append(len(ranks) / ranks[-1])
        cmcs.append(np.arange(1, max_rank + 1) >= ranks[0])
    return np.mean(aps), np.mean(cmcs, axis=0), np.mean(inps), len(aps)


def random_problem(seed, num_query=40, num_gallery=150, num_ids=12, tied=False):
    rng = np.random.default_rng(seed)
    if tied:  # few distinct values: most matches tie with other items
        distmat = rng.integers(0, 4, (num_query, num_gallery)).astype(np.float32)
    else:
        distmat = rng.random((num_query, num_gallery), dtype=np.float32)
    q_pids = rng.integers(1, num_ids, num_query)
    g_pids = rng.integers(-1, num_ids, num_gallery)  # includes junk -1 and distractors 0
    return distmat, q_pids, g_pids, rng.integers(0, 3, num_query), rng.integers(0, 3, num_gallery)


def test_two_positives_at_ranks_1_and_4():
    result = rank_one_query([1, 2, 3, 1, 4], [1, 1, 1, 1, 1], max_rank=5)
    assert result["mAP"] == pytest.approx((1 / 1 + 2 / 4) / 2)
    np.testing.assert_array_equal(result["cmc"], [1, 1, 1, 1, 1])
    assert result["mINP"] == pytest.approx(2 / 4)
    assert result["num_valid_queries"] == 1


def test_same_id_same_camera_is_removed_and_other_cameras_kept():
    # Ranked list: own camera+id (removed), own camera other id (negative), id on cam 1, negative,
    # id on cam 2.
    pids, cams = [1, 5, 1, 6, 1], [0, 0, 1, 2, 2]
    result = rank_one_query(pids, cams, max_rank=4)
    # Kept list: 5, 1, 6, 1 -> true matches at ranks 2 and 4.
    assert result["mAP"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    np.testing.assert_array_equal(result["cmc"], [0, 1, 1, 1])
    assert result["mINP"] == pytest.approx(2 / 4)


def test_camera_filter_off_keeps_same_camera_matches():
    result = rank_one_query([1, 5, 1, 6, 1], [0, 0, 1, 2, 2], max_rank=4, camera_filter=False)
    assert result["mAP"] == pytest.approx((1 / 1 + 2 / 3 + 3 / 5) / 3)
    assert result["mINP"] == pytest.approx(3 / 5)
    np.testing.assert_array_equal(result["cmc"], [1, 1, 1, 1])


def test_distractors_and_junk_are_negatives():
    result = rank_one_query([0, 1, -1, 0, 1], [1, 1, 1, 1, 1], max_rank=3)
    assert result["mAP"] == pytest.approx((1 / 2 + 2 / 5) / 2)
    np.testing.assert_array_equal(result["cmc"], [0, 1, 1])


def test_ties_are_ranked_in_gallery_order():
    # Gallery item 3 is closest; items 0, 1, 2 tie and keep their order: true matches at ranks 1 and 3.
    distmat = np.array([[0.5, 0.5, 0.5, 0.2]], dtype=np.float32)
    result = evaluate_rank(distmat, [1], [2, 1, 3, 1], [0], [1, 1, 1, 1], max_rank=2)
    assert result["mAP"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert result["mINP"] == pytest.approx(2 / 3)


def test_cmc_counts_first_match_rank_of_each_query():
    # First true match of the four queries at ranks 1, 2, 2 and 4.
    distmat = np.array([[1, 2, 3, 4], [2, 1, 3, 4], [2, 1, 4, 3], [4, 3, 2, 1]], dtype=np.float32)
    g_pids = np.array([1, 2, 3, 4])
    q_pids = np.array([1, 1, 1, 1])
    result = evaluate_rank(distmat, q_pids, g_pids, np.zeros(4), np.ones(4), max_rank=5)
    np.testing.assert_allclose(result["cmc"], [0.25, 0.75, 0.75, 1.0, 1.0])
    assert result["mAP"] == pytest.approx((1 + 1 / 2 + 1 / 2 + 1 / 4) / 4)


def test_query_without_valid_match_is_skipped():
    distmat = np.array([[1, 2, 3], [1, 2, 3]], dtype=np.float32)
    # Query 2's only match (gallery item 2) shares its camera.
    result = evaluate_rank(distmat, [1, 2], [3, 2, 1], [0, 1], [1, 1, 1], max_rank=3)
    assert result["num_valid_queries"] == 1
    assert result["mAP"] == pytest.approx(1 / 3)
    np.testing.assert_allclose(result["cmc"], [0, 0, 1])


def test_no_valid_query_raises():
    with pytest.raises(ValueError, match="no query has a true match"):
        evaluate_rank(np.ones((1, 3), np.float32), [1], [1, 2, 3], [0], [0, 1, 1])


@pytest.mark.parametrize(
    ("q_pids", "g_pids", "distmat", "message"),
    [
        ([-1], [1, 2], [[0.1, 0.2]], "junk"),
        ([1], [1, 2, 3], [[0.1, 0.2]], "gallery_pids has shape"),
        ([1], [1, 2], [[np.nan, 0.2]], "NaN"),
    ],
)
def test_invalid_inputs_raise(q_pids, g_pids, distmat, message):
    with pytest.raises(ValueError, match=message):
        evaluate_rank(np.array(distmat, np.float32), q_pids, g_pids, [0], [1, 1])


@pytest.mark.parametrize(
    ("option", "message"), [({"max_rank": 0}, "max_rank"), ({"chunk_size": 0}, "chunk_size")]
)
def test_invalid_options_raise(option, message):
    with pytest.raises(ValueError, match=message):
        evaluate_rank(np.ones((1, 2), np.float32), [1], [1, 2], [0], [1, 1], **option)


@pytest.mark.parametrize("tied", [False, True])
def test_matches_slow_reference_on_random_data(tied):
    distmat, q_pids, g_pids, q_cams, g_cams = random_problem(seed=3, tied=tied)
    for camera_filter in (True, False):
        ap, cmc, inp, valid = reference_metrics(
            distmat.astype(np.float64), q_pids, g_pids, q_cams, g_cams, 20, camera_filter
        )
        result = evaluate_rank(
            distmat, q_pids, g_pids, q_cams, g_cams, max_rank=20, camera_filter=camera_filter, chunk_size=16
        )
        assert result["num_valid_queries"] == valid
        assert result["mAP"] == pytest.approx(ap, abs=1e-6)
        assert result["mINP"] == pytest.approx(inp, abs=1e-6)
        np.testing.assert_allclose(result["cmc"], cmc, atol=1e-6)


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_chunking_does_not_change_results(chunk_size):
    distmat, *labels = random_problem(seed=5)
    whole = evaluate_rank(distmat, *labels, max_rank=10, chunk_size=None)
    chunked = evaluate_rank(torch.from_numpy(distmat), *labels, max_rank=10, chunk_size=chunk_size)
    # Same ranks; only the floating-point summation order of the per-query means may differ.
    assert chunked["mAP"] == pytest.approx(whole["mAP"], rel=1e-12)
    assert chunked["mINP"] == pytest.approx(whole["mINP"], rel=1e-12)
    np.testing.assert_array_equal(chunked["cmc"], whole["cmc"])


def test_features_give_the_cosine_distance_ranking():
    rng = np.random.default_rng(0)
    _, *labels = random_problem(seed=7)
    query, gallery = rng.normal(size=(40, 16)), rng.normal(size=(150, 16))
    expected = evaluate_rank(1 - normalize(query) @ normalize(gallery).T, *labels, max_rank=10)
    for as_type in (np.asarray, torch.as_tensor):
        result = evaluate_features(as_type(query), as_type(gallery), *labels, max_rank=10, chunk_size=13)
        assert result["mAP"] == pytest.approx(expected["mAP"], abs=1e-6)
        np.testing.assert_allclose(result["cmc"], expected["cmc"])


def test_format_metrics_prints_percentages():
    results = {"mAP": 0.75, "cmc": np.array([0.5, 0.6, 0.7, 0.8, 0.9]), "mINP": 0.125, "num_valid_queries": 3}
    assert format_metrics(results).splitlines() == [
        "mAP    |  75.0%",
        "Rank-1 |  50.0%",
        "Rank-5 |  90.0%",
        "mINP   |  12.5%",
        "(3 valid queries)",
    ]
