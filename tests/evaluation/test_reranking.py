"""k-reciprocal re-ranking against a slow set-based implementation of the paper, and a case it fixes."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.preprocessing import normalize

from robustreid.evaluation import evaluate_features, evaluate_rank, re_ranking
from robustreid.evaluation.rerank import re_ranked_rows


def slow_re_ranking(q_g, q_q, g_g, k1, k2, lambda_value):
    """Zhong et al. 2017 written from the definitions, one item at a time with Python sets."""
    dist = np.block([[q_q, q_g], [q_g.T, g_g]]) ** 2
    dist = dist / dist.max(axis=1, keepdims=True)
    order = np.argsort(dist, axis=1, kind="stable")

    def reciprocal(i, k):
        neighbours = set(order[i, : k + 1])
        return {j for j in neighbours if i in set(order[j, : k + 1])}

    n = len(dist)
    encoding = np.zeros((n, n))
    for i in range(n):
        expanded = reciprocal(i, k1)
        for candidate in reciprocal(i, k1):
            half = reciprocal(candidate, int(np.around(k1 / 2)))
            if len(half & reciprocal(i, k1)) > 2 / 3 * len(half):
                expanded |= half
        members = sorted(expanded)
        weights = np.exp(-dist[i, members])
        encoding[i, members] = weights / weights.sum()
    encoding = np.stack([encoding[order[i, :k2]].mean(axis=0) for i in range(n)])
    num_query = len(q_g)
    jaccard = np.array(
        [
            [
                1 - np.minimum(encoding[i], encoding[j]).sum() / np.maximum(encoding[i], encoding[j]).sum()
                for j in range(num_query, n)
            ]
            for i in range(num_query)
        ]
    )
    return (1 - lambda_value) * jaccard + lambda_value * dist[:num_query, num_query:]


def clustered_points(seed, num_query=6, num_gallery=40, num_ids=5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(num_ids, 4))
    q_pids, g_pids = rng.integers(0, num_ids, num_query), rng.integers(0, num_ids, num_gallery)
    return centres[q_pids] + rng.normal(size=(num_query, 4)), centres[g_pids] + rng.normal(
        size=(num_gallery, 4)
    )


@pytest.mark.parametrize(("k1", "k2", "lambda_value"), [(20, 6, 0.3), (5, 3, 0.5), (7, 1, 0.0)])
def test_matches_slow_definition(k1, k2, lambda_value):
    query, gallery = clustered_points(seed=k1)
    q_g, q_q, g_g = cdist(query, gallery), cdist(query, query), cdist(gallery, gallery)
    fast = re_ranking(q_g, q_q, g_g, k1, k2, lambda_value)
    assert fast.shape == (6, 40)
    np.testing.assert_allclose(fast, slow_re_ranking(q_g, q_q, g_g, k1, k2, lambda_value), atol=1e-5)


def test_fewer_items_than_k2_average_the_items_there_are():
    query, gallery = clustered_points(seed=2, num_query=1, num_gallery=3, num_ids=2)
    q_g, q_q, g_g = cdist(query, gallery), cdist(query, query), cdist(gallery, gallery)
    np.testing.assert_allclose(
        re_ranking(q_g, q_q, g_g, k1=20, k2=6), slow_re_ranking(q_g, q_q, g_g, 20, 6, 0.3), atol=1e-5
    )


def test_rows_of_any_query_slice_are_those_of_the_whole_matrix():
    query, gallery = clustered_points(seed=3, num_query=30, num_gallery=60)
    distances = (cdist(query, gallery), cdist(query, query), cdist(gallery, gallery))
    whole = re_ranking(*distances, k1=6, k2=3)
    rows = re_ranked_rows(*distances, k1=6, k2=3)
    np.testing.assert_array_equal(np.concatenate([rows(slice(s, s + 7)) for s in range(0, 30, 7)]), whole)


def test_fixes_a_nearest_neighbour_from_another_identity():
    # The query (id 1) is nearest to b1 (id 2), but b1's own neighbours are the tight id-2 group, while
    # a1 (id 1) lists the query among its neighbours: only a1 is a k-reciprocal neighbour of the query.
    query = np.array([[0.0, 0.0]])
    gallery = np.array(
        [[0.9, 0], [1.1, 0.3], [1.15, -0.3], [-0.8, 0], [-1.2, 0.15], [-1.2, -0.15], [-1.4, 0]]
    )
    g_pids, cams = [1, 1, 1, 2, 2, 2, 2], np.ones(7)
    q_g, q_q, g_g = cdist(query, gallery), cdist(query, query), cdist(gallery, gallery)
    before = evaluate_rank(q_g, [1], g_pids, [0], cams, max_rank=3)
    after = evaluate_rank(re_ranking(q_g, q_q, g_g, k1=3, k2=1), [1], g_pids, [0], cams, max_rank=3)
    assert before["mAP"] == pytest.approx((1 / 2 + 2 / 3 + 3 / 4) / 3)
    assert before["cmc"][0] == 0
    assert after["mAP"] == 1.0


def test_evaluate_features_rerank_uses_cosine_distances():
    query, gallery = clustered_points(seed=1)
    q, g = normalize(query), normalize(gallery)
    labels = ([1, 2, 3, 4, 0, 1], np.arange(40) % 5, np.zeros(6), np.ones(40))
    expected = evaluate_rank(
        re_ranking(1 - q @ g.T, 1 - q @ q.T, 1 - g @ g.T, k1=5, k2=2), *labels, max_rank=5
    )
    for chunk_size in (None, 4):
        result = evaluate_features(
            query, gallery, *labels, max_rank=5, chunk_size=chunk_size, rerank=True, k1=5, k2=2
        )
        assert result["mAP"] == pytest.approx(expected["mAP"], abs=1e-6)


def test_rejects_inconsistent_shapes():
    with pytest.raises(ValueError, match="expected q_q"):
        re_ranking(np.zeros((2, 3)), np.zeros((3, 3)), np.zeros((3, 3)))
