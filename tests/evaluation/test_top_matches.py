"""Top-k ranked lists under the protocol, against a full stable argsort of the filtered rows."""

import numpy as np
import pytest
import torch

from robustreid.evaluation import top_matches


def reference_top_k(distmat, q_pids, g_pids, q_cams, g_cams, k, camera_filter=True):
    """Removed items moved to +inf, then the first k of a stable argsort of every row."""
    removed = (q_pids[:, None] == g_pids[None]) & (q_cams[:, None] == g_cams[None])
    filtered = np.where(removed & camera_filter, np.inf, distmat.astype(np.float32))
    return np.argsort(filtered, axis=1, kind="stable")[:, :k]


def random_problem(seed, num_query=30, num_gallery=120, num_ids=8):
    rng = np.random.default_rng(seed)
    distmat = rng.integers(0, 5, (num_query, num_gallery)).astype(np.float32)  # ties everywhere
    labels = (
        rng.integers(0, num_ids, num_query),
        rng.integers(-1, num_ids, num_gallery),
        rng.integers(0, 3, num_query),
        rng.integers(0, 3, num_gallery),
    )
    return distmat, labels


@pytest.mark.parametrize("k", [1, 7, 40, 120, 500])
@pytest.mark.parametrize("camera_filter", [True, False])
def test_equals_a_stable_sort_of_the_filtered_rows(k, camera_filter):
    distmat, labels = random_problem(seed=k)
    result = top_matches(distmat, *labels, k, camera_filter=camera_filter, chunk_size=7)
    assert result.shape == (30, min(k, 120)) and result.dtype == np.int64
    np.testing.assert_array_equal(result, reference_top_k(distmat, *labels, k, camera_filter))


def test_removed_items_come_last_when_a_row_runs_out():
    # Gallery: two items of the query's identity and camera (removed), one of another camera, one other id.
    ranked = top_matches(np.array([[0.1, 0.2, 0.3, 0.4]]), [1], [1, 1, 1, 2], [0], [0, 0, 1, 1], k=4)
    np.testing.assert_array_equal(ranked, [[2, 3, 0, 1]])


def test_chunking_and_torch_input_do_not_change_the_lists():
    distmat, labels = random_problem(seed=3)
    expected = top_matches(distmat, *labels, 10, chunk_size=None)
    np.testing.assert_array_equal(top_matches(torch.from_numpy(distmat), *labels, 10, chunk_size=4), expected)


def test_rejects_nan_and_empty_lists():
    distmat, labels = random_problem(seed=4)
    distmat[3, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        top_matches(distmat, *labels, 5)
    with pytest.raises(ValueError, match="k must be >= 1"):
        top_matches(distmat, *labels, 0)
